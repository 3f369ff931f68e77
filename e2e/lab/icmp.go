package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ICMPError is an ICMP error message a client received about one of its
// packets: which hop sent it and what it says. A failed request reads only
// "no route to host" (host unreachable, or a routing loop's time
// exceeded: Linux maps both to EHOSTUNREACH); the message names the hop
// and the reason.
type ICMPError struct {
	At   time.Time  `json:"at"`
	From netip.Addr `json:"from"`
	// Type is the message's kind, e.g. "time exceeded", "destination
	// unreachable"; Code its code (for destination unreachable: 0 net,
	// 1 host, 3 port, 13 administratively prohibited).
	Type string `json:"type"`
	Code int    `json:"code"`
	// Dst is the destination of the packet the message is about (the
	// original header it quotes), SrcPort its source port.
	Dst     netip.AddrPort `json:"dst"`
	SrcPort uint16         `json:"srcPort"`
}

func (e ICMPError) String() string {
	return fmt.Sprintf("%s (code %d) from %s about a packet to %s", e.Type, e.Code, e.From, e.Dst)
}

// ParseICMPError parses an ICMP (proto 1, IPv4 header stripped) or ICMPv6
// (proto 58) message from `from`. It returns false for anything but a
// destination unreachable or time exceeded message that quotes a TCP or UDP
// packet's header (echo replies, neighbor discovery, truncated or hostile
// bytes).
func ParseICMPError(proto int, from netip.Addr, b []byte) (ICMPError, bool) {
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return ICMPError{}, false
	}
	var quoted []byte
	switch body := m.Body.(type) {
	case *icmp.DstUnreach:
		quoted = body.Data
	case *icmp.TimeExceeded:
		quoted = body.Data
	default:
		return ICMPError{}, false
	}
	var typ string
	switch t := m.Type.(type) {
	case ipv4.ICMPType:
		typ = t.String()
	case ipv6.ICMPType:
		typ = t.String()
	}
	dst, srcPort, ok := quotedPacket(proto, quoted)
	if !ok {
		return ICMPError{}, false
	}
	return ICMPError{From: from.Unmap(), Type: strings.ToLower(typ), Code: m.Code, Dst: dst, SrcPort: srcPort}, true
}

// quotedPacket reads the destination and the source port of the IP packet
// an ICMP error quotes (its header and at least the first 8 bytes of its
// payload, which hold a TCP or UDP header's ports).
func quotedPacket(proto int, b []byte) (netip.AddrPort, uint16, bool) {
	var dst netip.Addr
	var l4 []byte
	var next byte
	switch proto {
	case 1:
		if len(b) < 20 || b[0]>>4 != 4 {
			return netip.AddrPort{}, 0, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl+4 {
			return netip.AddrPort{}, 0, false
		}
		next, dst, l4 = b[9], netip.AddrFrom4([4]byte(b[16:20])), b[ihl:]
	case 58:
		// The fixed header only: the lab's packets carry no extension
		// headers.
		if len(b) < 44 || b[0]>>4 != 6 {
			return netip.AddrPort{}, 0, false
		}
		next, dst, l4 = b[6], netip.AddrFrom16([16]byte(b[24:40])), b[40:]
	default:
		return netip.AddrPort{}, 0, false
	}
	if next != 6 && next != 17 {
		return netip.AddrPort{}, 0, false
	}
	return netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4])), binary.BigEndian.Uint16(l4[0:2]), true
}

// icmpWatch records the ICMP errors its host receives (raw sockets: root)
// about packets to dst, until ctx ends.
type icmpWatch struct {
	mu   sync.Mutex
	errs []ICMPError
	wg   sync.WaitGroup
}

// maxICMPErrors bounds what a watch keeps: enough to tell one hop from
// another.
const maxICMPErrors = 100

// watchICMP starts watching for ICMP errors about packets to dst on both
// families. A family whose socket cannot be opened is skipped: the
// watch is a diagnosis, the requests do not depend on it.
func watchICMP(ctx context.Context, dst netip.Addr) *icmpWatch {
	w := &icmpWatch{}
	for _, f := range []struct {
		network, addr string
		proto         int
	}{{"ip4:icmp", "0.0.0.0", 1}, {"ip6:ipv6-icmp", "::", 58}} {
		c, err := icmp.ListenPacket(f.network, f.addr)
		if err != nil {
			continue
		}
		w.wg.Go(func() {
			<-ctx.Done()
			_ = c.Close()
		})
		w.wg.Go(func() {
			buf := make([]byte, 1500)
			for {
				n, peer, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				ip, ok := peer.(*net.IPAddr)
				if !ok {
					continue
				}
				from, _ := netip.AddrFromSlice(ip.IP)
				e, ok := ParseICMPError(f.proto, from, buf[:n])
				if !ok || e.Dst.Addr() != dst {
					continue
				}
				e.At = time.Now()
				w.mu.Lock()
				if len(w.errs) < maxICMPErrors {
					w.errs = append(w.errs, e)
				}
				w.mu.Unlock()
			}
		})
	}
	return w
}

// wait returns what the watch recorded once its ctx has ended.
func (w *icmpWatch) wait() []ICMPError {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs)
}

// ICMPSummary counts the ICMP errors by kind and sender, e.g. "time
// exceeded (code 0) from 198.18.1.12 ×3", or "" when there were none.
func ICMPSummary(errs []ICMPError) string {
	counts := map[string]int{}
	for _, e := range errs {
		counts[fmt.Sprintf("%s (code %d) from %s", e.Type, e.Code, e.From)]++
	}
	var parts []string
	for k, c := range counts {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, c))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
