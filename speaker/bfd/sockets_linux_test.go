//go:build linux

package bfd

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// TestTransmitSocket checks the transmit socket's options as the kernel holds them: bound to the
// local address, a source port in 49152-65535, TTL (hop limit) 255 and DSCP CS6, connected to port
// 3784.
func TestTransmitSocket(t *testing.T) {
	for _, tt := range []struct {
		local, remote string
		level, ttl    int
		tos           int
	}{
		{"127.0.0.1", "127.0.0.2", syscall.IPPROTO_IP, syscall.IP_TTL, syscall.IP_TOS},
		{"::1", "::1", syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS, syscall.IPV6_TCLASS},
	} {
		t.Run(tt.remote, func(t *testing.T) {
			c, err := dialTx(netip.MustParseAddr(tt.local), netip.MustParseAddr(tt.remote))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			la := c.LocalAddr().(*net.UDPAddr)
			ra := c.RemoteAddr().(*net.UDPAddr)
			if la.IP.String() != tt.local || la.Port < minSourcePort || la.Port > maxSourcePort || ra.Port != Port {
				t.Errorf("socket %s -> %s, want from %s:49152-65535 to port %d", la, ra, tt.local, Port)
			}
			raw, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var ttl, tos int
			var ttlErr, tosErr error
			if err := raw.Control(func(fd uintptr) {
				ttl, ttlErr = syscall.GetsockoptInt(int(fd), tt.level, tt.ttl)
				tos, tosErr = syscall.GetsockoptInt(int(fd), tt.level, tt.tos)
			}); err != nil {
				t.Fatal(err)
			}
			if ttlErr != nil || tosErr != nil || ttl != 255 || tos != 0xc0 {
				t.Errorf("TTL %d (%v), TOS %#x (%v); want 255 and 0xc0 (CS6)", ttl, ttlErr, tos, tosErr)
			}
		})
	}
}
