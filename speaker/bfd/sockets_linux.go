//go:build linux

package bfd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
)

// Port is the single-hop BFD control port (RFC 5881 §4).
const Port = 3784

// Source ports of the transmit sockets (RFC 5881 §4).
const (
	minSourcePort = 49152
	maxSourcePort = 65535
)

// ttl255 is the TTL and hop limit of every packet sent, and the only one accepted (RFC 5881 §5):
// a packet that crossed a router cannot carry it.
const ttl255 = 255

// tosCS6 is DSCP CS6 (network control) in the IPv4 TOS / IPv6 traffic class byte, as FRR marks BFD.
const tosCS6 = 48 << 2

// listen opens the receive socket of a family on UDP 3784 on every address, asking the kernel for
// each packet's TTL (hop limit) and destination address.
func listen(v6 bool) (*net.UDPConn, error) {
	network, addr := "udp4", "0.0.0.0"
	if v6 {
		network, addr = "udp6", "::"
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setOpts(c, func(fd int) error {
			if v6 {
				return errors.Join(
					syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_RECVHOPLIMIT, 1),
					syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1))
			}
			return errors.Join(
				syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_RECVTTL, 1),
				syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1))
		})
	}}
	pc, err := lc.ListenPacket(context.Background(), network, net.JoinHostPort(addr, fmt.Sprint(Port)))
	if err != nil {
		return nil, fmt.Errorf("listening on UDP port %d (%s): %w", Port, network, err)
	}
	return pc.(*net.UDPConn), nil
}

// dialTx opens a session's transmit socket: connected to remote port 3784, from local (or the
// address the kernel routes from when local is invalid) and a source port in 49152-65535 that stays
// the session's for its life, with TTL 255 and DSCP CS6.
func dialTx(local, remote netip.Addr) (*net.UDPConn, error) {
	v6 := remote.Is6()
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	var lastErr error
	for range 64 {
		port := minSourcePort + rand.IntN(maxSourcePort-minSourcePort+1)
		laddr := &net.UDPAddr{Port: port}
		if local.IsValid() {
			laddr.IP = local.AsSlice()
			laddr.Zone = local.Zone()
		}
		d := net.Dialer{LocalAddr: laddr, Control: func(_, _ string, c syscall.RawConn) error {
			return setOpts(c, func(fd int) error {
				if v6 {
					return errors.Join(
						syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, ttl255),
						syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, tosCS6))
				}
				return errors.Join(
					syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_TTL, ttl255),
					syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_TOS, tosCS6))
			})
		}}
		c, err := d.Dial(network, netip.AddrPortFrom(remote, Port).String())
		if err == nil {
			return c.(*net.UDPConn), nil
		}
		lastErr = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("opening the BFD transmit socket to %s: %w", remote, lastErr)
}

func setOpts(c syscall.RawConn, f func(fd int) error) error {
	var err error
	if cerr := c.Control(func(fd uintptr) { err = f(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}

// Sizes of the control messages read: a TTL or hop limit (an int), and struct in_pktinfo (ifindex,
// local address, destination address) or struct in6_pktinfo (destination address, ifindex).
const (
	pktinfo4Len = 12
	pktinfo6Len = 20
)

// oobSize holds a TTL or hop limit and a packet-info control message.
var oobSize = syscall.CmsgSpace(4) + syscall.CmsgSpace(pktinfo6Len)

// parseControl returns the TTL (hop limit) and destination address of a received packet from its
// control messages.
func parseControl(oob []byte) (ttl int, dst netip.Addr, err error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, netip.Addr{}, fmt.Errorf("parsing control messages: %w", err)
	}
	ttl = -1
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_TTL && len(m.Data) >= 4,
			m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_HOPLIMIT && len(m.Data) >= 4:
			ttl = int(int32(binary.NativeEndian.Uint32(m.Data)))
		case m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_PKTINFO && len(m.Data) >= pktinfo4Len:
			dst = netip.AddrFrom4([4]byte(m.Data[8:12]))
		case m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_PKTINFO && len(m.Data) >= pktinfo6Len:
			dst = netip.AddrFrom16([16]byte(m.Data[0:16]))
		}
	}
	if ttl < 0 {
		return 0, dst, errNoControlMessage
	}
	return ttl, dst, nil
}
