package allocator

import (
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

func benchOwners(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "ns/svc-" + strconv.Itoa(i)
	}
	return out
}

func benchPool(b *testing.B, cidr string) []Pool {
	p, err := NewPool("bench", []string{cidr}, false)
	if err != nil {
		b.Fatal(err)
	}
	return []Pool{p}
}

// BenchmarkFill16 fills a whole /16 (65,534 assignments) one by one. One op
// is the whole fill. It also times the 1,000 assignments made when the pool
// holds 1,000 addresses and those made when it holds 60,000, and reports the
// cost per assignment of each: the best over the fills, since other work on
// a shared machine only ever adds time. With a free-space index they differ
// by the cache misses of a larger working set; a scan from the first address
// would make the second 60 times the first.
func BenchmarkFill16(b *testing.B) {
	const size = 1<<16 - 2
	owners := benchOwners(size)
	pools := benchPool(b, "198.18.0.0/16")
	pool := []string{"bench"}
	assign := func(a *Allocator, from, to int) {
		for i := from; i < to; i++ {
			if _, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: pool}); err != nil {
				b.Fatal(err)
			}
		}
	}
	var early, late []float64
	for b.Loop() {
		a := New()
		a.SetPools(pools)
		assign(a, 0, 1000)
		t0 := time.Now()
		assign(a, 1000, 2000)
		early = append(early, float64(time.Since(t0).Nanoseconds())/1000)
		assign(a, 2000, 60000)
		t0 = time.Now()
		assign(a, 60000, 61000)
		late = append(late, float64(time.Since(t0).Nanoseconds())/1000)
		assign(a, 61000, size)
		if _, err := a.Assign(Request{Owner: "one-too-many", Family: IPv4, Pools: pool}); !errors.Is(err, ErrExhausted) {
			b.Fatalf("a full /16 answered %v", err)
		}
	}
	at1k, at60k := slices.Min(early), slices.Min(late)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(early)*size), "ns/assign")
	b.ReportMetric(at1k, "ns/assign@1k")
	b.ReportMetric(at60k, "ns/assign@60k")
	b.ReportMetric(at60k/at1k, "ratio@60k/1k")
}

// BenchmarkFill64 makes 100,000 assignments in a /64. One op is the whole
// run; B/assign is the memory allocated per assignment (grant, owner entry,
// index), which does not depend on the size of the pool.
func BenchmarkFill64(b *testing.B) {
	const n = 100_000
	owners := benchOwners(n)
	pools := benchPool(b, "2001:db8::/64")
	pool := []string{"bench"}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fills := 0
	for b.Loop() {
		a := New()
		a.SetPools(pools)
		for i := range n {
			if _, err := a.Assign(Request{Owner: owners[i], Family: IPv6, Pools: pool}); err != nil {
				b.Fatal(err)
			}
		}
		fills++
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fills*n), "ns/assign")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(fills*n), "B/assign")
}

// BenchmarkChurn90 releases a pseudo-random owner's address in a 90%-full
// /16 and assigns it an address again (the hole it left, being the lowest
// free). One op is one release plus one assignment.
func BenchmarkChurn90(b *testing.B) {
	const size = 1<<16 - 2
	const held = size * 9 / 10
	owners := benchOwners(held)
	a := New()
	a.SetPools(benchPool(b, "198.18.0.0/16"))
	pool := []string{"bench"}
	// Owner i holds 198.18.0.0 + i + 1, and gets it back after releasing it,
	// as it is the lowest free address then.
	addr := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{198, 18, byte((i + 1) >> 8), byte(i + 1)})
	}
	for i := range held {
		res, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: pool})
		if err != nil || res.Address != addr(i) {
			b.Fatal(res, err)
		}
	}
	x := uint64(88172645463325252)
	for b.Loop() {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		i := int(x % held)
		a.Release(owners[i], addr(i))
		res, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: pool})
		if err != nil || res.Address != addr(i) {
			b.Fatal(res, err)
		}
	}
	if s := a.Stats("bench", IPv4); s.Allocated != held {
		b.Fatalf("allocated %d, want %d", s.Allocated, held)
	}
}

// BenchmarkSetPools re-indexes 60,000 grants in a /16 after a pool edit.
func BenchmarkSetPools(b *testing.B) {
	const n = 60_000
	owners := benchOwners(n)
	a := New()
	a.SetPools(benchPool(b, "198.18.0.0/16"))
	for i := range n {
		if _, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: []string{"bench"}}); err != nil {
			b.Fatal(err)
		}
	}
	edits := [][]Pool{benchPool(b, "198.18.0.0/15"), benchPool(b, "198.18.0.0/16")}
	i := 0
	for b.Loop() {
		a.SetPools(edits[i%2])
		i++
	}
}

// BenchmarkIndexLookup looks up random keys among 60,000 in the B-tree that
// holds grants: the step every Release and every requested address pays.
func BenchmarkIndexLookup(b *testing.B) {
	const n = 60_000
	var tr btree[*grant]
	g := &grant{}
	for i := range uint64(n) {
		tr.insert(u128{0, 0xffff_0000_0000 + i}, g)
	}
	x := uint64(88172645463325252)
	for b.Loop() {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if _, ok := tr.get(u128{0, 0xffff_0000_0000 + x%n}); !ok {
			b.Fatal("missing key")
		}
	}
}
