package allocator

import (
	"net/netip"
	"runtime"
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
// is the whole fill. It reports the cost per assignment while the pool holds
// about 1,000 and about 60,000 addresses: with a free-space index they are
// the same, where a scan from the first address would be 60 times slower.
func BenchmarkFill16(b *testing.B) {
	const size = 1<<16 - 2
	owners := benchOwners(size)
	pools := benchPool(b, "198.18.0.0/16")
	pool := []string{"bench"}
	var early, late time.Duration
	fills := 0
	for b.Loop() {
		a := New()
		a.SetPools(pools)
		for i := range size {
			var t0 time.Time
			if i == 1000 || i == 60000 {
				t0 = time.Now()
			}
			for j := i; j < i+1000 && (i == 1000 || i == 60000); j++ {
				if _, err := a.Assign(Request{Owner: owners[j], Family: IPv4, Pools: pool}); err != nil {
					b.Fatal(err)
				}
			}
			switch i {
			case 1000:
				early += time.Since(t0)
			case 60000:
				late += time.Since(t0)
			}
			if i >= 1000 && i < 2000 || i >= 60000 && i < 61000 {
				continue // assigned in the timed window above
			}
			if _, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: pool}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Assign(Request{Owner: "one-too-many", Family: IPv4, Pools: pool}); err == nil {
			b.Fatal("a full /16 granted another address")
		}
		fills++
	}
	at1k := float64(early.Nanoseconds()) / float64(fills*1000)
	at60k := float64(late.Nanoseconds()) / float64(fills*1000)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(fills*size), "ns/assign")
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
	addrs := make([]netip.Addr, held)
	for i := range held {
		res, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: pool})
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = res.Address
	}
	x := uint64(88172645463325252)
	for b.Loop() {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		i := int(x % held)
		a.Release(owners[i], addrs[i])
		res, err := a.Assign(Request{Owner: owners[i], Family: IPv4, Pools: pool})
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = res.Address
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
