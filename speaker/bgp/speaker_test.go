package bgp

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	noExport = 0xFFFF_FF01 // 65535:65281
	comm100  = 65000<<16 | 100
)

// cmpNetip lets cmp compare netip values, which have unexported fields.
var cmpNetip = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

var (
	lbAddr   = netip.MustParsePrefix("198.51.100.10/32")
	lbRange  = netip.MustParsePrefix("203.0.113.0/24")
	lbAddrV6 = netip.MustParsePrefix("2001:db8::10/128")
	large1   = LargeCommunity{Global: 64512, Local1: 1, Local2: 2}
)

// TestAnnounceAndWithdraw checks what the router receives over eBGP and iBGP, IPv4 and IPv6: prefixes,
// next hop (the session's local address), communities, large communities, local preference (iBGP
// only), MP-BGP for IPv6; then that withdrawals and attribute changes arrive, and that nothing the
// router sends is learned.
func TestAnnounceAndWithdraw(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	r4 := newRouter(t, routerV4, basePort+1)
	r4.addNeighbor(t, "127.0.0.11", neighborOpts{})
	r4.addNeighbor(t, "127.0.0.12", neighborOpts{asn: routerASN})
	r6e := newRouter(t, routerV6, basePort+2)
	r6e.addNeighbor(t, "::1", neighborOpts{})
	r6i := newRouter(t, routerV6, basePort+3)
	r6i.addNeighbor(t, "::1", neighborOpts{asn: routerASN})
	// Routes the router sends must never reach the speaker's RIB.
	r4.originate(t, netip.MustParsePrefix("203.0.113.200/32"))

	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	paths := []Path{
		{Prefix: lbAddr, Communities: []uint32{noExport, comm100, comm100}, LargeCommunities: []LargeCommunity{large1}, LocalPref: 200},
		{Prefix: netip.MustParsePrefix("203.0.113.7/24")}, // host bits are ignored
		{Prefix: lbAddrV6, Communities: []uint32{comm100}, LargeCommunities: []LargeCommunity{large1}, LocalPref: 300},
	}
	desired := map[string]PeerDesired{
		"ebgp4": {Config: testPeer("ebgp4", routerV4, basePort+1, "127.0.0.11", speakerASN), Paths: paths},
		"ibgp4": {Config: testPeer("", routerV4, basePort+1, "127.0.0.12", routerASN), Paths: paths},
		"ebgp6": {Config: testPeer("ebgp6", routerV6, basePort+2, "::1", speakerASN), Paths: paths},
		"ibgp6": {Config: testPeer("ibgp6", routerV6, basePort+3, "::1", routerASN), Paths: paths},
	}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}

	nh4e, nh4i, nh6 := netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("127.0.0.12"), netip.MustParseAddr("::1")
	sortedComms := []uint32{comm100, noExport}
	want := map[string]struct {
		r    *router
		nbr  string
		want map[netip.Prefix]rxPath
	}{
		"ebgp4": {r4, "127.0.0.11", map[netip.Prefix]rxPath{
			lbAddr:  {Prefix: lbAddr, NextHop: nh4e, Communities: sortedComms, LargeCommunities: []LargeCommunity{large1}, ASPath: []uint32{64513}},
			lbRange: {Prefix: lbRange, NextHop: nh4e, ASPath: []uint32{64513}},
		}},
		"ibgp4": {r4, "127.0.0.12", map[netip.Prefix]rxPath{
			lbAddr: {Prefix: lbAddr, NextHop: nh4i, Communities: sortedComms, LargeCommunities: []LargeCommunity{large1}, LocalPref: 200},
			// Every iBGP UPDATE carries LOCAL_PREF; unset means GoBGP's default 100.
			lbRange: {Prefix: lbRange, NextHop: nh4i, LocalPref: 100},
		}},
		"ebgp6": {r6e, "::1", map[netip.Prefix]rxPath{
			lbAddrV6: {Prefix: lbAddrV6, NextHop: nh6, MPReach: true, Communities: []uint32{comm100}, LargeCommunities: []LargeCommunity{large1}, ASPath: []uint32{64513}},
		}},
		"ibgp6": {r6i, "::1", map[netip.Prefix]rxPath{
			lbAddrV6: {Prefix: lbAddrV6, NextHop: nh6, MPReach: true, Communities: []uint32{comm100}, LargeCommunities: []LargeCommunity{large1}, LocalPref: 300},
		}},
	}
	for name, w := range want {
		waitFor(t, 30*time.Second, name+" paths at the router", func() (bool, string) {
			diff := cmp.Diff(w.want, w.r.received(t, w.nbr), cmpNetip)
			return diff == "", diff
		})
	}

	st := s.Status()
	gotStatus := map[string][2]any{}
	for _, p := range st {
		gotStatus[p.Name] = [2]any{p.Up, p.Announced}
	}
	if diff := cmp.Diff(map[string][2]any{"ebgp4": {true, 2}, "ibgp4": {true, 2}, "ebgp6": {true, 1}, "ibgp6": {true, 1}}, gotStatus, cmpNetip); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
	metrics := `
# HELP seamark_bgp_announced_prefixes Number of prefixes the speaker announces to the peer.
# TYPE seamark_bgp_announced_prefixes gauge
seamark_bgp_announced_prefixes{peer="ebgp4"} 2
seamark_bgp_announced_prefixes{peer="ebgp6"} 1
seamark_bgp_announced_prefixes{peer="ibgp4"} 2
seamark_bgp_announced_prefixes{peer="ibgp6"} 1
# HELP seamark_bgp_session_state State of the BGP session with the peer, numbered as in RFC 4271: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established (0 unknown).
# TYPE seamark_bgp_session_state gauge
seamark_bgp_session_state{peer="ebgp4"} 6
seamark_bgp_session_state{peer="ebgp6"} 6
seamark_bgp_session_state{peer="ibgp4"} 6
seamark_bgp_session_state{peer="ibgp6"} 6
# HELP seamark_bgp_session_up Whether the BGP session with the peer is established (1) or not (0).
# TYPE seamark_bgp_session_up gauge
seamark_bgp_session_up{peer="ebgp4"} 1
seamark_bgp_session_up{peer="ebgp6"} 1
seamark_bgp_session_up{peer="ibgp4"} 1
seamark_bgp_session_up{peer="ibgp6"} 1
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(metrics)); err != nil {
		t.Errorf("metrics: %v", err)
	}

	// The router's route reached the speaker's adj-RIB-in but, rejected by the import policy, not
	// its RIB.
	ss := s.session("ebgp4")
	waitFor(t, 10*time.Second, "the router's route in the speaker's adj-RIB-in", func() (bool, string) {
		n := 0
		_ = ss.srv.srv.ListPath(t.Context(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_ADJ_IN,
			Name: "127.0.0.2", Family: familyIPv4.api()}, func(*gobgpapi.Destination) { n++ })
		return n == 1, fmt.Sprintf("%d paths", n)
	})
	var inRIB []string
	_ = ss.srv.srv.ListPath(t.Context(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_GLOBAL,
		Family: familyIPv4.api()}, func(d *gobgpapi.Destination) { inRIB = append(inRIB, d.Prefix) })
	if diff := cmp.Diff([]string{"198.51.100.10/32", "203.0.113.0/24"}, slices.Sorted(slices.Values(inRIB)), cmpNetip); diff != "" {
		t.Errorf("speaker RIB holds more than its own paths (-want +got):\n%s", diff)
	}

	// Withdraw one prefix and change the attributes of another, on every peer.
	paths = []Path{{Prefix: lbAddr, Communities: []uint32{comm100}}, {Prefix: lbAddrV6}}
	for name, d := range desired {
		d.Paths = paths
		desired[name] = d
	}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	want2 := map[string]map[netip.Prefix]rxPath{
		"ebgp4": {lbAddr: {Prefix: lbAddr, NextHop: nh4e, Communities: []uint32{comm100}, ASPath: []uint32{64513}}},
		"ibgp4": {lbAddr: {Prefix: lbAddr, NextHop: nh4i, Communities: []uint32{comm100}, LocalPref: 100}},
		"ebgp6": {lbAddrV6: {Prefix: lbAddrV6, NextHop: nh6, MPReach: true, ASPath: []uint32{64513}}},
		"ibgp6": {lbAddrV6: {Prefix: lbAddrV6, NextHop: nh6, MPReach: true, LocalPref: 100}},
	}
	for name, w := range want {
		waitFor(t, 30*time.Second, name+" paths at the router after the change", func() (bool, string) {
			diff := cmp.Diff(want2[name], w.r.received(t, w.nbr), cmpNetip)
			return diff == "", diff
		})
	}
}

// TestMD5 checks that a TCP-MD5 mismatch keeps the session down with an actionable log line, and that
// the right password brings it up.
func TestMD5(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	log, logs := newTestLogger(t)
	r := newRouter(t, routerV4, basePort+4)
	r.addNeighbor(t, "127.0.0.13", neighborOpts{password: "right-secret"})

	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	cfg := testPeer("md5", routerV4, basePort+4, "127.0.0.13", speakerASN)
	cfg.Password = "wrong-secret"
	desired := map[string]PeerDesired{"md5": {Config: cfg, Paths: []Path{{Prefix: lbAddr}}}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}

	waitFor(t, 30*time.Second, `the "BGP session not established" log line`, func() (bool, string) {
		return len(logs.find("BGP session not established", "peer", "md5", "address", "127.0.0.2", "hint", notEstablishedHint)) > 0, logs.messages()
	})
	line := logs.find("BGP session not established", "peer", "md5")[0]
	if got := fmt.Sprint(line["lastError"]); !strings.Contains(got, "failed to connect") {
		t.Errorf("lastError = %q, want the failed connection attempt", got)
	}
	if st, _, _ := r.peer(t, "127.0.0.13"); st == StateEstablished {
		t.Fatalf("session established at the router despite the wrong password")
	}
	if st := s.Status()[0]; st.Up || !strings.Contains(st.LastError, "failed to connect") {
		t.Errorf("Status = %+v, want down with the connect error", st)
	}

	cfg.Password = "right-secret"
	desired["md5"] = PeerDesired{Config: cfg, Paths: []Path{{Prefix: lbAddr}}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	r.waitEstablished(t, "127.0.0.13")
	waitFor(t, 30*time.Second, "the prefix at the router", func() (bool, string) {
		got := r.received(t, "127.0.0.13")
		_, ok := got[lbAddr]
		return ok, fmt.Sprint(got)
	})
	waitFor(t, 10*time.Second, `the "BGP session established" log line`, func() (bool, string) {
		return len(logs.find("BGP session established", "peer", "md5")) > 0, logs.messages()
	})
}

// TestNotEstablishedLogged checks the diagnosis without root: nothing listens on the router's port, so
// every attempt fails, and the log says so.
func TestNotEstablishedLogged(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger(t)
	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	cfg := testPeer("nobody", routerV4, basePort+10, "127.0.0.19", speakerASN)
	if err := s.Reconcile(t.Context(), map[string]PeerDesired{"nobody": {Config: cfg}}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	waitFor(t, 30*time.Second, `the "BGP session not established" log line`, func() (bool, string) {
		l := logs.find("BGP session not established", "peer", "nobody", "hint", notEstablishedHint)
		return len(l) > 0 && strings.Contains(fmt.Sprint(l[0]["lastError"]), "connection refused"), logs.messages()
	})
	// The state metric gives the session's RFC 4271 state, not Established (6).
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "seamark_bgp_session_state" {
			continue
		}
		if v := mf.GetMetric()[0].GetGauge().GetValue(); v < 1 || v > 5 {
			t.Errorf("seamark_bgp_session_state{peer=\"nobody\"} = %v, want a state before Established (1-5)", v)
		}
		return
	}
	t.Error("no seamark_bgp_session_state series")
}

// TestWrongASNLogged checks the diagnosis of a session that connects but fails in the OPEN exchange:
// the router expects another AS and closes the session with a notification.
func TestWrongASNLogged(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger(t)
	r := newRouter(t, routerV4, basePort+11)
	r.addNeighbor(t, "127.0.0.21", neighborOpts{asn: 64999})
	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	cfg := testPeer("wrongasn", routerV4, basePort+11, "127.0.0.21", speakerASN)
	if err := s.Reconcile(t.Context(), map[string]PeerDesired{"wrongasn": {Config: cfg}}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	// GoBGP does not decode a notification before Established, so the line says where the attempt
	// failed and the hint does the rest.
	waitFor(t, 30*time.Second, `the "BGP session not established" log line`, func() (bool, string) {
		l := logs.find("BGP session not established", "peer", "wrongasn", "hint", notEstablishedHint)
		return len(l) > 0 && strings.HasPrefix(fmt.Sprint(l[0]["lastError"]), "session closed in Open"), logs.messages()
	})
	if st := s.Status()[0]; st.Up {
		t.Errorf("Status = %+v, want down", st)
	}
}

// TestWrongPeerASNLogged checks the other side of a wrong ASN: the BGPPeer names another AS than the
// router's, so the speaker refuses the router's OPEN. The log line names the cause, not only the
// state the attempt failed in.
func TestWrongPeerASNLogged(t *testing.T) {
	t.Parallel()
	log, logs := newTestLogger(t)
	r := newRouter(t, routerV4, basePort+30)
	r.addNeighbor(t, "127.0.0.30", neighborOpts{})
	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	cfg := testPeer("wrongpeerasn", routerV4, basePort+30, "127.0.0.30", speakerASN)
	cfg.ASN = 64999
	if err := s.Reconcile(t.Context(), map[string]PeerDesired{"wrongpeerasn": {Config: cfg}}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	waitFor(t, 30*time.Second, `the "BGP session not established" log line naming the bad peer AS`, func() (bool, string) {
		l := logs.find("BGP session not established", "peer", "wrongpeerasn")
		return len(l) > 0 && strings.Contains(fmt.Sprint(l[0]["lastError"]), "as number mismatch expected 64999, received 64512"), logs.messages()
	})
}

// TestSettingsChangeResetsOnlyThatPeer changes one peer's hold time and another peer's paths in one
// Reconcile: the first session is reset, the second keeps running (no state change at the router, same
// uptime) and gets its new path.
func TestSettingsChangeResetsOnlyThatPeer(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	r := newRouter(t, routerV4, basePort+5)
	r.addNeighbor(t, "127.0.0.14", neighborOpts{})
	r.addNeighbor(t, "127.0.0.15", neighborOpts{})

	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	a := testPeer("a", routerV4, basePort+5, "127.0.0.14", speakerASN)
	b := testPeer("b", routerV4, basePort+5, "127.0.0.15", speakerASN)
	desired := map[string]PeerDesired{
		"a": {Config: a, Paths: []Path{{Prefix: lbAddr}}},
		"b": {Config: b, Paths: []Path{{Prefix: lbAddr}}},
	}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	r.waitEstablished(t, "127.0.0.14")
	r.waitEstablished(t, "127.0.0.15")
	_, bUptime, _ := r.peer(t, "127.0.0.15")
	bSince := s.Status()[1].Since
	bEvents := len(r.eventsOf("127.0.0.15"))
	aEvents := len(r.eventsOf("127.0.0.14"))

	a.HoldTime = 6 * time.Second
	a.KeepaliveTime = 2 * time.Second
	desired["a"] = PeerDesired{Config: a, Paths: []Path{{Prefix: lbAddr}}}
	desired["b"] = PeerDesired{Config: b, Paths: []Path{{Prefix: lbAddr}, {Prefix: lbRange}}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}

	waitFor(t, 30*time.Second, "peer a re-established with the new hold time", func() (bool, string) {
		st, _, hold := r.peer(t, "127.0.0.14")
		return st == StateEstablished && hold == 6, fmt.Sprintf("%s, hold %d", st, hold)
	})
	var aWentDown bool
	for _, e := range r.eventsOf("127.0.0.14")[aEvents:] {
		aWentDown = aWentDown || (e.path == nil && e.state != StateEstablished)
	}
	if !aWentDown {
		t.Errorf("peer a never went down at the router: its settings change did not reset it")
	}
	waitFor(t, 30*time.Second, "peer b's new path", func() (bool, string) {
		got := r.received(t, "127.0.0.15")
		return len(got) == 2, fmt.Sprint(got)
	})
	for _, e := range r.eventsOf("127.0.0.15")[bEvents:] {
		if e.path == nil {
			t.Errorf("peer b changed state at the router to %s: it must not be reset", e.state)
		}
	}
	if st, uptime, _ := r.peer(t, "127.0.0.15"); st != StateEstablished || !uptime.Equal(bUptime) {
		t.Errorf("peer b at the router: %s since %s, want Established since %s", st, uptime, bUptime)
	}
	if st := s.Status()[1]; st.Name != "b" || !st.Up || !st.Since.Equal(bSince) {
		t.Errorf("speaker status of b = %+v, want up since %s", st, bSince)
	}
}

// TestThousandChangesKeepSessionsUp reconciles 1,000 different path sets in a row over an IPv4 and an
// IPv6 session: neither session flaps, and the router ends up with exactly the last set.
func TestThousandChangesKeepSessionsUp(t *testing.T) {
	t.Parallel()
	log, _ := newTestLogger(t)
	r4 := newRouter(t, routerV4, basePort+6)
	r4.addNeighbor(t, "127.0.0.16", neighborOpts{})
	r6 := newRouter(t, routerV6, basePort+7)
	r6.addNeighbor(t, "::1", neighborOpts{})

	s := New(Options{Logger: log})
	shutdownOnCleanup(t, s)
	v4 := testPeer("v4", routerV4, basePort+6, "127.0.0.16", speakerASN)
	v6 := testPeer("v6", routerV6, basePort+7, "::1", speakerASN)
	if err := s.Reconcile(t.Context(), map[string]PeerDesired{"v4": {Config: v4}, "v6": {Config: v6}}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	r4.waitEstablished(t, "127.0.0.16")
	r6.waitEstablished(t, "::1")
	_, up4, _ := r4.peer(t, "127.0.0.16")
	_, up6, _ := r6.peer(t, "::1")
	ev4, ev6 := len(r4.eventsOf("127.0.0.16")), len(r6.eventsOf("::1"))

	// Change i: a sliding window of 20 prefixes, every third one carrying a community that depends on i,
	// so each step withdraws, announces and re-attributes.
	set := func(i int) (p4, p6 []Path) {
		for j := i; j < i+20; j++ {
			var comms []uint32
			if j%3 == 0 {
				comms = []uint32{uint32(65000<<16 | i%7)}
			}
			a4 := netip.AddrFrom4([4]byte{198, 51, 100, byte(j % 256)})
			p4 = append(p4, Path{Prefix: netip.PrefixFrom(a4, 32), Communities: comms})
			a6 := netip.MustParseAddr("2001:db8::").As16()
			a6[14], a6[15] = byte(j>>8), byte(j)
			p6 = append(p6, Path{Prefix: netip.PrefixFrom(netip.AddrFrom16(a6), 128), Communities: comms})
		}
		return p4, p6
	}
	const changes = 1000
	for i := range changes {
		p4, p6 := set(i)
		if err := s.Reconcile(t.Context(), map[string]PeerDesired{"v4": {Config: v4, Paths: p4}, "v6": {Config: v6, Paths: p6}}); err != nil {
			t.Fatalf("Reconcile %d: %v", i, err)
		}
	}

	p4, p6 := set(changes - 1)
	for _, c := range []struct {
		r     *router
		nbr   string
		paths []Path
	}{{r4, "127.0.0.16", p4}, {r6, "::1", p6}} {
		want := map[netip.Prefix][]uint32{}
		for _, p := range c.paths {
			want[p.Prefix] = p.Communities
		}
		waitFor(t, 30*time.Second, "the last path set at the router from "+c.nbr, func() (bool, string) {
			got := map[netip.Prefix][]uint32{}
			for prefix, rx := range c.r.received(t, c.nbr) {
				got[prefix] = rx.Communities
			}
			diff := cmp.Diff(want, got, cmpNetip)
			return diff == "", diff
		})
	}
	for _, c := range []struct {
		r      *router
		nbr    string
		uptime time.Time
		events int
	}{{r4, "127.0.0.16", up4, ev4}, {r6, "::1", up6, ev6}} {
		if st, uptime, _ := c.r.peer(t, c.nbr); st != StateEstablished || !uptime.Equal(c.uptime) {
			t.Errorf("session from %s at the router: %s since %s, want Established since %s", c.nbr, st, uptime, c.uptime)
		}
		for _, e := range c.r.eventsOf(c.nbr)[c.events:] {
			if e.path == nil {
				t.Errorf("session from %s changed state at the router to %s during the changes", c.nbr, e.state)
			}
		}
	}
	for _, st := range s.Status() {
		if !st.Up || st.Announced != 20 {
			t.Errorf("Status %s: up %v, %d announced; want up with 20", st.Name, st.Up, st.Announced)
		}
	}
}

// TestGracefulShutdown checks RFC 8326 at the router: every path first arrives again with 65535:0,
// then is withdrawn; then the session closes. The second case pins the race of a SIGTERM right after
// the session came up: GoBGP runs the session as Established while the watched state still says
// OpenSent (its events reach the speaker through a queue), and the announcement must not be skipped.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		port       uint16
		source     string
		staleWatch bool
	}{
		{name: "watched state up to date", port: basePort + 8, source: "127.0.0.17"},
		{name: "watched state still OpenSent", port: basePort + 12, source: "127.0.0.22", staleWatch: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testGracefulShutdown(t, tt.port, tt.source, tt.staleWatch)
		})
	}
}

func testGracefulShutdown(t *testing.T, port uint16, source string, staleWatch bool) {
	log, _ := newTestLogger(t)
	r := newRouter(t, routerV4, port)
	r.addNeighbor(t, source, neighborOpts{})

	s := New(Options{Logger: log})
	cfg := testPeer("gs", routerV4, port, source, speakerASN)
	paths := []Path{{Prefix: lbAddr, Communities: []uint32{comm100}}, {Prefix: lbRange}}
	if err := s.Reconcile(t.Context(), map[string]PeerDesired{"gs": {Config: cfg, Paths: paths}}); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	// The router's event log is fed by its own watch, which lags its RIB: wait until both
	// announcements are in the log too, or they would be counted as part of the shutdown.
	waitFor(t, 30*time.Second, "both paths at the router and in its event log", func() (bool, string) {
		got := r.received(t, source)
		logged := map[netip.Prefix]bool{}
		for _, e := range r.eventsOf(source) {
			if e.path != nil && !e.withdraw {
				logged[e.path.Prefix] = true
			}
		}
		return len(got) == 2 && len(logged) == 2, fmt.Sprintf("RIB %v, logged %v", got, logged)
	})
	start := len(r.eventsOf(source))
	if staleWatch {
		// What the speaker saw in issue 16: the session is up at GoBGP and the router, the watch has
		// not caught up. Freeze the watched state there (stopping makes setState ignore late events).
		ss := s.session("gs")
		ss.mu.Lock()
		ss.state, ss.stopping = StateOpenSent, true
		ss.mu.Unlock()
	}

	if err := s.Shutdown(t.Context(), 500*time.Millisecond); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The updates were sent before Shutdown returned; give the router a moment to process them.
	waitFor(t, 10*time.Second, "both withdrawals at the router", func() (bool, string) {
		got := r.received(t, source)
		return len(got) == 0, fmt.Sprint(got)
	})

	type step struct {
		Prefix   netip.Prefix
		Withdraw bool
		Comms    []uint32
	}
	var got []step
	for _, e := range r.eventsOf(source)[start:] {
		if e.path != nil {
			st := step{Prefix: e.path.Prefix, Withdraw: e.withdraw}
			if !e.withdraw {
				st.Comms = e.path.Communities
			}
			got = append(got, st)
		}
	}
	for _, want := range [][]step{
		{{lbAddr, false, []uint32{comm100, GracefulShutdownCommunity}}, {lbAddr, true, nil}},
		{{lbRange, false, []uint32{GracefulShutdownCommunity}}, {lbRange, true, nil}},
	} {
		var ofPrefix []step
		for _, g := range got {
			if g.Prefix == want[0].Prefix {
				ofPrefix = append(ofPrefix, g)
			}
		}
		if diff := cmp.Diff(want, ofPrefix, cmpNetip); diff != "" {
			t.Errorf("updates for %s at the router (-want +got):\n%s", want[0].Prefix, diff)
		}
	}
	waitFor(t, 10*time.Second, "the session closed at the router", func() (bool, string) {
		st, _, _ := r.peer(t, source)
		return st != StateEstablished, string(st)
	})
	if err := s.Reconcile(t.Context(), nil); !errors.Is(err, ErrStopped) {
		t.Errorf("Reconcile after Shutdown = %v, want ErrStopped", err)
	}
}

// TestGracefulRestartKeepsRoutesAfterCrash runs the speaker in a child process and SIGKILLs it, the
// only faithful crash: an in-process stop sends a CEASE notification, after which a router rightly
// drops the routes. With graceful restart, the router keeps them, marked stale, for the restart time.
func TestGracefulRestartKeepsRoutesAfterCrash(t *testing.T) {
	t.Parallel()
	r := newRouter(t, routerV4, basePort+9)
	r.addNeighbor(t, "127.0.0.18", neighborOpts{gracefulRestart: true})

	cfg := testPeer("gr", routerV4, basePort+9, "127.0.0.18", speakerASN)
	cfg.GracefulRestart = true
	cfg.RestartTime = 4 * time.Second
	kill := startCrashHelper(t, crashHelperConfig{Peer: cfg, Paths: []Path{{Prefix: lbAddr}, {Prefix: lbRange}}})
	waitFor(t, 30*time.Second, "both paths at the router", func() (bool, string) {
		got := r.received(t, "127.0.0.18")
		return len(got) == 2 && !got[lbAddr].Stale, fmt.Sprint(got)
	})

	kill()
	waitFor(t, 10*time.Second, "the router to notice the dead session", func() (bool, string) {
		st, _, _ := r.peer(t, "127.0.0.18")
		return st != StateEstablished, string(st)
	})
	waitFor(t, 10*time.Second, "both paths kept, marked stale", func() (bool, string) {
		got := r.received(t, "127.0.0.18")
		return len(got) == 2 && got[lbAddr].Stale && got[lbRange].Stale, fmt.Sprint(got)
	})
	// They go when the restart time (4 s) has passed without the speaker coming back.
	waitFor(t, 30*time.Second, "the stale paths to expire", func() (bool, string) {
		got := r.received(t, "127.0.0.18")
		return len(got) == 0, fmt.Sprint(got)
	})
}

// TestRestartedSpeakerPreservesForwarding pins what a speaker that comes back after a crash tells a
// router keeping its routes as stale: its OPEN carries the Restart State bit and, for the session's
// family, Forwarding State preserved (RFC 4724 §3). Without them a router must drop the stale routes
// the moment the new session is up (§4.2, FRR does), before our UPDATEs arrive; the router of this
// test (GoBGP) does not check the bit, so its received capability is asserted. Then the restart
// completes: the path still announced is fresh, and the one no longer announced goes with our
// End-of-RIB, not with the restart time.
func TestRestartedSpeakerPreservesForwarding(t *testing.T) {
	t.Parallel()
	const source = "127.0.0.23"
	r := newRouter(t, routerV4, basePort+13)
	r.addNeighbor(t, source, neighborOpts{gracefulRestart: true})
	cfg := testPeer("gr", routerV4, basePort+13, source, speakerASN)
	cfg.GracefulRestart = true
	cfg.RestartTime = time.Minute

	kill := startCrashHelper(t, crashHelperConfig{Peer: cfg, Paths: []Path{{Prefix: lbAddr}, {Prefix: lbRange}}})
	waitFor(t, 30*time.Second, "both paths at the router", func() (bool, string) {
		got := r.received(t, source)
		return len(got) == 2 && !got[lbAddr].Stale, fmt.Sprint(got)
	})
	kill()
	waitFor(t, 10*time.Second, "both paths kept, marked stale", func() (bool, string) {
		got := r.received(t, source)
		return len(got) == 2 && got[lbAddr].Stale && got[lbRange].Stale, fmt.Sprint(got)
	})

	startCrashHelper(t, crashHelperConfig{Peer: cfg, Paths: []Path{{Prefix: lbAddr}}})
	gr := r.gracefulRestartCap(t, source)
	if gr == nil {
		t.Fatal("the restarted speaker's OPEN has no graceful restart capability")
	}
	if gr.Flags&0x08 == 0 {
		t.Errorf("the restarted speaker's OPEN does not set the Restart State bit: flags %#x", gr.Flags)
	}
	preserved, tuples := false, []string{}
	for _, tu := range gr.Tuples {
		rf := bgp.AfiSafiToRouteFamily(tu.AFI, tu.SAFI)
		preserved = preserved || (rf == bgp.RF_IPv4_UC && tu.Flags&0x80 != 0)
		tuples = append(tuples, fmt.Sprintf("%s flags %#x", rf, tu.Flags))
	}
	if !preserved {
		t.Errorf("the restarted speaker's OPEN does not say IPv4 unicast forwarding was preserved: %v", tuples)
	}
	waitFor(t, 30*time.Second, "the announced path fresh, the other gone with the End-of-RIB", func() (bool, string) {
		got := r.received(t, source)
		return len(got) == 1 && got[lbAddr].Prefix == lbAddr && !got[lbAddr].Stale, fmt.Sprint(got)
	})
}

// startCrashHelper runs a speaker in a child process (see runCrashHelper), waits until it is ready,
// and returns the function that SIGKILLs it.
func startCrashHelper(t *testing.T, c crashHelperConfig) (kill func()) {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+string(raw))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the speaker process: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("speaker process log:\n%s", stderr.String())
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("speaker process did not come up")
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("speaker process not established after 30s")
	}
	return func() {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("killing the speaker: %v", err)
		}
	}
}
