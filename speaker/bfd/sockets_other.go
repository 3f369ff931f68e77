//go:build !linux

package bfd

import (
	"errors"
	"net"
	"net/netip"
)

// Port is the single-hop BFD control port (RFC 5881 §4).
const Port = 3784

const ttl255 = 255

var oobSize = 64

var errNotLinux = errors.New("BFD needs Linux (TTL and destination address of received packets)")

func listen(bool) (*net.UDPConn, error)            { return nil, errNotLinux }
func dialTx(_, _ netip.Addr) (*net.UDPConn, error) { return nil, errNotLinux }
func parseControl([]byte) (int, netip.Addr, error) { return 0, netip.Addr{}, errNotLinux }
