package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// HostileASN is the AS of the lab's hostile routers (`seamark-lab hostile`).
const HostileASN = 64530

// Modes of a hostile router.
const (
	// HostileFlood accepts the node's session and sends it Routes /32s.
	HostileFlood = "flood"
	// HostileMalformed accepts the node's session, sends one UPDATE whose
	// path attribute length runs past the message a second after it is
	// established, and waits for the node to close the session — every
	// time the node dials again: a session that flaps.
	HostileMalformed = "malformed"
)

// HostileOptions configure a hostile router.
type HostileOptions struct {
	Mode string
	// Listen is the router's address and port; Peer the node's address.
	Listen netip.AddrPort
	Peer   netip.Addr
	// Routes is the number of routes a flood sends.
	Routes int
}

// floodBase is the first of the flood's /32s: 198.18.128.0 onwards stays
// inside 198.18.0.0/15 for up to 131,072 routes, and none is ever
// installed anywhere (the speaker imports nothing).
var floodBase = netip.MustParseAddr("198.18.128.0")

// Hostile runs a hostile router until ctx ends. It logs one line per
// session (malformed) or per batch of routes (flood). It is not seamark's
// code: GoBGP for the flood, hand-made BGP messages for the malformed
// UPDATEs.
func Hostile(ctx context.Context, log logr.Logger, o HostileOptions) error {
	switch o.Mode {
	case HostileFlood:
		return hostileFlood(ctx, log, o)
	case HostileMalformed:
		return hostileMalformed(ctx, log, o)
	}
	return fmt.Errorf("--mode %q: want %s or %s", o.Mode, HostileFlood, HostileMalformed)
}

func hostileFlood(ctx context.Context, log logr.Logger, o HostileOptions) error {
	if o.Routes < 1 || o.Routes > 131072 {
		return fmt.Errorf("--routes %d: want 1 to 131072", o.Routes)
	}
	s := server.NewBgpServer()
	go s.Serve()
	defer s.Stop()
	if err := s.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: &gobgpapi.Global{
		Asn: HostileASN, RouterId: o.Listen.Addr().String(), ListenPort: int32(o.Listen.Port()),
		ListenAddresses: []string{o.Listen.Addr().String()},
	}}); err != nil {
		return fmt.Errorf("starting GoBGP: %w", err)
	}
	if err := s.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: &gobgpapi.Peer{
		Conf:      &gobgpapi.PeerConf{NeighborAddress: o.Peer.String(), PeerAsn: NodeASN},
		Timers:    &gobgpapi.Timers{Config: &gobgpapi.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
		Transport: &gobgpapi.Transport{PassiveMode: true},
	}}); err != nil {
		return fmt.Errorf("adding the node as a peer: %w", err)
	}
	const batch = 1000
	for i := 0; i < o.Routes; i += batch {
		var paths []*gobgpapi.Path
		for j := i; j < min(i+batch, o.Routes); j++ {
			a := floodBase.As4()
			v := binary.BigEndian.Uint32(a[:]) + uint32(j)
			binary.BigEndian.PutUint32(a[:], v)
			p, err := apiutil.NewPath(bgp.NewIPAddrPrefix(32, netip.AddrFrom4(a).String()), false, []bgp.PathAttributeInterface{
				bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP), bgp.NewPathAttributeNextHop(o.Listen.Addr().String()),
			}, time.Now())
			if err != nil {
				return err
			}
			paths = append(paths, p)
		}
		if err := addPaths(ctx, s, paths); err != nil {
			return err
		}
	}
	log.Info("Flooding", "routes", o.Routes, "peer", o.Peer, "listen", o.Listen)
	<-ctx.Done()
	return nil
}

func addPaths(ctx context.Context, s *server.BgpServer, paths []*gobgpapi.Path) error {
	for _, p := range paths {
		if _, err := s.AddPath(ctx, &gobgpapi.AddPathRequest{TableType: gobgpapi.TableType_GLOBAL, Path: p}); err != nil {
			return fmt.Errorf("adding a flood route: %w", err)
		}
	}
	return nil
}

func hostileMalformed(ctx context.Context, log logr.Logger, o HostileOptions) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen.String())
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = ln.Close() }()
	for n := 1; ; n++ {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		outcome := malformedSession(c, o.Listen.Addr())
		_ = c.Close()
		log.Info("Session ended", "session", n, "from", c.RemoteAddr().String(), "outcome", outcome)
	}
}

// malformedSession runs one session: OPEN, KEEPALIVE, a second of
// Established, the malformed UPDATE; it returns what happened.
func malformedSession(c net.Conn, id netip.Addr) string {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	open := bgp.NewBGPOpenMessage(HostileASN, 9, id.String(), []bgp.OptionParameterInterface{
		bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(HostileASN),
		}),
	})
	b, _ := open.Serialize()
	if _, err := c.Write(b); err != nil {
		return "writing OPEN: " + err.Error()
	}
	if t, err := readMessageType(c); err != nil || t != bgp.BGP_MSG_OPEN {
		return fmt.Sprintf("no OPEN from the node (type %d): %v", t, err)
	}
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	if _, err := c.Write(ka); err != nil {
		return "writing KEEPALIVE: " + err.Error()
	}
	if t, err := readMessageType(c); err != nil || t != bgp.BGP_MSG_KEEPALIVE {
		return fmt.Sprintf("no KEEPALIVE from the node (type %d): %v", t, err)
	}
	time.Sleep(time.Second)
	// An UPDATE without withdrawn routes whose total path attribute
	// length (0xffff) runs past the end of the message.
	body := []byte{0, 0, 0xff, 0xff, 0x40, 0x01, 0x01, 0x00}
	msg := make([]byte, 19, 19+len(body))
	for i := range 16 {
		msg[i] = 0xff
	}
	binary.BigEndian.PutUint16(msg[16:], uint16(19+len(body)))
	msg[18] = bgp.BGP_MSG_UPDATE
	msg = append(msg, body...)
	if _, err := c.Write(msg); err != nil {
		return "writing the malformed UPDATE: " + err.Error()
	}
	for {
		t, err := readMessageType(c)
		switch {
		case err != nil:
			return "established, sent a malformed UPDATE, the node closed the session without a NOTIFICATION: " + err.Error()
		case t == bgp.BGP_MSG_NOTIFICATION:
			return "established, sent a malformed UPDATE, the node sent a NOTIFICATION"
		}
	}
}

// readMessageType reads one BGP message and returns its type.
func readMessageType(r io.Reader) (uint8, error) {
	h := make([]byte, 19)
	if _, err := io.ReadFull(r, h); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(h[16:]))
	if n < 19 {
		return 0, errors.New("short message")
	}
	if _, err := io.CopyN(io.Discard, r, int64(n-19)); err != nil {
		return 0, err
	}
	return h[18], nil
}

// HostileProcess is the name under which the hostile router of mode runs.
func HostileProcess(mode string) string { return "hostile-" + mode }

// StartHostile starts `seamark-lab hostile` in the router's namespace.
func (l *Lab) StartHostile(o HostileOptions) error {
	_, err := l.startProcess(HostileProcess(o.Mode), NetnsRouter, filepath.Join(l.Bin, "seamark-lab"), "hostile",
		"--mode="+o.Mode, "--listen="+o.Listen.String(), "--peer="+o.Peer.String(), fmt.Sprintf("--routes=%d", o.Routes))
	return err
}
