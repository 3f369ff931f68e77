package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"
)

// router is a second, in-process GoBGP acting as the upstream router: it listens, accepts the
// speaker's sessions (passive neighbors) and accepts every route, so tests read what it received.
type router struct {
	srv  *server.BgpServer
	addr netip.Addr
	port uint16

	mu     sync.Mutex
	events []routerEvent // peer state changes and received updates, in order
}

// routerEvent is one thing the router saw: a session state change or one received path (announce or
// withdrawal).
type routerEvent struct {
	at       time.Time
	neighbor string
	state    SessionState // set for state changes
	path     *rxPath      // set for received paths
	withdraw bool
}

// rxPath is a path as the router received it.
type rxPath struct {
	Prefix           netip.Prefix
	NextHop          netip.Addr
	MPReach          bool // carried in MP_REACH_NLRI (RFC 4760)
	Communities      []uint32
	LargeCommunities []LargeCommunity
	LocalPref        uint32 // 0 when absent
	ASPath           []uint32
	Stale            bool
}

func newRouter(t testing.TB, addr netip.Addr, port uint16) *router {
	t.Helper()
	r := &router{srv: server.NewBgpServer(server.LoggerOption(newGoBGPLogger())), addr: addr, port: port}
	go r.srv.Serve()
	ctx := context.Background()
	if err := r.srv.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: &gobgpapi.Global{
		Asn:             routerASN,
		RouterId:        "198.18.0.1",
		ListenPort:      int32(port),
		ListenAddresses: []string{addr.String()},
	}}); err != nil {
		t.Fatalf("starting router on %s port %d: %v", addr, port, err)
	}
	t.Cleanup(func() { _ = r.srv.StopBgp(context.Background(), &gobgpapi.StopBgpRequest{}) })
	// Record state changes and every received UPDATE, so tests can assert on order.
	if err := r.srv.WatchEvent(t.Context(), &gobgpapi.WatchEventRequest{
		Peer:  &gobgpapi.WatchEventRequest_Peer{},
		Table: &gobgpapi.WatchEventRequest_Table{Filters: []*gobgpapi.WatchEventRequest_Table_Filter{{Type: gobgpapi.WatchEventRequest_Table_Filter_ADJIN}}},
	}, r.record); err != nil {
		t.Fatalf("watching router events: %v", err)
	}
	return r
}

type neighborOpts struct {
	asn             uint32 // default: speakerASN
	password        string
	gracefulRestart bool
}

// addNeighbor configures a passive neighbor for a speaker session from addr.
func (r *router) addNeighbor(t testing.TB, addr string, o neighborOpts) {
	t.Helper()
	if o.asn == 0 {
		o.asn = speakerASN
	}
	afis := []*gobgpapi.AfiSafi{}
	for _, f := range []family{familyIPv4, familyIPv6} {
		afis = append(afis, &gobgpapi.AfiSafi{
			Config:            &gobgpapi.AfiSafiConfig{Family: f.api(), Enabled: true},
			MpGracefulRestart: &gobgpapi.MpGracefulRestart{Config: &gobgpapi.MpGracefulRestartConfig{Enabled: o.gracefulRestart}},
		})
	}
	p := &gobgpapi.Peer{
		Conf:      &gobgpapi.PeerConf{NeighborAddress: addr, PeerAsn: o.asn, AuthPassword: o.password},
		Transport: &gobgpapi.Transport{PassiveMode: true},
		AfiSafis:  afis,
	}
	if o.gracefulRestart {
		p.GracefulRestart = &gobgpapi.GracefulRestart{Enabled: true, RestartTime: 120}
	}
	if err := r.srv.AddPeer(context.Background(), &gobgpapi.AddPeerRequest{Peer: p}); err != nil {
		t.Fatalf("adding neighbor %s to the router: %v", addr, err)
	}
}

// originate makes the router announce prefix to its neighbors.
func (r *router) originate(t testing.TB, prefix netip.Prefix) {
	t.Helper()
	r.originatePath(t, Path{Prefix: prefix})
}

// originatePath is originate with the path's attributes.
func (r *router) originatePath(t testing.TB, path Path) {
	t.Helper()
	p, err := apiPath(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.srv.AddPath(context.Background(), &gobgpapi.AddPathRequest{Path: p}); err != nil {
		t.Fatalf("originating %s at the router: %v", path.Prefix, err)
	}
}

func (r *router) record(ev *gobgpapi.WatchEventResponse) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if pe := ev.GetPeer(); pe != nil && pe.Type == gobgpapi.WatchEventResponse_PeerEvent_STATE {
		r.events = append(r.events, routerEvent{at: now, neighbor: pe.GetPeer().GetState().GetNeighborAddress(),
			state: stateFromAPI(pe.GetPeer().GetState().GetSessionState())})
	}
	for _, p := range ev.GetTable().GetPaths() {
		if p.GetNlri() == nil { // End-of-RIB
			continue
		}
		rx, err := decodePath(p)
		if err != nil {
			continue
		}
		r.events = append(r.events, routerEvent{at: now, neighbor: p.NeighborIp, path: &rx, withdraw: p.IsWithdraw})
	}
}

// eventsOf returns the recorded events of one neighbor.
func (r *router) eventsOf(neighbor string) []routerEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []routerEvent
	for _, e := range r.events {
		if e.neighbor == neighbor {
			out = append(out, e)
		}
	}
	return out
}

// received returns what the router holds from neighbor (its adj-RIB-in), keyed by prefix.
func (r *router) received(t testing.TB, neighbor string) map[netip.Prefix]rxPath {
	t.Helper()
	out := map[netip.Prefix]rxPath{}
	for _, f := range []family{familyIPv4, familyIPv6} {
		err := r.srv.ListPath(context.Background(), &gobgpapi.ListPathRequest{
			TableType: gobgpapi.TableType_ADJ_IN, Name: neighbor, Family: f.api(),
		}, func(d *gobgpapi.Destination) {
			for _, p := range d.Paths {
				rx, err := decodePath(p)
				if err != nil {
					t.Errorf("decoding a path the router received: %v", err)
					continue
				}
				out[rx.Prefix] = rx
			}
		})
		if err != nil {
			t.Fatalf("listing the router's adj-RIB-in for %s: %v", neighbor, err)
		}
	}
	return out
}

// peer returns the router's view of the session with neighbor.
func (r *router) peer(t testing.TB, neighbor string) (state SessionState, uptime time.Time, negotiatedHold uint64) {
	t.Helper()
	state = StateUnknown
	err := r.srv.ListPeer(context.Background(), &gobgpapi.ListPeerRequest{Address: neighbor}, func(p *gobgpapi.Peer) {
		state = stateFromAPI(p.GetState().GetSessionState())
		uptime = p.GetTimers().GetState().GetUptime().AsTime()
		negotiatedHold = p.GetTimers().GetState().GetNegotiatedHoldTime()
	})
	if err != nil {
		t.Fatalf("listing router peer %s: %v", neighbor, err)
	}
	return state, uptime, negotiatedHold
}

// gracefulRestartCap returns the graceful restart capability of neighbor's OPEN as the router
// received it, once the session is established; nil if the OPEN had none.
func (r *router) gracefulRestartCap(t testing.TB, neighbor string) *bgp.CapGracefulRestart {
	t.Helper()
	r.waitEstablished(t, neighbor)
	var caps []*anypb.Any
	if err := r.srv.ListPeer(context.Background(), &gobgpapi.ListPeerRequest{Address: neighbor}, func(p *gobgpapi.Peer) {
		caps = p.GetState().GetRemoteCap()
	}); err != nil {
		t.Fatalf("listing router peer %s: %v", neighbor, err)
	}
	decoded, err := apiutil.UnmarshalCapabilities(caps)
	if err != nil {
		t.Fatalf("decoding %s's capabilities: %v", neighbor, err)
	}
	for _, c := range decoded {
		if gr, ok := c.(*bgp.CapGracefulRestart); ok {
			return gr
		}
	}
	return nil
}

func (r *router) waitEstablished(t testing.TB, neighbor string) {
	t.Helper()
	waitFor(t, 30*time.Second, "session with "+neighbor+" established at the router", func() (bool, string) {
		st, _, _ := r.peer(t, neighbor)
		return st == StateEstablished, string(st)
	})
}

func decodePath(p *gobgpapi.Path) (rxPath, error) {
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return rxPath{}, fmt.Errorf("decoding NLRI: %w", err)
	}
	prefix, err := netip.ParsePrefix(nlri.String())
	if err != nil {
		return rxPath{}, fmt.Errorf("parsing NLRI %q: %w", nlri, err)
	}
	rx := rxPath{Prefix: prefix, Stale: p.Stale}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return rxPath{}, fmt.Errorf("decoding attributes of %s: %w", prefix, err)
	}
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			rx.NextHop, _ = netip.AddrFromSlice(a.Value)
			rx.NextHop = rx.NextHop.Unmap()
		case *bgp.PathAttributeMpReachNLRI:
			rx.MPReach = true
			rx.NextHop, _ = netip.AddrFromSlice(a.Nexthop)
		case *bgp.PathAttributeCommunities:
			rx.Communities = a.Value
		case *bgp.PathAttributeLargeCommunities:
			for _, c := range a.Values {
				rx.LargeCommunities = append(rx.LargeCommunities, LargeCommunity{Global: c.ASN, Local1: c.LocalData1, Local2: c.LocalData2})
			}
		case *bgp.PathAttributeLocalPref:
			rx.LocalPref = a.Value
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				rx.ASPath = append(rx.ASPath, seg.GetAS()...)
			}
		}
	}
	return rx, nil
}

// receivedCount returns how many paths the router holds from neighbor, cheaply (no path listing).
func (r *router) receivedCount(t testing.TB, neighbor string) uint64 {
	t.Helper()
	return receivedCount(t, r.srv, neighbor)
}

// receivedCount returns how many paths srv holds from neighbor ("": from all its peers), as GoBGP
// counts them (its Adj-RIB-In, before any import policy).
func receivedCount(t testing.TB, srv *server.BgpServer, neighbor string) uint64 {
	t.Helper()
	n, err := receivedRoutes(context.Background(), srv, neighbor)
	if err != nil {
		t.Fatalf("listing the peers of a BGP server (%q): %v", neighbor, err)
	}
	return n
}

func (r *router) peerStateNow(t testing.TB, neighbor string) SessionState {
	st, _, _ := r.peer(t, neighbor)
	return st
}
