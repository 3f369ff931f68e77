package allocator

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBTreeAgainstSortedSlice drives random inserts and deletes and checks
// every query against a sorted slice.
func TestBTreeAgainstSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tr btree[uint64]
	var model []uint64
	for step := range 60000 {
		k := rng.Uint64N(10000)
		i, present := slices.BinarySearch(model, k)
		switch rng.IntN(3) {
		case 0, 1:
			if got := tr.insert(u128{0, k}, k*2); got == present {
				t.Fatalf("step %d: insert(%d) = %v with present=%v", step, k, got, present)
			}
			if !present {
				model = slices.Insert(model, i, k)
			}
		case 2:
			if got := tr.delete(u128{0, k}); got != present {
				t.Fatalf("step %d: delete(%d) = %v with present=%v", step, k, got, present)
			}
			if present {
				model = slices.Delete(model, i, i+1)
			}
		}
		if tr.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, tr.len(), len(model))
		}
		if step%97 == 0 {
			var got []uint64
			tr.ascend(u128{}, func(e entry[uint64]) bool { got = append(got, e.key.lo); return true })
			if !slices.Equal(got, model) {
				t.Fatalf("step %d: items %v, want %v", step, got, model)
			}
		}
		q := rng.Uint64N(10100)
		j, found := slices.BinarySearch(model, q)
		if it, ok := tr.get(u128{0, q}); ok != found || (ok && it != q*2) {
			t.Fatalf("step %d: get(%d) = %v, %v", step, q, it, ok)
		}
		wantFloor, wantCeil := -1, -1
		if found {
			wantFloor, wantCeil = int(q), int(q)
		} else {
			if j > 0 {
				wantFloor = int(model[j-1])
			}
			if j < len(model) {
				wantCeil = int(model[j])
			}
		}
		if got := itemKey(tr.floor(u128{0, q})); got != wantFloor {
			t.Fatalf("step %d: floor(%d) = %d, want %d", step, q, got, wantFloor)
		}
		if got := itemKey(tr.ceil(u128{0, q})); got != wantCeil {
			t.Fatalf("step %d: ceil(%d) = %d, want %d", step, q, got, wantCeil)
		}
		var from []uint64
		tr.ascend(u128{0, q}, func(e entry[uint64]) bool { from = append(from, e.key.lo); return len(from) < 5 })
		if want := model[j:min(j+5, len(model))]; !slices.Equal(from, want) {
			t.Fatalf("step %d: ascend(%d) = %v, want %v", step, q, from, want)
		}
		if m := tr.min(); itemKey(m) != firstOr(model) {
			t.Fatalf("step %d: min = %d", step, itemKey(m))
		}
	}
	for len(model) > 0 {
		got, ok := tr.remove(u128{}, removeMax)
		if !ok || got.key.lo != model[len(model)-1] || got.val != got.key.lo*2 {
			t.Fatalf("removeMax = %v, %v, want %d", got, ok, model[len(model)-1])
		}
		model = model[:len(model)-1]
	}
	if _, ok := tr.remove(u128{}, removeMin); ok || tr.len() != 0 {
		t.Fatal("removeMin on an empty tree succeeded")
	}
}

func itemKey(p *entry[uint64]) int {
	if p == nil {
		return -1
	}
	return int(p.key.lo)
}

func firstOr(s []uint64) int {
	if len(s) == 0 {
		return -1
	}
	return int(s[0])
}

// TestFreeIndexAgainstBitmap checks take, takeMin and put against a bitmap
// of a small pool, and that spans stay disjoint and non-adjacent.
func TestFreeIndexAgainstBitmap(t *testing.T) {
	const size = 512
	base := u128{0x20010db8, 0xffff_ffff_ffff_ff00} // crosses the 64-bit boundary
	at := func(i int) u128 {
		k := base
		for range i {
			k = k.next()
		}
		return k
	}
	var f freeIndex
	f.insert(at(0), at(size-1))
	free := make([]bool, size)
	for i := range free {
		free[i] = true
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for step := range 20000 {
		i := rng.IntN(size)
		switch rng.IntN(3) {
		case 0:
			if got := f.take(at(i)); got != free[i] {
				t.Fatalf("step %d: take(%d) = %v, want %v", step, i, got, free[i])
			}
			free[i] = false
		case 1:
			if got := f.put(at(i)); got == free[i] {
				t.Fatalf("step %d: put(%d) = %v with free=%v", step, i, got, free[i])
			}
			free[i] = true
		case 2:
			want := slices.Index(free, true)
			k, ok := f.takeMin()
			if ok != (want >= 0) || (ok && k != at(want)) {
				t.Fatalf("step %d: takeMin = %v, %v, want %d", step, k, ok, want)
			}
			if ok {
				free[want] = false
			}
		}
		var prev *span
		var count uint64
		f.ascend(u128{}, func(e entry[u128]) bool {
			s := span{e.key, e.val}
			if s.last.less(s.first) || (prev != nil && !prev.last.next().less(s.first)) {
				t.Fatalf("step %d: bad spans %v after %v", step, s, prev)
			}
			prev = &s
			count += s.size()
			return true
		})
		want := uint64(0)
		for _, b := range free {
			if b {
				want++
			}
		}
		if count != want || f.freeCount() != want {
			t.Fatalf("step %d: %d free, want %d", step, count, want)
		}
	}
}

// TestFreeIndexAtTheEdges takes and returns the very first and last IPv6
// addresses, where next and prev would wrap.
func TestFreeIndexAtTheEdges(t *testing.T) {
	var f freeIndex
	f.insert(u128{}, maxU128)
	if !f.take(maxU128) || !f.take(u128{}) || f.take(maxU128) {
		t.Fatal("taking the edges failed")
	}
	if f.freeCount() != ^uint64(0) {
		t.Fatalf("freeCount = %d", f.freeCount())
	}
	if !f.put(maxU128) || !f.put(u128{}) || f.put(u128{}) {
		t.Fatal("returning the edges failed")
	}
	if f.len() != 1 || *f.min() != (entry[u128]{u128{}, maxU128}) {
		t.Fatalf("not merged back into one span: %d spans", f.len())
	}
}

// checkTree verifies the B-tree invariants: keys strictly increasing in
// order, every node but the root holding 1..maxItems items, every
// internal node one child more than items, all leaves at one depth.
func checkTree[V any](t *testing.T, tr *btree[V]) {
	t.Helper()
	if tr.root == nil {
		return
	}
	leafDepth := -1
	var last *u128
	count := 0
	var walk func(n *bnode[V], depth int)
	walk = func(n *bnode[V], depth int) {
		if n != tr.root && (len(n.items) < 1 || len(n.items) > maxItems) {
			t.Fatalf("node with %d items", len(n.items))
		}
		if !n.leaf() && len(n.children) != len(n.items)+1 {
			t.Fatalf("node with %d items and %d children", len(n.items), len(n.children))
		}
		if n.leaf() {
			if leafDepth == -1 {
				leafDepth = depth
			} else if leafDepth != depth {
				t.Fatalf("leaves at depths %d and %d", leafDepth, depth)
			}
		}
		for i, it := range n.items {
			if !n.leaf() {
				walk(n.children[i], depth+1)
			}
			k := it.key
			if last != nil && !last.less(k) {
				t.Fatalf("keys out of order: %v then %v", *last, k)
			}
			last = &k
			count++
		}
		if !n.leaf() {
			walk(n.children[len(n.items)], depth+1)
		}
	}
	walk(tr.root, 0)
	if count != tr.len() {
		t.Fatalf("walked %d items, len is %d", count, tr.len())
	}
}

func TestBTreeStaysBalanced(t *testing.T) {
	var tr btree[uint64]
	if tr.delete(u128{}) || tr.min() != nil || tr.floor(u128{}) != nil {
		t.Fatal("an empty tree is not empty")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 4 {
		for i := range uint64(5000) {
			tr.insert(u128{0, i*7919%5000 + uint64(round)}, i)
		}
		checkTree(t, &tr)
		for range 4000 {
			tr.delete(u128{0, rng.Uint64N(5004)})
		}
		checkTree(t, &tr)
	}
	for i := range uint64(6000) {
		tr.delete(u128{0, i})
	}
	checkTree(t, &tr)
	if tr.len() != 0 || tr.min() != nil {
		t.Fatalf("%d items left", tr.len())
	}
}
