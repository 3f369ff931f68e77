package lab

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// quote4 is the start of an IPv4 TCP packet from port sport to dst, as an
// ICMP error quotes it.
func quote4(dst netip.AddrPort, sport uint16, proto byte) []byte {
	b := make([]byte, 28)
	b[0], b[9] = 0x45, proto
	copy(b[12:16], []byte{198, 18, 0, 2})
	a := dst.Addr().As4()
	copy(b[16:20], a[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	return b
}

func quote6(dst netip.AddrPort, sport uint16) []byte {
	b := make([]byte, 48)
	b[0], b[6] = 0x60, 6
	a := dst.Addr().As16()
	copy(b[24:40], a[:])
	binary.BigEndian.PutUint16(b[40:], sport)
	binary.BigEndian.PutUint16(b[42:], dst.Port())
	return b
}

func marshal(t *testing.T, m icmp.Message) []byte {
	t.Helper()
	b, err := m.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseICMPError(t *testing.T) {
	node := netip.MustParseAddr("198.18.1.12")
	svc := netip.MustParseAddrPort("198.51.100.15:80")
	svc6 := netip.MustParseAddrPort("[2001:db8:100::1]:80")
	for _, tc := range []struct {
		name  string
		proto int
		b     []byte
		want  ICMPError
		ok    bool
	}{
		{"time exceeded (a routing loop)", 1, marshal(t, icmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &icmp.TimeExceeded{Data: quote4(svc, 40000, 6)}}),
			ICMPError{From: node, Type: "time exceeded", Code: 0, Dst: svc, SrcPort: 40000}, true},
		{"host unreachable", 1, marshal(t, icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 1, Body: &icmp.DstUnreach{Data: quote4(svc, 40001, 6)}}),
			ICMPError{From: node, Type: "destination unreachable", Code: 1, Dst: svc, SrcPort: 40001}, true},
		{"udp quoted", 1, marshal(t, icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 3, Body: &icmp.DstUnreach{Data: quote4(svc, 53, 17)}}),
			ICMPError{From: node, Type: "destination unreachable", Code: 3, Dst: svc, SrcPort: 53}, true},
		{"IPv6 address unreachable", 58, marshal(t, icmp.Message{Type: ipv6.ICMPTypeDestinationUnreachable, Code: 3, Body: &icmp.DstUnreach{Data: quote6(svc6, 40002)}}),
			ICMPError{From: node, Type: "destination unreachable", Code: 3, Dst: svc6, SrcPort: 40002}, true},
		{"echo reply", 1, marshal(t, icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: 1, Seq: 1}}), ICMPError{}, false},
		{"quotes ICMP, not TCP", 1, marshal(t, icmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &icmp.TimeExceeded{Data: quote4(svc, 1, 1)}}), ICMPError{}, false},
		{"quote too short", 1, marshal(t, icmp.Message{Type: ipv4.ICMPTypeTimeExceeded, Body: &icmp.TimeExceeded{Data: quote4(svc, 1, 6)[:22]}}), ICMPError{}, false},
		{"IPv4 quote in ICMPv6", 58, marshal(t, icmp.Message{Type: ipv6.ICMPTypeTimeExceeded, Body: &icmp.TimeExceeded{Data: quote4(svc, 1, 6)}}), ICMPError{}, false},
		{"empty", 1, nil, ICMPError{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseICMPError(tc.proto, node, tc.b)
			if ok != tc.ok || got != tc.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestICMPSummary(t *testing.T) {
	a, b := netip.MustParseAddr("198.18.1.12"), netip.MustParseAddr("198.18.1.1")
	errs := []ICMPError{{From: a, Type: "time exceeded"}, {From: b, Type: "destination unreachable", Code: 1}, {From: a, Type: "time exceeded"}}
	if got, want := ICMPSummary(errs), "destination unreachable (code 1) from 198.18.1.1 ×1, time exceeded (code 0) from 198.18.1.12 ×2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := ICMPSummary(nil); got != "" {
		t.Errorf("no errors: got %q", got)
	}
}

// FuzzParseICMPError: hostile bytes never panic, and what is accepted
// quotes a TCP or UDP packet.
func FuzzParseICMPError(f *testing.F) {
	svc := netip.MustParseAddrPort("198.51.100.15:80")
	f.Add(1, []byte{11, 0, 0, 0, 0, 0, 0, 0})
	f.Add(1, append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, quote4(svc, 4000, 6)...))
	f.Add(58, append([]byte{1, 3, 0, 0, 0, 0, 0, 0}, quote6(netip.MustParseAddrPort("[2001:db8::1]:80"), 4000)...))
	f.Fuzz(func(t *testing.T, proto int, b []byte) {
		e, ok := ParseICMPError(proto, netip.MustParseAddr("198.18.1.1"), b)
		if ok && (!e.Dst.IsValid() || e.Type == "") {
			t.Fatalf("accepted %x as %+v", b, e)
		}
	})
}
