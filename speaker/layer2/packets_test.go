package layer2

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

var (
	ourMAC    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x11}
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	vip4      = netip.MustParseAddr("198.18.210.50")
	client4   = netip.MustParseAddr("198.18.210.100")
	vip6      = netip.MustParseAddr("2001:db8:210::50")
	client6   = netip.MustParseAddr("2001:db8:210::100")
)

// must returns the frame a builder made; building the test's frames
// cannot fail.
func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestGratuitousARPBytes(t *testing.T) {
	g, err := gratuitousARP(vip4, ourMAC)
	if err != nil {
		t.Fatal(err)
	}
	// Ethernet: broadcast, ours, ARP; ARP: Ethernet/IPv4, 6/4, op, sha, spa, tha, tpa.
	head := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4}
	wantReq := append(append([]byte{}, head...), 0, 1, 0x02, 0, 0, 0, 0, 0x11, 198, 18, 210, 50, 0, 0, 0, 0, 0, 0, 198, 18, 210, 50)
	wantRep := append(append([]byte{}, head...), 0, 2, 0x02, 0, 0, 0, 0, 0x11, 198, 18, 210, 50, 0x02, 0, 0, 0, 0, 0x11, 198, 18, 210, 50)
	// Frames are padded to the Ethernet minimum of 60 bytes.
	for i, want := range [][]byte{wantReq, wantRep} {
		if !bytes.HasPrefix(g[i], want) || len(g[i]) < 60 {
			t.Errorf("gratuitous ARP %d = % x, want prefix % x (padded to 60)", i, g[i], want)
		}
	}
}

func TestParseARP(t *testing.T) {
	req := must(arpFrame(broadcastMAC, arp.OperationRequest, clientMAC, client4, zeroMAC, vip4))
	tests := []struct {
		name   string
		frame  []byte
		reason string // "" parses
	}{
		{"an ARP request parses", req, ""},
		{"a truncated frame is malformed", req[:20], dropMalformed},
		{"an IPv6 frame is not ARP", must(unsolicitedNA(vip6, ourMAC, vip6)), dropUnsupported},
		{"a non-Ethernet hardware type is unsupported", patch(req, 14, 0, 6), dropUnsupported},
		{"a protocol other than IPv4 is unsupported", patch(req, 16, 0x86, 0xdd), dropUnsupported},
		{"an unknown operation is unsupported", patch(req, 20, 0, 9), dropUnsupported},
		{"a broadcast sender is dropped", patch(req, 22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), dropBadSender},
		{"a zero sender is dropped", patch(req, 22, 0, 0, 0, 0, 0, 0), dropBadSender},
		{"a multicast frame source is dropped", patch(req, 6, 0x01, 0, 0x5e, 0, 0, 1), dropBadSender},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseARP(tt.frame)
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("parseARP: %v", err)
			case tt.reason != "" && err == nil:
				t.Fatalf("parseARP accepted %+v, want drop %s", m, tt.reason)
			case tt.reason != "" && dropReason(err) != tt.reason:
				t.Fatalf("parseARP dropped with %s (%v), want %s", dropReason(err), err, tt.reason)
			}
		})
	}
}

func patch(b []byte, at int, with ...byte) []byte {
	out := bytes.Clone(b)
	copy(out[at:], with)
	return out
}

// nsFrame builds a Neighbor Solicitation as a client sends it.
func nsFrame(t testing.TB, ethDst net.HardwareAddr, src, dst, target netip.Addr, hop byte, withLLA bool) []byte {
	t.Helper()
	return nsFrameFrom(t, clientMAC, ethDst, src, dst, target, hop, withLLA)
}

func nsFrameFrom(t testing.TB, from, ethDst net.HardwareAddr, src, dst, target netip.Addr, hop byte, withLLA bool) []byte {
	t.Helper()
	ns := &ndp.NeighborSolicitation{TargetAddress: target}
	if withLLA {
		ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: from}}
	}
	icmp, err := ndp.MarshalMessageChecksum(ns, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(icmp)))
	ip[6], ip[7] = 58, hop
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	eth := append(append(append([]byte{}, ethDst...), from...), 0x86, 0xdd)
	return append(append(eth, ip...), icmp...)
}

func TestParseND(t *testing.T) {
	sn, _ := ndp.SolicitedNodeMulticast(vip6)
	multicastNS := nsFrame(t, solicitedNodeMAC(vip6), client6, sn, vip6, 255, true)
	unicastNUD := nsFrame(t, ourMAC, client6, vip6, vip6, 255, false)
	tests := []struct {
		name   string
		frame  []byte
		reason string
		lla    net.HardwareAddr
	}{
		{"a multicast solicitation parses with its source option", multicastNS, "", clientMAC},
		{"a unicast NUD probe parses without an option", unicastNUD, "", nil},
		{"DAD from the unspecified address parses", nsFrame(t, solicitedNodeMAC(vip6), netip.IPv6Unspecified(), sn, vip6, 255, false), "", nil},
		{"an advertisement parses", must(unsolicitedNA(vip6, ourMAC, vip6)), "", ourMAC},
		{"a routed solicitation (hop limit 254) is dropped", nsFrame(t, ourMAC, client6, vip6, vip6, 254, false), dropHopLimit, nil},
		{"a wrong checksum is dropped", patch(unicastNUD, 14+40+2, 0xde, 0xad), dropChecksum, nil},
		{"a non-zero code is invalid", patch(unicastNUD, 14+40+1, 1), dropInvalid, nil},
		{"DAD with a source option is invalid", nsFrame(t, solicitedNodeMAC(vip6), netip.IPv6Unspecified(), sn, vip6, 255, true), dropInvalid, nil},
		{"DAD to all nodes is invalid", nsFrame(t, solicitedNodeMAC(vip6), netip.IPv6Unspecified(), allNodes, vip6, 255, false), dropInvalid, nil},
		{"a multicast target is invalid", nsFrame(t, ourMAC, client6, vip6, allNodes, 255, false), dropInvalid, nil},
		{"a truncated payload is malformed", unicastNUD[:14+40+10], dropMalformed, nil},
		{"a payload length beyond the frame is malformed", patch(unicastNUD, 14+4, 0x7f, 0xff), dropMalformed, nil},
		{"an IPv4 header is malformed", patch(unicastNUD, 14, 0x45), dropMalformed, nil},
		{"UDP is unsupported", patch(unicastNUD, 14+6, 17), dropUnsupported, nil},
		{"an ARP frame is unsupported", must(arpFrame(broadcastMAC, arp.OperationRequest, clientMAC, client4, zeroMAC, vip4)), dropUnsupported, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseND(tt.frame)
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("parseND: %v", err)
			case tt.reason != "" && err == nil:
				t.Fatalf("parseND accepted %+v, want drop %s", m, tt.reason)
			case tt.reason != "" && dropReason(err) != tt.reason:
				t.Fatalf("parseND dropped with %s (%v), want %s", dropReason(err), err, tt.reason)
			case tt.reason == "" && !bytes.Equal(m.lla, tt.lla):
				t.Fatalf("link-layer option = %s, want %s", m.lla, tt.lla)
			}
		})
	}
}

func TestNAReply(t *testing.T) {
	src := netip.MustParseAddr("fe80::11")
	tests := []struct {
		name          string
		ns            ndMsg
		wantEthDst    net.HardwareAddr
		wantDst       netip.Addr
		wantSolicited bool
	}{
		{"a unicast NUD probe is answered to its sender, Solicited and Override",
			ndMsg{ethSrc: clientMAC, src: client6, dst: vip6, target: vip6}, clientMAC, client6, true},
		{"the source option wins over the frame source",
			ndMsg{ethSrc: ourMAC, src: client6, target: vip6, lla: clientMAC}, clientMAC, client6, true},
		{"DAD is answered to all nodes, not Solicited",
			ndMsg{ethSrc: clientMAC, src: netip.IPv6Unspecified(), target: vip6}, multicastMAC(allNodes), allNodes, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := naReply(tt.ns, ourMAC, src)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b[0:6], tt.wantEthDst) {
				t.Errorf("Ethernet destination %s, want %s", net.HardwareAddr(b[0:6]), tt.wantEthDst)
			}
			m, err := parseND(b)
			if err != nil {
				t.Fatalf("the reply does not parse as valid ND: %v", err)
			}
			if !m.na || m.dst != tt.wantDst || m.target != vip6 || !bytes.Equal(m.lla, ourMAC) || m.src != src {
				t.Errorf("reply = %+v, want an NA to %s for %s with target option %s", m, tt.wantDst, vip6, ourMAC)
			}
			flags := b[14+40+4]
			if got := flags&0x40 != 0; got != tt.wantSolicited {
				t.Errorf("Solicited = %v, want %v", got, tt.wantSolicited)
			}
			if flags&0x20 == 0 || flags&0x80 != 0 {
				t.Errorf("flags %#02x: want Override, not Router", flags)
			}
		})
	}
}

// FuzzParse feeds arbitrary frames to both parsers: they never panic, and
// whatever they accept can be answered with a frame that parses back.
func FuzzParse(f *testing.F) {
	sn, _ := ndp.SolicitedNodeMulticast(vip6)
	f.Add(must(arpFrame(broadcastMAC, arp.OperationRequest, clientMAC, client4, zeroMAC, vip4)))
	f.Add(nsFrame(f, solicitedNodeMAC(vip6), client6, sn, vip6, 255, true))
	f.Add(nsFrame(f, ourMAC, client6, vip6, vip6, 255, false))
	f.Add(must(unsolicitedNA(vip6, ourMAC, vip6)))
	f.Fuzz(func(t *testing.T, frame []byte) {
		if m, err := parseARP(frame); err == nil {
			b, err := arpReply(m, ourMAC)
			if err != nil {
				t.Fatalf("answering %+v: %v", m, err)
			}
			r, err := parseARP(b)
			if err != nil || r.op != arp.OperationReply || r.spa != m.tpa || r.tpa != m.spa {
				t.Fatalf("reply to %+v parses as %+v, %v", m, r, err)
			}
		}
		if m, err := parseND(frame); err == nil && !m.na {
			b, err := naReply(m, ourMAC, vip6)
			if err != nil {
				t.Fatalf("answering %+v: %v", m, err)
			}
			if r, err := parseND(b); err != nil || !r.na || r.target != m.target {
				t.Fatalf("reply to %+v parses as %+v, %v", m, r, err)
			}
		}
	})
}
