package layer2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// The reasons a received packet is dropped, the label of
// seamark_layer2_dropped_packets_total.
const (
	dropMalformed   = "malformed"    // does not parse as Ethernet + ARP or IPv6 + ICMPv6
	dropUnsupported = "unsupported"  // parses, but not Ethernet/IPv4 ARP or plain IPv6 ND
	dropBadSender   = "bad-sender"   // multicast, broadcast or zero sender hardware address
	dropHopLimit    = "hop-limit"    // ND not sent with hop limit 255 (RFC 4861 §7.1.1): off-link
	dropChecksum    = "bad-checksum" // ICMPv6 checksum does not match
	dropInvalid     = "invalid"      // violates an RFC 4861 §7.1 validity rule
)

// errDrop is a packet that must not be answered; reason is a drop* label.
type errDrop struct {
	reason string
	err    error
}

// Error says why the packet was dropped.
func (e *errDrop) Error() string { return fmt.Sprintf("dropped (%s): %v", e.reason, e.err) }

func drop(reason string, format string, args ...any) error {
	return &errDrop{reason: reason, err: fmt.Errorf(format, args...)}
}

// dropReason returns the drop* label of err, or dropMalformed.
func dropReason(err error) string {
	var d *errDrop
	if errors.As(err, &d) {
		return d.reason
	}
	return dropMalformed
}

var (
	broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroMAC      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	allNodes     = netip.MustParseAddr("ff02::1")
)

// arpMsg is a parsed Ethernet/IPv4 ARP packet.
type arpMsg struct {
	ethSrc net.HardwareAddr
	op     arp.Operation
	sha    net.HardwareAddr
	spa    netip.Addr
	tha    net.HardwareAddr
	tpa    netip.Addr
}

// parseARP parses an Ethernet frame carrying ARP for IPv4 over Ethernet
// and rejects the rest.
func parseARP(frame []byte) (arpMsg, error) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		return arpMsg{}, drop(dropMalformed, "ethernet: %w", err)
	}
	if f.EtherType != ethernet.EtherTypeARP {
		return arpMsg{}, drop(dropUnsupported, "ethertype %#04x", uint16(f.EtherType))
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		return arpMsg{}, drop(dropMalformed, "arp: %w", err)
	}
	if p.HardwareType != 1 || p.ProtocolType != uint16(ethernet.EtherTypeIPv4) || p.HardwareAddrLength != 6 || p.IPLength != 4 {
		return arpMsg{}, drop(dropUnsupported, "arp hardware type %d protocol %#04x lengths %d/%d", p.HardwareType, p.ProtocolType, p.HardwareAddrLength, p.IPLength)
	}
	if p.Operation != arp.OperationRequest && p.Operation != arp.OperationReply {
		return arpMsg{}, drop(dropUnsupported, "arp operation %d", p.Operation)
	}
	if badSender(p.SenderHardwareAddr) || badSender(f.Source) {
		return arpMsg{}, drop(dropBadSender, "sender %s (frame %s)", p.SenderHardwareAddr, f.Source)
	}
	return arpMsg{ethSrc: f.Source, op: p.Operation, sha: p.SenderHardwareAddr, spa: p.SenderIP, tha: p.TargetHardwareAddr, tpa: p.TargetIP}, nil
}

// badSender: a multicast (also broadcast) or all-zero hardware address
// never sends a real ARP packet or solicitation; answering it would flood.
func badSender(mac net.HardwareAddr) bool {
	return len(mac) != 6 || mac[0]&1 == 1 || [6]byte(mac) == [6]byte{}
}

// arpFrame builds an Ethernet frame with one ARP packet.
func arpFrame(ethDst net.HardwareAddr, op arp.Operation, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(op, sha, spa, tha, tpa)
	if err != nil {
		return nil, fmt.Errorf("building ARP packet: %w", err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("building ARP packet: %w", err)
	}
	f := ethernet.Frame{Destination: ethDst, Source: sha, EtherType: ethernet.EtherTypeARP, Payload: pb}
	b, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("building ARP frame: %w", err)
	}
	return b, nil
}

// arpReply answers req for addr from mac: unicast to the asker.
func arpReply(req arpMsg, mac net.HardwareAddr) ([]byte, error) {
	return arpFrame(req.sha, arp.OperationReply, mac, req.tpa, req.sha, req.spa)
}

// gratuitousARP returns the two announcements of addr from mac, both
// broadcast: a request (sender IP = target IP = addr, target MAC zero) and a
// reply (target MAC = sender MAC). Linux overrides an entry within its
// locktime only for a gratuitous packet, and recognises a reply as one only
// when its target MAC equals its sender MAC; other stacks know only the
// request form, so both are sent.
func gratuitousARP(addr netip.Addr, mac net.HardwareAddr) ([2][]byte, error) {
	req, err := arpFrame(broadcastMAC, arp.OperationRequest, mac, addr, zeroMAC, addr)
	if err != nil {
		return [2][]byte{}, err
	}
	rep, err := arpFrame(broadcastMAC, arp.OperationReply, mac, addr, mac, addr)
	if err != nil {
		return [2][]byte{}, err
	}
	return [2][]byte{req, rep}, nil
}

// ndMsg is a parsed, valid Neighbor Solicitation or Advertisement.
type ndMsg struct {
	ethSrc net.HardwareAddr
	src    netip.Addr // IPv6 source; unspecified for DAD
	dst    netip.Addr
	target netip.Addr
	na     bool             // an advertisement, else a solicitation
	lla    net.HardwareAddr // source (NS) or target (NA) link-layer address option, or nil
}

const (
	ipv6HeaderLen = 40
	protoICMPv6   = 58
)

// parseND parses an Ethernet frame with an IPv6 Neighbor Solicitation or
// Advertisement and applies the validity checks of RFC 4861 §7.1.1 and
// §7.1.2 that the kernel would apply had it received the packet itself
// (hop limit 255, checksum, code 0, length, target not multicast, the
// unspecified source only with a solicited-node destination and without a
// source link-layer option). Extension headers are not followed: ND does
// not use them.
func parseND(frame []byte) (ndMsg, error) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		return ndMsg{}, drop(dropMalformed, "ethernet: %w", err)
	}
	if f.EtherType != ethernet.EtherTypeIPv6 {
		return ndMsg{}, drop(dropUnsupported, "ethertype %#04x", uint16(f.EtherType))
	}
	b := f.Payload
	if len(b) < ipv6HeaderLen || b[0]>>4 != 6 {
		return ndMsg{}, drop(dropMalformed, "not an IPv6 header")
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen > len(b)-ipv6HeaderLen {
		return ndMsg{}, drop(dropMalformed, "payload length %d beyond the frame", plen)
	}
	if b[6] != protoICMPv6 {
		return ndMsg{}, drop(dropUnsupported, "next header %d", b[6])
	}
	if b[7] != 255 {
		return ndMsg{}, drop(dropHopLimit, "hop limit %d", b[7])
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	icmp := b[ipv6HeaderLen : ipv6HeaderLen+plen]
	if len(icmp) < 24 {
		return ndMsg{}, drop(dropMalformed, "ICMPv6 length %d", len(icmp))
	}
	if icmp[1] != 0 {
		return ndMsg{}, drop(dropInvalid, "ICMPv6 code %d", icmp[1])
	}
	if checksum(src, dst, icmp) != 0 {
		return ndMsg{}, drop(dropChecksum, "ICMPv6 checksum %#04x", binary.BigEndian.Uint16(icmp[2:4]))
	}
	if badSender(f.Source) {
		return ndMsg{}, drop(dropBadSender, "frame source %s", f.Source)
	}
	m, err := ndp.ParseMessage(icmp)
	if err != nil {
		return ndMsg{}, drop(dropMalformed, "ndp: %w", err)
	}
	out := ndMsg{ethSrc: f.Source, src: src, dst: dst}
	var opts []ndp.Option
	switch m := m.(type) {
	case *ndp.NeighborSolicitation:
		out.target, opts = m.TargetAddress, m.Options
	case *ndp.NeighborAdvertisement:
		out.target, opts, out.na = m.TargetAddress, m.Options, true
		if dst.IsMulticast() && m.Solicited {
			return ndMsg{}, drop(dropInvalid, "solicited advertisement to a multicast address")
		}
	default:
		return ndMsg{}, drop(dropUnsupported, "ICMPv6 type %d", icmp[0])
	}
	if out.target.IsMulticast() {
		return ndMsg{}, drop(dropInvalid, "multicast target %s", out.target)
	}
	for _, o := range opts {
		lla, ok := o.(*ndp.LinkLayerAddress)
		if !ok {
			continue
		}
		if (!out.na && lla.Direction == ndp.Source) || (out.na && lla.Direction == ndp.Target) {
			out.lla = lla.Addr
		}
	}
	if !out.na && src.IsUnspecified() {
		if out.lla != nil {
			return ndMsg{}, drop(dropInvalid, "source link-layer option with the unspecified source")
		}
		if sn, _ := ndp.SolicitedNodeMulticast(out.target); dst != sn {
			return ndMsg{}, drop(dropInvalid, "DAD solicitation to %s, not the solicited-node group", dst)
		}
	}
	if out.lla != nil && badSender(out.lla) {
		return ndMsg{}, drop(dropBadSender, "link-layer option %s", out.lla)
	}
	return out, nil
}

// naFrame builds an Ethernet frame with a Neighbor Advertisement for
// target from mac, with Override and the target link-layer option.
func naFrame(ethDst, mac net.HardwareAddr, src, dst, target netip.Addr, solicited bool) ([]byte, error) {
	na := &ndp.NeighborAdvertisement{
		Solicited:     solicited,
		Override:      true,
		TargetAddress: target,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
	icmp, err := ndp.MarshalMessageChecksum(na, src, dst)
	if err != nil {
		return nil, fmt.Errorf("building neighbor advertisement: %w", err)
	}
	ip := make([]byte, ipv6HeaderLen, ipv6HeaderLen+len(icmp))
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:6], uint16(len(icmp)))
	ip[6], ip[7] = protoICMPv6, 255
	s, d := src.As16(), dst.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	ip = append(ip, icmp...)
	f := ethernet.Frame{Destination: ethDst, Source: mac, EtherType: ethernet.EtherTypeIPv6, Payload: ip}
	b, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("building neighbor advertisement frame: %w", err)
	}
	return b, nil
}

// naReply answers a solicitation for an owned target: to its source,
// Solicited and Override (RFC 4861 §7.2.4), which is what a unicast NUD
// probe needs to keep the entry REACHABLE; to all nodes, not Solicited, when
// the source is unspecified (duplicate address detection by someone else).
// src is the address the advertisement is sent from.
func naReply(ns ndMsg, mac net.HardwareAddr, src netip.Addr) ([]byte, error) {
	if ns.src.IsUnspecified() {
		return naFrame(multicastMAC(allNodes), mac, src, allNodes, ns.target, false)
	}
	ethDst := ns.ethSrc
	if ns.lla != nil {
		ethDst = ns.lla
	}
	return naFrame(ethDst, mac, src, ns.src, ns.target, true)
}

// unsolicitedNA announces target from mac to all nodes (RFC 4861 §7.2.6).
func unsolicitedNA(target netip.Addr, mac net.HardwareAddr, src netip.Addr) ([]byte, error) {
	return naFrame(multicastMAC(allNodes), mac, src, allNodes, target, false)
}

// multicastMAC is the Ethernet group of an IPv6 multicast address
// (RFC 2464 §7).
func multicastMAC(group netip.Addr) net.HardwareAddr {
	a := group.As16()
	return net.HardwareAddr{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// solicitedNodeMAC is the Ethernet group NS for addr are sent to.
func solicitedNodeMAC(addr netip.Addr) net.HardwareAddr {
	sn, err := ndp.SolicitedNodeMulticast(addr)
	if err != nil {
		return nil // not IPv6: callers pass IPv6 only
	}
	return multicastMAC(sn)
}

// checksum is the ICMPv6 checksum over the pseudo header and msg; 0 for a
// message whose checksum field is right.
func checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = protoICMPv6
	add(l[:])
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
