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
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
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
// session, and a flood one more when it has sent every route. It is not
// seamark's code: hand-made BGP messages, so that the lab's router costs
// the lab's two cores next to nothing.
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
	updates, err := floodUpdates(o.Listen.Addr(), o.Routes)
	if err != nil {
		return err
	}
	return acceptSessions(ctx, o.Listen, func(c net.Conn) string { return floodSession(c, log, o, updates) }, log)
}

// floodRoutesPerUpdate is how many /32s one UPDATE carries: 5 bytes each,
// within the 4,096 bytes of a BGP message with the attributes.
const floodRoutesPerUpdate = 800

// floodUpdates returns the flood's UPDATE messages: every route with the
// same attributes, packed, so that sending 100,000 costs the lab's router
// a few hundred writes (the node's GoBGP pays its own parsing and storing,
// which is what the lab measures).
func floodUpdates(nextHop netip.Addr, routes int) ([][]byte, error) {
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{HostileASN})}),
		bgp.NewPathAttributeNextHop(nextHop.String()),
	}
	var out [][]byte
	for i := 0; i < routes; i += floodRoutesPerUpdate {
		var nlri []*bgp.IPAddrPrefix
		for j := i; j < min(i+floodRoutesPerUpdate, routes); j++ {
			a := floodBase.As4()
			binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+uint32(j))
			nlri = append(nlri, bgp.NewIPAddrPrefix(32, netip.AddrFrom4(a).String()))
		}
		b, err := bgp.NewBGPUpdateMessage(nil, attrs, nlri).Serialize()
		if err != nil {
			return nil, fmt.Errorf("encoding a flood UPDATE: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// floodSession runs one session: OPEN, KEEPALIVE, every UPDATE, then
// KEEPALIVEs until the node closes it or the router stops.
func floodSession(c net.Conn, log logr.Logger, o HostileOptions, updates [][]byte) string {
	if outcome, ok := openSession(c, o.Listen.Addr()); !ok {
		return outcome
	}
	_ = c.SetDeadline(time.Time{})
	closed := make(chan error, 1)
	go func() {
		for {
			if _, err := readMessageType(c); err != nil {
				closed <- err
				return
			}
		}
	}()
	for _, u := range updates {
		if _, err := c.Write(u); err != nil {
			return "writing an UPDATE: " + err.Error()
		}
	}
	log.Info(FloodSent, "routes", o.Routes, "updates", len(updates), "peer", o.Peer)
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-closed:
			return "the node closed the session: " + err.Error()
		case <-tick.C:
			if _, err := c.Write(ka); err != nil {
				return "writing a KEEPALIVE: " + err.Error()
			}
		}
	}
}

// FloodSent is the line a flooding router logs once it has sent the node
// every route.
const FloodSent = "All routes sent"

// acceptSessions accepts the node's sessions one after the other until ctx
// ends, runs each with session and logs how it ended.
func acceptSessions(ctx context.Context, listen netip.AddrPort, session func(net.Conn) string, log logr.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen.String())
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
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		outcome := session(c)
		stop()
		_ = c.Close()
		log.Info("Session ended", "session", n, "from", c.RemoteAddr().String(), "outcome", outcome)
	}
}

func hostileMalformed(ctx context.Context, log logr.Logger, o HostileOptions) error {
	return acceptSessions(ctx, o.Listen, func(c net.Conn) string { return malformedSession(c, o.Listen.Addr()) }, log)
}

// openSession brings a session up as the router: OPEN, KEEPALIVE, and the
// node's of each; ok is false, with what happened, if it did not come up.
func openSession(c net.Conn, id netip.Addr) (outcome string, ok bool) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	open := bgp.NewBGPOpenMessage(HostileASN, 9, id.String(), []bgp.OptionParameterInterface{
		bgp.NewOptionParameterCapability([]bgp.ParameterCapabilityInterface{
			bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(HostileASN),
		}),
	})
	b, _ := open.Serialize()
	if _, err := c.Write(b); err != nil {
		return "writing OPEN: " + err.Error(), false
	}
	if t, err := readMessageType(c); err != nil || t != bgp.BGP_MSG_OPEN {
		return fmt.Sprintf("no OPEN from the node (type %d): %v", t, err), false
	}
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	if _, err := c.Write(ka); err != nil {
		return "writing KEEPALIVE: " + err.Error(), false
	}
	if t, err := readMessageType(c); err != nil || t != bgp.BGP_MSG_KEEPALIVE {
		return fmt.Sprintf("no KEEPALIVE from the node (type %d): %v", t, err), false
	}
	return "", true
}

// malformedSession runs one session: OPEN, KEEPALIVE, a second of
// Established, the malformed UPDATE; it returns what happened.
func malformedSession(c net.Conn, id netip.Addr) string {
	if outcome, ok := openSession(c, id); !ok {
		return outcome
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
