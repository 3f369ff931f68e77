package layer2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// l2lab is a layer 2 segment in network namespaces named l2t-*: a bridge
// namespace, node namespaces with eth0 on the bridge (198.18.210.1N/24,
// 2001:db8:210::1N/64), and a client namespace (198.18.210.100,
// 2001:db8:210::100).
type l2lab struct {
	t      testing.TB
	id     string
	nodes  []*l2node
	client netns.NsHandle
	cname  string
}

type l2node struct {
	name string
	ns   netns.NsHandle
	ip4  netip.Addr
	ip6  netip.Addr
	mac  net.HardwareAddr

	mu     sync.Mutex
	sp     *Speaker
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	labKey     = []byte("0123456789abcdef")
	clientIP4  = netip.MustParseAddr("198.18.210.100")
	clientIP6  = netip.MustParseAddr("2001:db8:210::100")
	clientMACs = "02:00:00:d2:00:64"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and packet sockets (run as root; CI does)")
	}
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newLab builds the segment with n nodes; everything is removed in cleanup.
func newLab(t testing.TB, n int) *l2lab {
	t.Helper()
	needRoot(t)
	var b [2]byte
	_, _ = rand.Read(b[:])
	l := &l2lab{t: t, id: hex.EncodeToString(b[:])}
	br := "l2t-" + l.id + "-br"
	var created []string
	var handles []netns.NsHandle
	// One cleanup, in order: speakers first (they use the handles), then
	// the handles, then the namespaces.
	t.Cleanup(func() {
		for _, n := range l.nodes {
			n.stop()
		}
		for _, h := range handles {
			_ = h.Close()
		}
		for _, ns := range created {
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	addNS := func(name string) netns.NsHandle {
		sh(t, "ip", "netns", "add", name)
		created = append(created, name)
		h, err := netns.GetFromName(name)
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
		sh(t, "ip", "-n", name, "link", "set", "lo", "up")
		return h
	}
	addNS(br)
	sh(t, "ip", "-n", br, "link", "add", "br0", "type", "bridge")
	sh(t, "ip", "-n", br, "link", "set", "br0", "up")
	// plug creates eth0 in ns, its peer on the bridge.
	plug := func(ns, port, mac string, addrs ...string) {
		sh(t, "ip", "-n", br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns, "address", mac)
		sh(t, "ip", "-n", br, "link", "set", port, "master", "br0", "up")
		for _, a := range addrs {
			args := []string{"ip", "-n", ns, "addr", "add", a, "dev", "eth0"}
			if strings.Contains(a, ":") {
				args = append(args, "nodad")
			}
			sh(t, args...)
		}
		sh(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("l2t-%s-n%d", l.id, i)
		node := &l2node{
			name: fmt.Sprintf("node%d", i),
			ns:   addNS(name),
			ip4:  netip.MustParseAddr(fmt.Sprintf("198.18.210.%d", 10+i)),
			ip6:  netip.MustParseAddr(fmt.Sprintf("2001:db8:210::%d", 10+i)),
			mac:  net.HardwareAddr{0x02, 0, 0, 0xd2, 0, byte(10 + i)},
		}
		plug(name, fmt.Sprintf("p%d", i), node.mac.String(), node.ip4.String()+"/24", node.ip6.String()+"/64")
		l.nodes = append(l.nodes, node)
	}
	l.cname = "l2t-" + l.id + "-c"
	l.client = addNS(l.cname)
	plug(l.cname, "pc", clientMACs, clientIP4.String()+"/24", clientIP6.String()+"/64")
	// The kernel reports a veth's carrier, and the bridge starts
	// forwarding on its port, asynchronously (linkwatch may take up to a
	// second): frames sent before that are lost. Wait for every port.
	ports := n + 1
	eventually(t, "every bridge port forwarding and every eth0 up", func() (bool, string) {
		out := sh(t, "bridge", "-n", br, "link", "show")
		if got := strings.Count(out, "state forwarding"); got != ports {
			return false, out
		}
		for _, ns := range created[1:] { // the nodes and the client
			if o := sh(t, "ip", "-n", ns, "-o", "link", "show", "eth0"); !strings.Contains(o, "state UP") {
				return false, o
			}
		}
		return true, ""
	})
	return l
}

func (l *l2lab) nodeNames() []string {
	var out []string
	for _, n := range l.nodes {
		out = append(out, n.name)
	}
	return out
}

func (l *l2lab) peers() []netip.Addr {
	var out []netip.Addr
	for _, n := range l.nodes {
		out = append(out, n.ip4)
	}
	return out
}

// desired is what every node is told: addrs, each elected by itself, on
// every node, on the subnet's interface.
func (l *l2lab) desired(n *l2node, addrs []netip.Addr) Desired {
	return l.desiredOn(n, addrs, l.nodeNames())
}

// desiredOn is desired with only nodes eligible (as when a Local-policy
// Service's endpoints are on those nodes).
func (l *l2lab) desiredOn(n *l2node, addrs []netip.Addr, nodes []string) Desired {
	d := Desired{Enabled: true, Synced: true, Key: labKey, Advertise: n.ip4, Peers: l.peers()}
	for _, a := range addrs {
		d.Addresses = append(d.Addresses, Address{Addr: a, Key: a, Rules: []Rule{{Nodes: nodes, Refresh: time.Minute}}})
	}
	return d
}

// start runs a fresh speaker on n.
func (l *l2lab) start(n *l2node, profile Profile, addrs []netip.Addr, log logr.Logger) *Speaker {
	return l.startWith(n, Options{Profile: profile}, addrs, log)
}

// startWith is start with more options (the node's name, logger, netns and
// a short JoinGrace are filled in).
func (l *l2lab) startWith(n *l2node, o Options, addrs []netip.Addr, log logr.Logger) *Speaker {
	n.stop()
	o.NodeName, o.Logger, o.NetNS, o.JoinGrace = n.name, log.WithValues("node", n.name), n.ns, 2*time.Second
	sp := New(o)
	sp.Reconcile(l.desired(n, addrs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sp.Run(ctx); err != nil {
			l.t.Errorf("speaker %s: %v", n.name, err)
		}
	}()
	n.mu.Lock()
	n.sp, n.cancel, n.done = sp, cancel, done
	n.mu.Unlock()
	return sp
}

// moveEndpoints tells every running speaker that only nodes may own addrs.
func (l *l2lab) moveEndpoints(addrs []netip.Addr, nodes []string) {
	l.moveEndpointsOn(l.nodes, addrs, nodes)
}

// moveEndpointsOn tells the speakers of on (the others learn later, as
// informers do) that only nodes may own addrs.
func (l *l2lab) moveEndpointsOn(on []*l2node, addrs []netip.Addr, nodes []string) {
	for _, n := range on {
		if sp := n.speaker(); sp != nil {
			sp.Reconcile(l.desiredOn(n, addrs, nodes))
		}
	}
}

// stop ends n's speaker gracefully (a SIGTERM) and waits for it.
func (n *l2node) stop() {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.sp, n.cancel, n.done = nil, nil, nil
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// crash kills n's speaker abruptly (a SIGKILL), then ends its loop.
func (n *l2node) crash() {
	n.mu.Lock()
	sp := n.sp
	n.mu.Unlock()
	if sp != nil {
		sp.Crash()
	}
	n.stop()
}

func (n *l2node) speaker() *Speaker {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sp
}

// owners returns, per address, the nodes that own it.
func (l *l2lab) owners() map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, n := range l.nodes {
		sp := n.speaker()
		if sp == nil {
			continue
		}
		for _, o := range sp.Owned() {
			out[o.Addr] = append(out[o.Addr], n.name)
		}
	}
	return out
}

// eventually polls cond every 10ms for up to 20s.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// clientNeigh returns the client's neighbour entry's MAC for addr ("" if
// none or not resolved).
func (l *l2lab) clientNeigh(addr netip.Addr) string {
	h, err := netlink.NewHandleAt(l.client)
	if err != nil {
		l.t.Fatal(err)
	}
	defer h.Close()
	fam := netlink.FAMILY_V4
	if addr.Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := h.NeighList(0, fam)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, n := range list {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == addr && n.HardwareAddr != nil && n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) == 0 {
			return n.HardwareAddr.String()
		}
	}
	return ""
}

// resolve makes the client's kernel resolve addr (a datagram to the
// discard port makes it send ARP or NS), and waits for the entry.
func (l *l2lab) resolve(t testing.TB, addr netip.Addr) string {
	t.Helper()
	var mac string
	eventually(t, "the client to resolve "+addr.String(), func() (bool, string) {
		if err := inNetNS(l.client, func() error {
			c, err := net.Dial("udp", net.JoinHostPort(addr.String(), "9"))
			if err != nil {
				return err
			}
			defer func() { _ = c.Close() }()
			_, err = c.Write([]byte("x"))
			return err
		}); err != nil {
			return false, err.Error()
		}
		time.Sleep(20 * time.Millisecond)
		mac = l.clientNeigh(addr)
		return mac != "", "no entry"
	})
	return mac
}

// testLogger logs to stderr with -v (not through t: memberlist's
// goroutines may log after a test ends).
func testLogger(testing.TB) logr.Logger {
	if !testing.Verbose() {
		return logr.Discard()
	}
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), prefix, args) }, funcr.Options{Verbosity: 2})
}
