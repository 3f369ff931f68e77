package layer2

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/go-logr/logr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	// packetOutgoing is PACKET_OUTGOING, the type of the frames a packet
	// socket sees leave the interface.
	packetOutgoing = 4
)

// responder answers for the addresses this node owns on one interface:
// ARP requests on one AF_PACKET socket, Neighbor Solicitations on another.
// NS are read on AF_PACKET rather than an ICMPv6 socket because the
// address is on no interface: the kernel would deliver unicast NUD probes
// for it to nobody. It also sends the announcements.
type responder struct {
	log     logr.Logger
	ifi     net.Interface
	arpConn *packet.Conn
	ndConn  *packet.Conn
	metrics *metrics
	// conflict is called with an owned address some other MAC claims.
	conflict func(ifname string, addr netip.Addr, mac net.HardwareAddr)

	// groupConn is an IPv6 socket that only joins the solicited-node
	// groups of the owned addresses: the kernel then sends MLD reports,
	// so that a snooping switch (or bridge) forwards their multicast
	// solicitations to this port, and opens the NIC's multicast filter.
	// nil when the interface has no IPv6.
	groupConn *ipv6.PacketConn

	mu     sync.RWMutex
	owned  map[netip.Addr]bool
	groups map[netip.Addr]bool // solicited-node groups joined
	src6   netip.Addr          // source of our advertisements
	wg     sync.WaitGroup
}

// arpFilter passes ARP frames that were not sent by this host.
var arpFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
})

// ndFilter passes IPv6 Neighbor Solicitations and Advertisements (next
// header ICMPv6 at offset 14+6, type at 14+40) that were not sent by this
// host; validity is checked in parseND.
var ndFilter = mustAssemble([]bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 6},
	bpf.LoadAbsolute{Off: 20, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 4},
	bpf.LoadAbsolute{Off: 54, Size: 1},
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: 135, SkipTrue: 1},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 136, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
})

func mustAssemble(prog []bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic(err)
	}
	return raw
}

// openResponder opens the sockets on ifi (in ns) and starts reading.
func openResponder(log logr.Logger, ns netns.NsHandle, ifi net.Interface, m *metrics,
	conflict func(string, netip.Addr, net.HardwareAddr)) (*responder, error) {
	r := &responder{log: log, ifi: ifi, metrics: m, conflict: conflict,
		owned: map[netip.Addr]bool{}, groups: map[netip.Addr]bool{}}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %s has no Ethernet address", ifi.Name)
	}
	err := inNetNS(ns, func() error {
		var err error
		if r.arpConn, err = packet.Listen(&ifi, packet.Raw, etherTypeARP, &packet.Config{Filter: arpFilter}); err != nil {
			return fmt.Errorf("opening ARP socket on %s: %w", ifi.Name, err)
		}
		if r.ndConn, err = packet.Listen(&ifi, packet.Raw, etherTypeIPv6, &packet.Config{Filter: ndFilter}); err != nil {
			_ = r.arpConn.Close()
			return fmt.Errorf("opening NDP socket on %s: %w", ifi.Name, err)
		}
		// ICMPv6 with a filter that passes nothing: the socket exists to
		// hold group memberships and never reads.
		pc, err := net.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			r.log.V(1).Info("Could not open a socket for multicast groups; multicast solicitations may not arrive", "interface", ifi.Name, "error", err.Error())
			return nil
		}
		r.groupConn = ipv6.NewPacketConn(pc)
		var f ipv6.ICMPFilter
		f.SetAll(true)
		_ = r.groupConn.SetICMPFilter(&f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.wg.Add(2)
	go r.readLoop(r.arpConn, r.handleARP)
	go r.readLoop(r.ndConn, r.handleND)
	return r, nil
}

// close stops answering at once: the sockets are closed, which also
// leaves the multicast groups.
func (r *responder) close() {
	_ = r.arpConn.Close()
	_ = r.ndConn.Close()
	if r.groupConn != nil {
		_ = r.groupConn.Close()
	}
	r.wg.Wait()
}

// setSource sets the source address of advertisements: the interface's
// link-local address, or the zero Addr to send from the target itself.
func (r *responder) setSource(src netip.Addr) {
	r.mu.Lock()
	r.src6 = src
	r.mu.Unlock()
}

// set replaces the addresses answered for, and joins the solicited-node
// groups of the IPv6 ones and leaves the groups no longer needed.
func (r *responder) set(addrs []netip.Addr) {
	owned := make(map[netip.Addr]bool, len(addrs))
	groups := map[netip.Addr]bool{}
	for _, a := range addrs {
		owned[a] = true
		if a.Is6() {
			if g, err := ndp.SolicitedNodeMulticast(a); err == nil {
				groups[g] = true
			}
		}
	}
	r.mu.Lock()
	old := r.groups
	r.owned, r.groups = owned, groups
	r.mu.Unlock()
	if r.groupConn == nil {
		return
	}
	for g := range groups {
		if !old[g] {
			if err := r.groupConn.JoinGroup(&r.ifi, &net.IPAddr{IP: g.AsSlice()}); err != nil {
				r.log.Error(err, "Could not join a solicited-node group; multicast solicitations may not arrive", "interface", r.ifi.Name, "group", g.String())
			}
		}
	}
	for g := range old {
		if !groups[g] {
			_ = r.groupConn.LeaveGroup(&r.ifi, &net.IPAddr{IP: g.AsSlice()})
		}
	}
}

func (r *responder) owns(a netip.Addr) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.owned[a]
}

func (r *responder) readLoop(c *packet.Conn, handle func([]byte)) {
	defer r.wg.Done()
	buf := make([]byte, 1514)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			r.log.V(1).Info("Read from packet socket failed", "interface", r.ifi.Name, "error", err.Error())
			if isClosedErr(err) {
				return
			}
			continue
		}
		handle(buf[:n])
	}
}

// isClosedErr: a socket whose interface went away reports ENETDOWN or
// ENXIO forever; the caller reopens it when the interface comes back.
func isClosedErr(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EBADF)
}

func (r *responder) handleARP(frame []byte) {
	m, err := parseARP(frame)
	if err != nil {
		r.log.V(2).Info("Dropped an ARP packet", "interface", r.ifi.Name, "error", err.Error())
		r.metrics.dropped.WithLabelValues(dropReason(err)).Inc()
		return
	}
	if [6]byte(m.sha) == [6]byte(r.ifi.HardwareAddr) {
		return // ours, seen through another socket
	}
	if m.spa.IsValid() && r.owns(m.spa) {
		// Someone else uses an address we own: a conflict, whatever the
		// operation (a request from it also poisons caches).
		r.conflict(r.ifi.Name, m.spa, m.sha)
	}
	if m.op != arp.OperationRequest || !r.owns(m.tpa) || m.spa == m.tpa {
		return // replies and others' announcements need no answer
	}
	b, err := arpReply(m, r.ifi.HardwareAddr)
	if err == nil {
		err = r.send(r.arpConn, m.sha, b)
	}
	if err != nil {
		r.log.V(1).Info("Could not answer an ARP request", "interface", r.ifi.Name, "ip", m.tpa.String(), "error", err.Error())
		return
	}
	r.metrics.replies.WithLabelValues("ipv4").Inc()
}

func (r *responder) handleND(frame []byte) {
	m, err := parseND(frame)
	if err != nil {
		r.log.V(2).Info("Dropped a neighbor discovery packet", "interface", r.ifi.Name, "error", err.Error())
		r.metrics.dropped.WithLabelValues(dropReason(err)).Inc()
		return
	}
	if [6]byte(m.ethSrc) == [6]byte(r.ifi.HardwareAddr) || !r.owns(m.target) {
		return
	}
	if m.na {
		mac := m.lla
		if mac == nil {
			mac = m.ethSrc
		}
		r.conflict(r.ifi.Name, m.target, mac)
		return
	}
	b, err := naReply(m, r.ifi.HardwareAddr, r.source(m.target))
	if err == nil {
		err = r.send(r.ndConn, net.HardwareAddr(b[0:6]), b)
	}
	if err != nil {
		r.log.V(1).Info("Could not answer a neighbor solicitation", "interface", r.ifi.Name, "ip", m.target.String(), "error", err.Error())
		return
	}
	r.metrics.replies.WithLabelValues("ipv6").Inc()
}

func (r *responder) source(target netip.Addr) netip.Addr {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.src6.IsValid() {
		return r.src6
	}
	return target
}

func (r *responder) send(c *packet.Conn, dst net.HardwareAddr, frame []byte) error {
	if _, err := c.WriteTo(frame, &packet.Addr{HardwareAddr: dst}); err != nil {
		return fmt.Errorf("sending on %s: %w", r.ifi.Name, err)
	}
	return nil
}

// announce sends the announcement of addr: the two gratuitous ARP forms
// for IPv4, an unsolicited Neighbor Advertisement for IPv6.
func (r *responder) announce(addr netip.Addr) error {
	if addr.Is4() {
		g, err := gratuitousARP(addr, r.ifi.HardwareAddr)
		if err != nil {
			return err
		}
		for _, b := range g {
			if err := r.send(r.arpConn, broadcastMAC, b); err != nil {
				return err
			}
		}
		r.metrics.announcements.WithLabelValues("ipv4").Inc()
		return nil
	}
	b, err := unsolicitedNA(addr, r.ifi.HardwareAddr, r.source(addr))
	if err != nil {
		return err
	}
	if err := r.send(r.ndConn, multicastMAC(allNodes), b); err != nil {
		return err
	}
	r.metrics.announcements.WithLabelValues("ipv6").Inc()
	return nil
}
