package layer2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clientSocket is a raw packet socket on the client's eth0.
type clientSocket struct {
	t    testing.TB
	conn *packet.Conn
	mac  net.HardwareAddr
}

func (l *l2lab) clientSocket(t testing.TB, etherType int) *clientSocket {
	t.Helper()
	var c *packet.Conn
	err := inNetNS(l.client, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, etherType, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	mac, _ := net.ParseMAC(clientMACs)
	return &clientSocket{t: t, conn: c, mac: mac}
}

func (c *clientSocket) send(frame []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteTo(frame, &packet.Addr{HardwareAddr: frame[0:6]}); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next received frame that match accepts, or nil after
// wait.
func (c *clientSocket) next(wait time.Duration, match func([]byte) bool) []byte {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	buf := make([]byte, 1514)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil
		}
		if match(buf[:n]) {
			return bytes.Clone(buf[:n])
		}
	}
}

func fromMAC(mac net.HardwareAddr) func([]byte) bool {
	return func(b []byte) bool { return len(b) >= 14 && bytes.Equal(b[6:12], mac) }
}

// TestOnTheWire runs one speaker on a segment and checks, from a client on
// the segment, every packet the speaker sends, and that the client's own
// kernel resolves the addresses through it.
func TestOnTheWire(t *testing.T) {
	l := newLab(t, 1)
	node := l.nodes[0]
	vip4 := netip.MustParseAddr("198.18.210.50")
	vip6 := netip.MustParseAddr("2001:db8:210::50")
	arpSock := l.clientSocket(t, etherTypeARP)
	ndSock := l.clientSocket(t, etherTypeIPv6)
	sp := l.start(node, ProfileFast, []netip.Addr{vip4, vip6}, testLogger(t))

	t.Run("taking an address sends both gratuitous ARP forms, three times", func(t *testing.T) {
		req := must(arpFrame(broadcastMAC, arp.OperationRequest, node.mac, vip4, zeroMAC, vip4))
		rep := must(arpFrame(broadcastMAC, arp.OperationReply, node.mac, vip4, node.mac, vip4))
		var got [][]byte
		var at []time.Time
		for len(got) < 6 {
			f := arpSock.next(5*time.Second, fromMAC(node.mac))
			if f == nil {
				t.Fatalf("got %d gratuitous ARP frames, want 6", len(got))
			}
			got, at = append(got, f), append(at, time.Now())
		}
		for i, f := range got {
			want := req
			if i%2 == 1 {
				want = rep
			}
			if !bytes.Equal(f, want) {
				t.Errorf("frame %d:\n got % x\nwant % x", i, f, want)
			}
		}
		// The burst is at 0, +1.1s, +2.2s: the pairs are about a second
		// apart (a loose bound: this checks the schedule exists, the
		// figures are the benchmark's).
		if gap := at[2].Sub(at[0]); gap < 800*time.Millisecond {
			t.Errorf("second announcement %s after the first, want about 1.1s", gap)
		}
	})

	t.Run("an ARP request is answered to the asker", func(t *testing.T) {
		arpSock.send(must(arpFrame(broadcastMAC, arp.OperationRequest, arpSock.mac, clientIP4, zeroMAC, vip4)))
		f := arpSock.next(5*time.Second, func(b []byte) bool {
			m, err := parseARP(b)
			return err == nil && m.op == arp.OperationReply && m.tpa == clientIP4
		})
		want := must(arpFrame(arpSock.mac, arp.OperationReply, node.mac, vip4, arpSock.mac, clientIP4))
		if !bytes.Equal(f, want) {
			t.Errorf("reply\n got % x\nwant % x", f, want)
		}
	})

	t.Run("an ARP request for another address is not answered", func(t *testing.T) {
		arpSock.send(must(arpFrame(broadcastMAC, arp.OperationRequest, arpSock.mac, clientIP4, zeroMAC, netip.MustParseAddr("198.18.210.51"))))
		if f := arpSock.next(300*time.Millisecond, func(b []byte) bool { m, err := parseARP(b); return err == nil && m.op == arp.OperationReply }); f != nil {
			t.Errorf("answered for an address it does not own: % x", f)
		}
	})

	// wantNA checks an advertisement for vip6 from the node.
	wantNA := func(t *testing.T, f []byte, dst netip.Addr, ethDst net.HardwareAddr, solicited bool) {
		t.Helper()
		if f == nil {
			t.Fatal("no neighbor advertisement")
		}
		m, err := parseND(f)
		if err != nil {
			t.Fatalf("advertisement does not parse as valid ND: %v", err)
		}
		if !m.na || m.target != vip6 || m.dst != dst || !bytes.Equal(f[0:6], ethDst) || !bytes.Equal(m.lla, node.mac) {
			t.Errorf("advertisement %+v (to %s), want target %s to %s (%s) with option %s", m, net.HardwareAddr(f[0:6]), vip6, dst, ethDst, node.mac)
		}
		flags := f[14+40+4]
		if got := flags&0x40 != 0; got != solicited {
			t.Errorf("Solicited = %v, want %v", got, solicited)
		}
		if flags&0x20 == 0 {
			t.Error("Override not set")
		}
		if !m.src.IsLinkLocalUnicast() {
			t.Errorf("sent from %s, want the interface's link-local address", m.src)
		}
	}
	isNAFromNode := func(b []byte) bool {
		m, err := parseND(b)
		return err == nil && m.na && bytes.Equal(b[6:12], node.mac)
	}

	t.Run("taking an IPv6 address sends an unsolicited advertisement to all nodes", func(t *testing.T) {
		// Sent with the first announcement, so already queued.
		wantNA(t, ndSock.next(5*time.Second, isNAFromNode), allNodes, multicastMAC(allNodes), false)
	})

	sn, _ := ndp.SolicitedNodeMulticast(vip6)
	t.Run("a multicast solicitation is answered Solicited and Override", func(t *testing.T) {
		ndSock.send(nsFrameFrom(t, ndSock.mac, solicitedNodeMAC(vip6), clientIP6, sn, vip6, 255, true))
		wantNA(t, ndSock.next(5*time.Second, func(b []byte) bool { return isNAFromNode(b) && b[14+40+4]&0x40 != 0 }), clientIP6, ndSock.mac, true)
	})

	t.Run("a unicast NUD probe is answered Solicited and Override", func(t *testing.T) {
		ndSock.send(nsFrameFrom(t, ndSock.mac, node.mac, clientIP6, vip6, vip6, 255, false))
		wantNA(t, ndSock.next(5*time.Second, func(b []byte) bool { return isNAFromNode(b) && b[14+40+4]&0x40 != 0 }), clientIP6, ndSock.mac, true)
	})

	t.Run("hostile and malformed packets are dropped, counted and not answered", func(t *testing.T) {
		before := map[string]float64{}
		for _, r := range []string{dropHopLimit, dropChecksum, dropBadSender, dropMalformed} {
			before[r] = testutil.ToFloat64(sp.metrics.dropped.WithLabelValues(r))
		}
		routed := nsFrameFrom(t, ndSock.mac, node.mac, clientIP6, vip6, vip6, 254, false)
		ndSock.send(routed)
		ndSock.send(patch(nsFrameFrom(t, ndSock.mac, node.mac, clientIP6, vip6, vip6, 255, false), 14+40+2, 0xde, 0xad))
		ndSock.send(badOptionNS(t, ndSock.mac, node.mac, vip6))
		bcast := patch(must(arpFrame(broadcastMAC, arp.OperationRequest, arpSock.mac, clientIP4, zeroMAC, vip4)), 22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		arpSock.send(bcast)
		if f := ndSock.next(300*time.Millisecond, func(b []byte) bool { return isNAFromNode(b) && b[14+40+4]&0x40 != 0 }); f != nil {
			t.Errorf("answered a hostile solicitation: % x", f)
		}
		eventually(t, "the drops to be counted", func() (bool, string) {
			var b strings.Builder
			ok := true
			for r, v := range before {
				got := testutil.ToFloat64(sp.metrics.dropped.WithLabelValues(r))
				if got < v+1 {
					ok = false
					b.WriteString(r + " not counted; ")
				}
			}
			return ok, b.String()
		})
	})

	t.Run("the client's kernel resolves both addresses to the node", func(t *testing.T) {
		for _, a := range []netip.Addr{vip4, vip6} {
			if got := l.resolve(t, a); got != node.mac.String() {
				t.Errorf("client resolves %s to %s, want %s", a, got, node.mac)
			}
		}
	})

	t.Run("the addresses are on no interface of the node", func(t *testing.T) {
		out := sh(t, "ip", "-n", "l2t-"+l.id+"-n1", "addr")
		for _, a := range []netip.Addr{vip4, vip6} {
			if strings.Contains(out, a.String()+"/") {
				t.Errorf("%s was added to an interface:\n%s", a, out)
			}
		}
	})

	t.Run("a foreign MAC claiming an owned address is counted and answered with announcements", func(t *testing.T) {
		before := testutil.ToFloat64(sp.metrics.conflicts)
		arpSock.send(must(arpFrame(broadcastMAC, arp.OperationReply, arpSock.mac, vip4, arpSock.mac, vip4)))
		eventually(t, "the conflict to be counted", func() (bool, string) {
			got := testutil.ToFloat64(sp.metrics.conflicts)
			return got >= before+1, fmt.Sprintf("conflicts %v", got)
		})
		if f := arpSock.next(5*time.Second, func(b []byte) bool {
			m, err := parseARP(b)
			return err == nil && bytes.Equal(m.sha, node.mac) && m.spa == vip4 && m.tpa == vip4
		}); f == nil {
			t.Error("no gratuitous ARP after the conflict")
		}
	})
}

// badOptionNS is a unicast solicitation whose IPv6 header and checksum are
// right but whose option has length 0, which RFC 4861 §4.6 says to drop.
func badOptionNS(t testing.TB, from, to net.HardwareAddr, target netip.Addr) []byte {
	t.Helper()
	f := nsFrameFrom(t, from, to, clientIP6, target, target, 255, false)
	f = append(f, 1, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(f[14+4:], uint16(len(f)-14-40))
	icmp := f[14+40:]
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], checksum(clientIP6, target, icmp))
	return f
}

// TestStallGuard freezes the speaker's loop for longer than the stall gap
// (as SIGSTOP or a paused VM would) after its announcements are done, and
// checks that it announces again once it runs.
func TestStallGuard(t *testing.T) {
	l := newLab(t, 1)
	node := l.nodes[0]
	vip := netip.MustParseAddr("198.18.210.52")
	arpSock := l.clientSocket(t, etherTypeARP)
	sp := l.start(node, ProfileFast, []netip.Addr{vip}, testLogger(t))
	isGARP := func(b []byte) bool {
		m, err := parseARP(b)
		return err == nil && bytes.Equal(m.sha, node.mac) && m.spa == vip && m.tpa == vip
	}
	for i := range 6 { // the burst: 3 × request and reply
		if arpSock.next(5*time.Second, isGARP) == nil {
			t.Fatalf("burst: got %d frames, want 6", i)
		}
	}
	// The refresh is a minute away: any announcement now is the guard's.
	sp.mu.Lock()
	time.Sleep(2 * stallGap)
	sp.mu.Unlock()
	if arpSock.next(5*time.Second, isGARP) == nil {
		t.Fatal("no announcement after the stall")
	}
	if got := testutil.ToFloat64(sp.metrics.stalls); got < 1 {
		t.Errorf("stalls = %v, want at least 1", got)
	}
}

// TestClientNUDProbe lets the client's own kernel run neighbour
// unreachability detection on an IPv6 address: the entry goes STALE, the
// kernel probes with unicast solicitations to the address itself, and the
// speaker's Solicited+Override answers bring it back to REACHABLE — it
// never goes FAILED.
func TestClientNUDProbe(t *testing.T) {
	l := newLab(t, 1)
	node := l.nodes[0]
	vip := netip.MustParseAddr("2001:db8:210::52")
	sp := l.start(node, ProfileFast, []netip.Addr{vip}, testLogger(t))
	// Probe after 1s in DELAY instead of 5s.
	sh(t, "ip", "netns", "exec", l.cname, "sysctl", "-qw", "net.ipv6.neigh.eth0.delay_first_probe_time=1")
	if got := l.resolve(t, vip); got != node.mac.String() {
		t.Fatalf("client resolves %s to %s, want %s", vip, got, node.mac)
	}
	before := testutil.ToFloat64(sp.metrics.replies.WithLabelValues("ipv6"))
	sh(t, "ip", "-n", l.cname, "neigh", "change", vip.String(), "dev", "eth0", "lladdr", node.mac.String(), "nud", "stale")
	state := func() string {
		out := sh(t, "ip", "-n", l.cname, "neigh", "show", vip.String(), "dev", "eth0")
		return strings.TrimSpace(out)
	}
	// Traffic to a STALE entry starts DELAY, then PROBE (unicast NS).
	eventually(t, "the client's probe to be answered and the entry REACHABLE again", func() (bool, string) {
		if err := inNetNS(l.client, func() error {
			c, err := net.Dial("udp", net.JoinHostPort(vip.String(), "9"))
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }()
			_, err = c.Write([]byte("x"))
			return err
		}); err != nil {
			return false, err.Error()
		}
		s := state()
		if strings.Contains(s, "FAILED") {
			t.Fatalf("the client's entry failed: %s", s)
		}
		answered := testutil.ToFloat64(sp.metrics.replies.WithLabelValues("ipv6")) > before
		return answered && strings.Contains(s, "REACHABLE"), s
	})
}

// TestIPVSWithoutStrictARP: on a node where kube-proxy runs in IPVS mode
// without strictARP, the kernel itself answers ARP for the addresses bound
// on kube-ipvs0 (shown first, the problem is real); the speaker says so —
// Problems, one OnProblem call for the Event — and clears it when
// strictARP's sysctls are set.
func TestIPVSWithoutStrictARP(t *testing.T) {
	l := newLab(t, 1)
	node := l.nodes[0]
	ns := "l2t-" + l.id + "-n1"
	vip := netip.MustParseAddr("198.18.210.53")
	// kube-proxy makes kube-ipvs0 a dummy device; this kernel has no dummy
	// driver, and the type matters neither to the speaker (the name does)
	// nor to the kernel's ARP answers (any local address is answered).
	sh(t, "ip", "-n", ns, "link", "add", "kube-ipvs0", "type", "bridge")
	sh(t, "ip", "-n", ns, "addr", "add", vip.String()+"/32", "dev", "kube-ipvs0")
	sh(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf.all.arp_announce=0")
	if mac := l.resolve(t, vip); !strings.EqualFold(mac, node.mac.String()) {
		t.Fatalf("without strictARP the node's kernel should answer ARP for %s on kube-ipvs0; the client resolved %q", vip, mac)
	}

	var mu sync.Mutex
	var events []string
	sp := l.startWith(node, Options{Profile: ProfileFast, OnProblem: func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, msg)
	}}, []netip.Addr{netip.MustParseAddr("198.18.210.54")}, testLogger(t))
	eventually(t, "the IPVS problem reported", func() (bool, string) {
		p := sp.Problems()
		return len(p) == 1 && strings.Contains(p[0], "strictARP: true"), fmt.Sprint(p)
	})
	time.Sleep(10 * tick)
	mu.Lock()
	if len(events) != 1 {
		t.Errorf("OnProblem called %d times, want once: %q", len(events), events)
	}
	mu.Unlock()

	// strictARP on; kube-proxy binding one more address is the event that
	// makes the speaker look again.
	sh(t, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2")
	sh(t, "ip", "-n", ns, "addr", "add", "198.18.210.55/32", "dev", "kube-ipvs0")
	eventually(t, "the IPVS problem cleared", func() (bool, string) {
		p := sp.Problems()
		return len(p) == 0, fmt.Sprint(p)
	})
}
