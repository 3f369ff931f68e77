package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"
)

// TestRouteFloodIsRejected: a router that sends the node 100,000 routes
// gets none of them into the node's RIB (the import policy rejects
// everything), the session stays up, and what the node announces is
// unchanged. The node's heap growth is printed, not asserted: GoBGP keeps
// what it received in its Adj-RIB-In before the import policy runs
// (measured here: about 22 MB for 100,000 routes), which is why the
// README tells operators to send nodes no routes at all.
func TestRouteFloodIsRejected(t *testing.T) {
	const flood = 100_000
	log, _ := newTestLogger(t)
	r := newRouter(t, routerV4, basePort+50)
	r.addNeighbor(t, "127.0.0.50", neighborOpts{})
	// The router's own copy of the flood is made first and counted out.
	for i := range flood {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}), 32)
		r.originate(t, p)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	own := netip.MustParsePrefix("198.51.100.50/32")
	desired := map[string]PeerDesired{"flood": {Config: testPeer("flood", routerV4, basePort+50, "127.0.0.50", speakerASN), Paths: []Path{{Prefix: own}}}}
	start := time.Now()
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatal(err)
	}
	r.waitEstablished(t, "127.0.0.50")
	ss := s.session("flood")
	waitFor(t, 120*time.Second, "the node to receive the flood", func() (bool, string) {
		var got uint64
		err := ss.srv.srv.ListPeer(context.Background(), &gobgpapi.ListPeerRequest{}, func(p *gobgpapi.Peer) {
			for _, af := range p.AfiSafis {
				if af.State != nil {
					got += af.State.Received
				}
			}
		})
		return err == nil && got >= flood, fmt.Sprintf("received %d, %v", got, err)
	})
	received := time.Since(start)

	var global int
	err := ss.srv.srv.ListPath(context.Background(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_GLOBAL,
		Family: &gobgpapi.Family{Afi: gobgpapi.Family_AFI_IP, Safi: gobgpapi.Family_SAFI_UNICAST}}, func(*gobgpapi.Destination) { global++ })
	if err != nil {
		t.Fatal(err)
	}
	if global != 1 {
		t.Errorf("the node's RIB holds %d prefixes, want only its own", global)
	}
	if got := r.received(t, "127.0.0.50"); len(got) != 1 {
		t.Errorf("the router holds %d prefixes from the node, want 1: %v", len(got), got)
	}
	if st := s.Status(); len(st) != 1 || !st[0].Up || st[0].Announced != 1 {
		t.Errorf("status after the flood: %+v", st)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d routes received from the router in %v: the node's RIB holds %d prefix (its own); the node's heap grew by %.1f MB (GoBGP keeps the received routes in its Adj-RIB-In)",
		flood, received.Round(time.Millisecond), global, (float64(after.HeapInuse)-float64(before.HeapInuse))/1e6)
}
