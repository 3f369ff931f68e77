package lab

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Announce is `seamark-lab announce`: one eBGP session (AS NodeASN) from
// source to the router (AS RouterASN) that announces the IPv4 prefix,
// whatever Kubernetes says, until ctx ends. The e2e suite runs it in a
// node's namespace to make that node attract a Service's traffic the way a
// wrong announcement would. It is plain GoBGP, not seamark's speaker: the
// control must not depend on the code it checks.
func Announce(ctx context.Context, log logr.Logger, router, source, prefix string) error {
	r, err := netip.ParseAddr(router)
	if err != nil {
		return fmt.Errorf("--router: %w", err)
	}
	src, err := netip.ParseAddr(source)
	if err != nil || !src.Is4() {
		return fmt.Errorf("--source %q: want an IPv4 address", source)
	}
	p, err := netip.ParsePrefix(prefix)
	if err != nil || !p.Addr().Is4() {
		return fmt.Errorf("--prefix %q: want an IPv4 prefix", prefix)
	}
	s := server.NewBgpServer()
	go s.Serve()
	defer s.Stop()
	if err := s.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: &gobgpapi.Global{
		Asn: NodeASN, RouterId: src.String(), ListenPort: -1,
	}}); err != nil {
		return fmt.Errorf("starting GoBGP: %w", err)
	}
	if err := s.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: &gobgpapi.Peer{
		Conf:      &gobgpapi.PeerConf{NeighborAddress: r.String(), PeerAsn: RouterASN},
		Timers:    &gobgpapi.Timers{Config: &gobgpapi.TimersConfig{ConnectRetry: 1, HoldTime: 9, KeepaliveInterval: 3}},
		Transport: &gobgpapi.Transport{LocalAddress: src.String()},
		AfiSafis: []*gobgpapi.AfiSafi{{Config: &gobgpapi.AfiSafiConfig{
			Family: &gobgpapi.Family{Afi: gobgpapi.Family_AFI_IP, Safi: gobgpapi.Family_SAFI_UNICAST}, Enabled: true,
		}}},
	}}); err != nil {
		return fmt.Errorf("adding the router as a peer: %w", err)
	}
	// Next hop 0.0.0.0: GoBGP sends the session's local address.
	path, err := apiutil.NewPath(bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()), false, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), bgp.NewPathAttributeNextHop("0.0.0.0"),
	}, time.Now())
	if err != nil {
		return err
	}
	if _, err := s.AddPath(ctx, &gobgpapi.AddPathRequest{TableType: gobgpapi.TableType_GLOBAL, Path: path}); err != nil {
		return fmt.Errorf("announcing %s: %w", p, err)
	}
	log.Info("Announcing", "prefix", p, "router", r, "source", src)
	<-ctx.Done()
	return nil
}

// Announcer is a running `seamark-lab announce`.
type Announcer struct {
	l    *Lab
	name string
}

// StartAnnounce starts `seamark-lab announce` in node n's namespace: a
// session from source (an address of n) to the router that announces
// prefix. The router needs a neighbor for source.
func (l *Lab) StartAnnounce(n Node, source netip.Addr, prefix netip.Prefix) (*Announcer, error) {
	name := "announce-" + n.Name
	if _, err := l.startProcess(name, n.Netns, filepath.Join(l.Bin, "seamark-lab"), "announce",
		"--router="+RouterFabricAddr.String(), "--source="+source.String(), "--prefix="+prefix.String()); err != nil {
		return nil, err
	}
	return &Announcer{l: l, name: name}, nil
}

// Stop ends the session (the router drops the path).
func (a *Announcer) Stop() error { return a.l.StopProcess(a.name, 10*time.Second) }
