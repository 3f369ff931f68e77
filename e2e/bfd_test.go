//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/e2e/lab"
)

// setPeerBFD sets spec.bfd of the lab's BGPPeer (nil: BFD off).
func setPeerBFD(l *lab.Lab, ctx context.Context, bfd *seamarkv1alpha1.BFD) error {
	p := &seamarkv1alpha1.BGPPeer{}
	if err := l.Client.Get(ctx, client.ObjectKey{Name: lab.PeerName}, p); err != nil {
		return err
	}
	p.Spec.BFD = bfd
	return l.Client.Update(ctx, p)
}

// bfdPeerOf returns the router's BFD session with addr, if any: FRR keeps
// one per neighbour of a peer group with bfd.
func bfdPeerOf(l *lab.Lab, addr string) (lab.BFDPeer, bool, error) {
	peers, err := l.BFDPeers()
	if err != nil {
		return lab.BFDPeer{}, false, err
	}
	for _, p := range peers {
		if p.Peer == addr {
			return p, true, nil
		}
	}
	return lab.BFDPeer{}, false, nil
}

// wantBFDUp waits until the router's BFD session with every one of nodes
// is up, has been for minUp (FRR 8.4 may replace a session once after BGP
// comes up: a young session is not yet the one that stays), and carries
// the node's timers exactly as the BGPPeer gives them and the router's
// profile (300 ms × 3) on its own side.
func wantBFDUp(t testing.TB, l *lab.Lab, nodes []lab.Node, rxMs, txMs, mult int, minUp time.Duration) {
	t.Helper()
	wantBFDUpWith(t, l, nodes, rxMs, txMs, mult, 300, minUp)
}

// wantBFDUpWith is wantBFDUp with the router's profile at routerMs × 3.
func wantBFDUpWith(t testing.TB, l *lab.Lab, nodes []lab.Node, rxMs, txMs, mult, routerMs int, minUp time.Duration) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("BFD up at the router for %v at %dms/%dms×%d", names(nodes), rxMs, txMs, mult), func() error {
		for _, n := range nodes {
			p, ok, err := bfdPeerOf(l, n.Addr.String())
			if err != nil {
				return err
			}
			switch {
			case !ok:
				return fmt.Errorf("no BFD session with %s", n.Addr)
			case p.Status != "up":
				return fmt.Errorf("BFD with %s is %s", n.Addr, p.Status)
			case p.RemoteRx != rxMs || p.RemoteTx != txMs || p.RemoteMult != mult:
				return fmt.Errorf("BFD with %s: node's timers %dms/%dms×%d, want %dms/%dms×%d", n.Addr, p.RemoteRx, p.RemoteTx, p.RemoteMult, rxMs, txMs, mult)
			case p.RxInterval != routerMs || p.TxInterval != routerMs || p.Multiplier != 3:
				return fmt.Errorf("BFD with %s: router's timers %dms/%dms×%d, want the profile's %dms/%dms×3", n.Addr, p.RxInterval, p.TxInterval, p.Multiplier, routerMs, routerMs)
			case time.Duration(p.Uptime)*time.Second < minUp:
				return fmt.Errorf("BFD with %s up for only %ds", n.Addr, p.Uptime)
			}
		}
		return nil
	})
}

// wantBFDNotUp waits until the router's BFD session with every one of
// nodes is anything but up.
func wantBFDNotUp(t testing.TB, l *lab.Lab, nodes []lab.Node) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("BFD not up at the router for %v", names(nodes)), func() error {
		for _, n := range nodes {
			p, ok, err := bfdPeerOf(l, n.Addr.String())
			if err != nil {
				return err
			}
			if ok && p.Status == "up" {
				return fmt.Errorf("BFD with %s is still up", n.Addr)
			}
		}
		return nil
	})
}

// cableRig pulls and plugs node n's fabric cable and times, with the
// router's route watcher w, n's next hop leaving and rejoining the
// router's kernel route for prefix (all: every node's address, sorted).
type cableRig struct {
	w      *lab.RouteWatch
	n      lab.Node
	prefix string
	all    []string
}

// cut pulls n's cable and returns when its next hop left the router's
// kernel route, false if it is still there after timeout. Timed from
// before the `ip link set`: an upper bound.
func (r cableRig) cut(t testing.TB, timeout time.Duration) (time.Duration, bool) {
	t.Helper()
	cutAt := time.Now()
	if err := lab.SetCable(r.n, false); err != nil {
		fatal(t, "%v", err)
	}
	c, err := r.w.Wait(cutAt, timeout, func(c lab.RouteChange) bool {
		return c.Prefix.String() == r.prefix && !slices.Contains(c.Hops, r.n.Addr.String())
	})
	if err != nil {
		return 0, false
	}
	return c.At.Sub(cutAt), true
}

// plug plugs n's cable back and returns when the router's kernel route
// has every node again.
func (r cableRig) plug(t testing.TB) time.Duration {
	t.Helper()
	pluggedAt := time.Now()
	if err := lab.SetCable(r.n, true); err != nil {
		fatal(t, "%v", err)
	}
	c, err := r.w.Wait(pluggedAt, 60*time.Second, func(c lab.RouteChange) bool {
		got := slices.Clone(c.Hops)
		slices.Sort(got)
		return c.Prefix.String() == r.prefix && slices.Equal(got, r.all)
	})
	if err != nil {
		fatal(t, "after plugging %s's cable back the router's route did not return to %v: %v", r.n.Name, r.all, err)
	}
	return c.At.Sub(pluggedAt)
}

// Scenario 9: BFD. With bfd on the BGPPeer, the router's BFD sessions with
// every node come up with the configured timers; pulling one node's fabric
// cable (carrier loss: no FIN, no NOTIFICATION reaches the router) removes
// its next hop from the router's kernel route well before the BGP hold
// time (9 s), the other nodes keep serving, and after the cable returns
// BFD and the route come back. The control: the same cut with BFD off on
// the BGPPeer leaves the next hop in place past 3 s.
//
// The cable is pulled at the node's bridge port (lab.SetCable), not by
// taking the node's own link administratively down: that would delete the
// node's routes over the fabric, which nothing in the lab puts back.
func TestBFD(t *testing.T) {
	const ns = "e2e-bfd"
	l, ctx := setup(t, ns)
	n1, others := l.NodeList[0], l.NodeList[1:]
	// Local policy: every node answers with its own pod, so the nodes that
	// keep their cable serve whatever the first node's state.
	addr := serviceAddr(t, l, ctx, ns, "web", l.NodeList, lab.ServiceOptions{Local: true})
	prefix := hostPrefix(addr)
	all := addrs(l.NodeList...)
	wantNextHops(t, l, prefix, all)
	t.Cleanup(func() {
		if err := lab.SetCable(n1, true); err != nil {
			errorf(t, "%v", err)
		}
		if err := setPeerBFD(l, ctx, nil); err != nil {
			errorf(t, "%v", err)
		}
		// Turning BFD off resets FRR 8.4's session once (docs/bfd.md):
		// the next test starts once it is back.
		wantBFDNotUp(t, l, l.NodeList)
		wantSessions(t, l)
		wantNextHops(t, l, prefix, all)
	})

	w, err := l.WatchRoutes()
	if err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(w.Stop)
	rig := cableRig{w: w, n: n1, prefix: prefix, all: all}

	if err := setPeerBFD(l, ctx, &seamarkv1alpha1.BFD{Enabled: true}); err != nil {
		fatal(t, "%v", err)
	}
	wantBFDUp(t, l, l.NodeList, 300, 300, 3, 3*time.Second)
	wantSessions(t, l)
	wantNextHops(t, l, prefix, all)
	wantReplies(t, l, lab.URL(addr), 60, l.NodeList, fromClient())

	// Timers changed on the BGPPeer reach the router by Poll/Final: the
	// router shows the new ones, and neither BGP nor BFD went down.
	type before struct {
		bgp lab.BGPSessionCounters
		bfd lab.BFDPeer
	}
	was := map[string]before{}
	for _, n := range l.NodeList {
		c, err := l.SessionCounters(n.Addr.String())
		if err != nil {
			fatal(t, "%v", err)
		}
		if c.Established == 0 {
			fatal(t, "the router's counters of %s read as %+v: not parsed", n.Addr, c)
		}
		p, _, err := bfdPeerOf(l, n.Addr.String())
		if err != nil {
			fatal(t, "%v", err)
		}
		was[n.Name] = before{c, p}
	}
	d := func(t time.Duration) *metav1.Duration { return &metav1.Duration{Duration: t} }
	if err := setPeerBFD(l, ctx, &seamarkv1alpha1.BFD{Enabled: true, ReceiveInterval: d(200 * time.Millisecond), TransmitInterval: d(200 * time.Millisecond)}); err != nil {
		fatal(t, "%v", err)
	}
	wantBFDUp(t, l, l.NodeList, 200, 200, 3, 0)
	// Back to the defaults, for the cut below at 300 ms × 3.
	if err := setPeerBFD(l, ctx, &seamarkv1alpha1.BFD{Enabled: true}); err != nil {
		fatal(t, "%v", err)
	}
	wantBFDUp(t, l, l.NodeList, 300, 300, 3, 0)
	for _, n := range l.NodeList {
		c, err := l.SessionCounters(n.Addr.String())
		if err != nil {
			fatal(t, "%v", err)
		}
		p, _, err := bfdPeerOf(l, n.Addr.String())
		if err != nil {
			fatal(t, "%v", err)
		}
		w := was[n.Name]
		// FRR computes the epoch from the uptime: it may move by a
		// second without a reset; the counters do not.
		if c.Established != w.bgp.Established || c.Dropped != w.bgp.Dropped {
			errorf(t, "changing the BFD timers reset the router's BGP session with %s: counters %+v, before %+v", n.Name, c, w.bgp)
		}
		if p.Uptime < w.bfd.Uptime {
			errorf(t, "changing the BFD timers reset the router's BFD session with %s: up %ds, %ds before", n.Name, p.Uptime, w.bfd.Uptime)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("BFD timers 300ms → 200ms → 300ms on the BGPPeer: the router showed each, no BGP or BFD reset")

	took, ok := rig.cut(t, 5*time.Second)
	if !ok {
		fatal(t, "with BFD at 300ms×3, %s's next hop was still in the router's route for %s 5s after its cable was pulled; changes: %v", n1.Name, prefix, w.Changes())
	}
	t.Logf("BFD 300ms×3: %s's cable pulled → its next hop left the router's kernel route in %s", n1.Name, took.Round(time.Millisecond))
	wantNextHops(t, l, prefix, addrs(others...))
	wantReplies(t, l, lab.URL(addr), 60, others, fromClient())

	back := rig.plug(t)
	wantBFDUp(t, l, []lab.Node{n1}, 300, 300, 3, 0)
	wantSessions(t, l)
	t.Logf("BFD 300ms×3: %s's cable plugged back → its next hop back in the router's kernel route in %s", n1.Name, back.Round(time.Millisecond))
	wantReplies(t, l, lab.URL(addr), 60, l.NodeList, fromClient())

	// The control: BFD off. Turning it off resets FRR 8.4's sessions once;
	// the cut starts after that settled.
	if err := setPeerBFD(l, ctx, nil); err != nil {
		fatal(t, "%v", err)
	}
	wantBFDNotUp(t, l, l.NodeList)
	wantSessions(t, l)
	wantNextHops(t, l, prefix, all)
	if took, ok := rig.cut(t, 3*time.Second); ok {
		fatal(t, "with BFD off, %s's next hop left the router's route %s after its cable was pulled, before 3s: the scenario cannot tell BFD from no BFD", n1.Name, took.Round(time.Millisecond))
	}
	hops, err := l.KernelNextHops(prefix)
	if err != nil {
		fatal(t, "%v", err)
	}
	if !slices.Contains(hops, n1.Addr.String()) {
		fatal(t, "with BFD off, %s's next hop is gone from the router's route 3s after the cut (hops %v) with no change recorded", n1.Name, hops)
	}
	t.Logf("BFD off: %s's next hop still in the router's kernel route 3s after its cable was pulled (hold time 9s)", n1.Name)
	// Plugged back within the hold time, the session never went: the
	// route stays as it is.
	if err := lab.SetCable(n1, true); err != nil {
		fatal(t, "%v", err)
	}
	wantSessions(t, l)
	wantNextHops(t, l, prefix, all)
}

// Scenario 9b: two BGPPeers with BFD on one node at once — the lab's and a
// second one to another router address, from another node address — and
// the router has both BFD sessions up with the node's timers (one UDP
// listener per node serves every session, demultiplexed by discriminator).
func TestBFDTwoPeersOnOneNode(t *testing.T) {
	const ns = "e2e-bfd-two"
	l, ctx := setup(t, ns)
	n2 := l.NodeList[1]
	routerAddr, nodeAddr := netip.MustParseAddr("198.18.1.4"), netip.MustParseAddr("198.18.1.53")
	extraAddr(t, lab.NetnsRouter, routerAddr)
	extraAddr(t, n2.Netns, nodeAddr)
	routerNeighbor(t, l, nodeAddr, fmt.Sprint(lab.NodeASN), "bfd")
	if err := l.VtyshConfig(fmt.Sprintf("neighbor %s bfd profile seamark", nodeAddr)); err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(func() {
		if err := setPeerBFD(l, ctx, nil); err != nil {
			errorf(t, "%v", err)
		}
		wantBFDNotUp(t, l, l.NodeList)
		wantSessions(t, l)
	})
	if err := setPeerBFD(l, ctx, &seamarkv1alpha1.BFD{Enabled: true}); err != nil {
		fatal(t, "%v", err)
	}
	peer := l.Peer("e2e-bfd-second", routerAddr)
	src := seamarkv1alpha1.IPAddress(nodeAddr.String())
	peer.Spec.SourceAddress = &src
	peer.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/hostname": n2.Name}}
	peer.Spec.BFD = &seamarkv1alpha1.BFD{Enabled: true}
	create(t, l, ctx, peer)

	second := n2
	second.Addr = nodeAddr
	wantBFDUp(t, l, []lab.Node{n2, second}, 300, 300, 3, 3*time.Second)
	eventually(t, 60*time.Second, "BGP session with "+nodeAddr.String()+" established", func() error {
		st, err := l.SessionStates()
		if err != nil {
			return err
		}
		if st[nodeAddr.String()] != "Established" {
			return fmt.Errorf("sessions %v", st)
		}
		return nil
	})
	a, _, err := bfdPeerOf(l, n2.Addr.String())
	if err != nil {
		fatal(t, "%v", err)
	}
	b, _, err := bfdPeerOf(l, nodeAddr.String())
	if err != nil {
		fatal(t, "%v", err)
	}
	t.Logf("BFD at the router for %s's two peers: %s→%s %s (up %ds), %s→%s %s (up %ds)", n2.Name, a.Peer, a.Local, a.Status, a.Uptime, b.Peer, b.Local, b.Status, b.Uptime)
}

// Scenario 9c: a speaker restart with BFD on. The first node's speaker is
// killed (no AdminDown, no withdraw: the router's BFD session times out)
// and a Service is deleted while it is down; started again, the speaker
// brings the router's BFD session back up with the BGPPeer's timers, the
// remaining Service's route has every node as next hop again, and the
// router holds no path for the deleted Service's prefix, from any node.
func TestBFDSpeakerRestart(t *testing.T) {
	const ns = "e2e-bfd-restart"
	l, ctx := setup(t, ns)
	n1 := l.NodeList[0]
	speaker := lab.SpeakerProcess(n1)
	all := addrs(l.NodeList...)
	kept := hostPrefix(serviceAddr(t, l, ctx, ns, "kept", l.NodeList, lab.ServiceOptions{}))
	gone := hostPrefix(serviceAddr(t, l, ctx, ns, "gone", l.NodeList, lab.ServiceOptions{}))
	wantNextHops(t, l, kept, all)
	wantNextHops(t, l, gone, all)
	t.Cleanup(func() {
		if _, running := l.Pid(speaker); !running {
			if err := l.StartSpeaker(n1, nil); err != nil {
				errorf(t, "%v", err)
			}
		}
		if err := setPeerBFD(l, ctx, nil); err != nil {
			errorf(t, "%v", err)
		}
		wantBFDNotUp(t, l, l.NodeList)
		wantSessions(t, l)
	})
	if err := setPeerBFD(l, ctx, &seamarkv1alpha1.BFD{Enabled: true}); err != nil {
		fatal(t, "%v", err)
	}
	wantBFDUp(t, l, l.NodeList, 300, 300, 3, 3*time.Second)
	wantSessions(t, l)

	if err := l.Signal(speaker, syscall.SIGKILL); err != nil {
		fatal(t, "%v", err)
	}
	if !l.WaitExit(speaker, 10*time.Second) {
		fatal(t, "speaker of %s survived SIGKILL", n1.Name)
	}
	wantBFDNotUp(t, l, []lab.Node{n1})
	wantNextHops(t, l, kept, addrs(l.NodeList[1:]...))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gone"}}
	if err := l.Client.Delete(ctx, svc); err != nil {
		fatal(t, "%v", err)
	}
	// The other nodes withdraw it while the first node's speaker is down.
	wantNoPaths(t, l, gone)

	if err := l.StartSpeaker(n1, nil); err != nil {
		fatal(t, "%v", err)
	}
	wantBFDUp(t, l, []lab.Node{n1}, 300, 300, 3, 0)
	wantSessions(t, l)
	wantNextHops(t, l, kept, all)
	// The restarted speaker has announced what it has (kept's route is
	// back with its next hop): a path for gone would be there by now.
	wantNoPaths(t, l, gone)
	hops, err := l.KernelNextHops(gone)
	if err != nil {
		fatal(t, "%v", err)
	}
	if len(hops) != 0 {
		fatal(t, "after %s's speaker restarted the router's kernel still routes the deleted Service's %s via %v", n1.Name, gone, hops)
	}
	t.Logf("%s's speaker killed and restarted with BFD on: BFD back up at the router, %s via %v, no path for the deleted Service's %s", n1.Name, kept, all, gone)
}

// wantNoPaths waits until the router has no BGP path for prefix.
func wantNoPaths(t testing.TB, l *lab.Lab, prefix string) {
	t.Helper()
	eventually(t, 30*time.Second, "no BGP path for "+prefix+" at the router", func() error {
		paths, err := l.BGPPaths(prefix)
		if err != nil {
			return err
		}
		if len(paths) != 0 {
			return fmt.Errorf("paths %+v", paths)
		}
		return nil
	})
}
