package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
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
		got := receivedCount(t, ss.srv.srv, "")
		return got >= flood, fmt.Sprintf("received %d", got)
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

// TestPrefixLimitClosesSession: a router that sends more routes than the
// session's MaxPrefixes gets the session closed with Cease (administrative
// reset, "maximum number of prefixes reached"); the speaker's "BGP session
// lost" line says so with the count, and
// what GoBGP held from that router is dropped with the session. A second
// session, to a router within its limit, stays up throughout.
func TestPrefixLimitClosesSession(t *testing.T) {
	const limit, sent = 100, 150
	log, logs := newTestLogger(t)
	over := newRouter(t, routerV4, basePort+51)
	over.addNeighbor(t, "127.0.0.51", neighborOpts{})
	for i := range sent {
		over.originate(t, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)}), 32))
	}
	within := newRouter(t, routerV4, basePort+52)
	within.addNeighbor(t, "127.0.0.52", neighborOpts{})
	within.originate(t, netip.MustParsePrefix("100.66.0.1/32"))

	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	own := []Path{{Prefix: netip.MustParsePrefix("198.51.100.51/32")}}
	overCfg := testPeer("over", routerV4, basePort+51, "127.0.0.51", speakerASN)
	overCfg.MaxPrefixes = limit
	withinCfg := testPeer("within", routerV4, basePort+52, "127.0.0.52", speakerASN)
	withinCfg.MaxPrefixes = limit
	desired := map[string]PeerDesired{"over": {Config: overCfg, Paths: own}, "within": {Config: withinCfg, Paths: own}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatal(err)
	}
	within.waitEstablished(t, "127.0.0.52")
	waitFor(t, 60*time.Second, "the over-limit session to be closed for its prefixes", func() (bool, string) {
		for _, l := range logs.find("BGP session lost", "peer", "over") {
			if r := fmt.Sprint(l["reason"]); strings.Contains(strings.ToLower(r), "prefix") {
				return true, r
			}
		}
		return false, logs.messages()
	})
	// The router saw the session up first; the speaker's own view follows.
	waitFor(t, 30*time.Second, "the speaker to see the session within its limit up", func() (bool, string) {
		st := s.Status()
		for _, p := range st {
			if p.Name == "within" && p.Up {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st)
	})
	if n := len(logs.find("BGP session lost", "peer", "within")); n != 0 {
		t.Errorf("the session within its limit was lost %d times", n)
	}
	// The router may have connected again meanwhile and be sending anew;
	// what it is held to is the limit.
	if received := receivedCount(t, s.session("over").srv.srv, ""); received > limit {
		t.Errorf("GoBGP holds %d routes from the over-limit router, more than its limit %d", received, limit)
	}
	l := logs.find("BGP session lost", "peer", "over")[0]
	t.Logf("over the limit: %v", l["reason"])
}
