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

// BenchmarkReceiveFlood measures what routes a router sends cost the node, which imports none of
// them: the time until GoBGP holds 20,000 routes in the session's Adj-RIB-In (s/20k-received),
// packed (the routes share their attributes, so an UPDATE carries hundreds) or one per UPDATE (a
// community each, as a full table's differing AS paths make it), with no limit and with the
// default maxReceivedPrefixes. GoBGP's own prefix limit would count the whole Adj-RIB-In after every
// UPDATE, making routes sent one per UPDATE cost time quadratic in their number; the session counts
// 5 times a second instead (enforcePrefixLimit), so the limit should cost nothing here.
func BenchmarkReceiveFlood(b *testing.B) {
	const flood = 20_000
	const defaultLimit = 100_000 // config.DefaultMaxReceivedPrefixes
	for i, c := range []struct {
		name         string
		onePerUpdate bool
		limit        uint32
	}{
		{"packed/no-limit", false, 0},
		{"packed/limit-100000", false, defaultLimit},
		{"one-per-update/no-limit", true, 0},
		{"one-per-update/limit-100000", true, defaultLimit},
	} {
		b.Run(c.name, func(b *testing.B) {
			port, source := basePort+70+uint16(i), fmt.Sprintf("127.0.0.%d", 70+i)
			r := newRouter(b, routerV4, port)
			r.addNeighbor(b, source, neighborOpts{})
			for j := range flood {
				p := Path{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(j>>16), byte(j >> 8), byte(j)}), 32)}
				if c.onePerUpdate {
					p.Communities = []uint32{uint32(j)}
				}
				r.originatePath(b, p)
			}
			var received time.Duration
			for range b.N {
				s := New(Options{Logger: logr.Discard()})
				cfg := testPeer("flood", routerV4, port, source, speakerASN)
				cfg.MaxPrefixes = c.limit
				start := time.Now()
				if err := s.Reconcile(b.Context(), map[string]PeerDesired{"flood": {Config: cfg}}); err != nil {
					b.Fatal(err)
				}
				ss := s.session("flood")
				waitFor(b, 5*time.Minute, "the node to receive the flood", func() (bool, string) {
					got := receivedCount(b, ss.srv.srv, "")
					return got >= flood, fmt.Sprintf("received %d", got)
				})
				received += time.Since(start)
				b.StopTimer()
				if err := s.Shutdown(b.Context(), 0); err != nil {
					b.Fatal(err)
				}
				waitFor(b, time.Minute, "the router to see the session end", func() (bool, string) {
					st := r.peerStateNow(b, source)
					return st != StateEstablished, string(st)
				})
				b.StartTimer()
			}
			b.ReportMetric(received.Seconds()/float64(b.N), "s/20k-received")
		})
	}
}
