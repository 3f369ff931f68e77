package allocator

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestHashTableAgainstMap drives random sets and deletes, with keys that
// share low bits to stress splitting, and compares with a Go map.
func TestHashTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var tab hashTable
	model := map[uint64]*grant{}
	vals := []*grant{{}, {}, {}}
	keys := make([]uint64, 5000)
	for i := range keys {
		keys[i] = rng.Uint64()
		if i%10 == 0 {
			keys[i] &= 0xff // many keys in few buckets
		}
	}
	for step := range 100_000 {
		k := keys[rng.IntN(len(keys))]
		if rng.IntN(3) == 0 {
			tab.del(k)
			delete(model, k)
		} else {
			v := vals[rng.IntN(len(vals))]
			tab.set(k, v)
			model[k] = v
		}
		q := keys[rng.IntN(len(keys))]
		if got, want := tab.get(q), model[q]; got != want {
			t.Fatalf("step %d: get(%x) = %p, want %p", step, q, got, want)
		}
		if tab.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(model))
		}
	}
	for k, v := range model {
		if tab.get(k) != v {
			t.Fatalf("get(%x) lost", k)
		}
	}
	if buckets := 1<<tab.level + tab.split; tab.len() > hashLoad*buckets {
		t.Fatalf("%d entries in %d buckets", tab.len(), buckets)
	}
}

func TestHashBucketIsOneCacheLine(t *testing.T) {
	if size := unsafe.Sizeof(hashBucket{}); size != 64 {
		t.Errorf("hashBucket is %d bytes, want 64", size)
	}
	if size := unsafe.Sizeof([hashSegSize]hashBucket{}); size%4096 != 0 {
		t.Errorf("a segment is %d bytes, not whole pages", size)
	}
}
