package bgp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// benchPaths returns n IPv6 host routes from 2001:db8:<block>::/48 with a community each. IPv6
// because the IPv4 ranges tests may use hold only 512 host addresses.
func benchPaths(n int, block uint16) []Path {
	paths := make([]Path, n)
	base := netip.MustParseAddr("2001:db8::").As16()
	base[4], base[5] = byte(block>>8), byte(block)
	for i := range paths {
		a := base
		a[13], a[14], a[15] = byte(i>>16), byte(i>>8), byte(i)
		paths[i] = Path{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 128), Communities: []uint32{comm100}}
	}
	return paths
}

// BenchmarkAnnounce10k reconciles 10,000 prefixes onto an established session and reports the time
// until the router holds all of them (s/10k-at-router) and the time Reconcile itself took
// (s/reconcile). Each iteration withdraws them again, untimed.
func BenchmarkAnnounce10k(b *testing.B) {
	const n = 10_000
	r := newRouter(b, routerV6, basePort+20)
	r.addNeighbor(b, "::1", neighborOpts{})
	s := New(Options{Logger: logr.Discard()})
	b.Cleanup(func() { _ = s.Shutdown(b.Context(), 0) })
	cfg := testPeer("bench", routerV6, basePort+20, "::1", speakerASN)
	if err := s.Reconcile(b.Context(), map[string]PeerDesired{"bench": {Config: cfg}}); err != nil {
		b.Fatal(err)
	}
	r.waitEstablished(b, "::1")
	paths := benchPaths(n, 1)

	var atRouter, reconcile time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := s.Reconcile(b.Context(), map[string]PeerDesired{"bench": {Config: cfg, Paths: paths}}); err != nil {
			b.Fatal(err)
		}
		reconcile += time.Since(start)
		for r.receivedCount(b, "::1") < n {
			time.Sleep(5 * time.Millisecond)
		}
		atRouter += time.Since(start)

		b.StopTimer()
		if err := s.Reconcile(b.Context(), map[string]PeerDesired{"bench": {Config: cfg}}); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "the router to drop the paths", func() (bool, string) {
			c := r.receivedCount(b, "::1")
			return c == 0, fmt.Sprint(c, " paths")
		})
		b.StartTimer()
	}
	b.ReportMetric(atRouter.Seconds()/float64(b.N), "s/10k-at-router")
	b.ReportMetric(reconcile.Seconds()/float64(b.N), "s/reconcile")
	if st := r.peerStateNow(b, "::1"); st != StateEstablished {
		b.Fatalf("session %s after the benchmark", st)
	}
}

// BenchmarkReconcileNoChange measures the diff alone: 10,000 paths on each of 3 peers, reconciled
// again unchanged. Nothing reaches GoBGP, so the sessions need not be up (nothing listens on their
// ports).
func BenchmarkReconcileNoChange(b *testing.B) {
	s := New(Options{Logger: logr.Discard()})
	b.Cleanup(func() { _ = s.Shutdown(b.Context(), 0) })
	desired := map[string]PeerDesired{}
	for i := range 3 {
		name := fmt.Sprintf("peer%d", i)
		desired[name] = PeerDesired{
			Config: testPeer(name, routerV6, uint16(basePort+21+i), "::1", speakerASN),
			Paths:  benchPaths(10_000, uint16(i)),
		}
	}
	if err := s.Reconcile(b.Context(), desired); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Reconcile(b.Context(), desired); err != nil {
			b.Fatal(err)
		}
	}
}
