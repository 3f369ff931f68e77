//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"

	"github.com/seamark-io/seamark/e2e/lab"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// The layer 2 scenarios: Services take addresses from the lab's layer 2
// pool (inside the fabric's subnets, e2e/lab/layer2.go) and sm-l2client,
// a host on the nodes' segment, reaches them through ARP and NDP. The
// owner of an address is the node the election picks (speaker/layer2:
// the lowest sha256(node#address) among the live, eligible nodes); the
// tests compute it the same way and check the wire against it: who
// answers ARP/NDP, which MAC the client's neighbour table holds, and
// IPAllocation.status.l2.

// l2Service creates a LoadBalancer Service of app from the layer 2 pool
// and returns its address. Backends are created separately, so that a
// test can place them after it knows the owner.
func l2Service(t testing.TB, l *lab.Lab, ctx context.Context, ns, name, app string, o lab.ServiceOptions) netip.Addr {
	t.Helper()
	o.Annotations = lab.L2Annotations()
	if _, err := l.CreateService(ctx, ns, name, app, o); err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(func() {
		_ = l.Client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})
	})
	got := waitIngress(t, l, ctx, ns, name)
	if len(got) != 1 {
		fatal(t, "Service %s/%s got addresses %v, want one", ns, name, got)
	}
	return got[0]
}

// elect is the owner the election picks for addr among nodes.
func elect(addr netip.Addr, nodes ...lab.Node) lab.Node {
	win := layer2.Elect(addr, names(nodes))
	for _, n := range nodes {
		if n.Name == win {
			return n
		}
	}
	panic("no node elected for " + addr.String())
}

// others are the lab's nodes but n.
func others(l *lab.Lab, n lab.Node) []lab.Node {
	return slices.DeleteFunc(slices.Clone(l.NodeList), func(o lab.Node) bool { return o.Name == n.Name })
}

func mac(t testing.TB, n lab.Node) string {
	t.Helper()
	m, err := lab.FabricMAC(n)
	if err != nil {
		fatal(t, "%v", err)
	}
	return m.String()
}

// answeredBy resolves addr from sm-l2client (ARP for IPv4, NDP for IPv6)
// and returns every MAC that answered, named by node where it is one.
func answeredBy(l *lab.Lab, addr netip.Addr) ([]string, error) {
	var macs []string
	var err error
	if addr.Is4() {
		macs, err = lab.ARPingAll(addr, 2)
	} else {
		macs, err = lab.NDiscAll(addr)
	}
	if err != nil {
		return nil, err
	}
	var who []string
	for _, m := range macs {
		if n, ok := l.NodeByMAC(m); ok {
			who = append(who, n.Name)
		} else {
			who = append(who, m)
		}
	}
	return who, nil
}

// wantOwner waits until exactly owner answers for addr on the wire and
// IPAllocation.status.l2 names it.
func wantOwner(t testing.TB, l *lab.Lab, ctx context.Context, addr netip.Addr, owner lab.Node, timeout time.Duration) {
	t.Helper()
	if err := ownerWithin(l, ctx, addr, owner, timeout); err != nil {
		fatal(t, "%v", err)
	}
}

// wantOwners is wantOwner for several addresses at once (in parallel:
// each check takes a few seconds of ARP).
func wantOwners(t testing.TB, l *lab.Lab, ctx context.Context, addrs []netip.Addr, timeout time.Duration) {
	t.Helper()
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() { errs[i] = ownerWithin(l, ctx, a, elect(a, l.NodeList...), timeout) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			errorf(t, "%v", err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func ownerWithin(l *lab.Lab, ctx context.Context, addr netip.Addr, owner lab.Node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := func() error {
			who, err := answeredBy(l, addr)
			if err != nil {
				return err
			}
			if !slices.Equal(who, []string{owner.Name}) {
				return fmt.Errorf("answered by %v", who)
			}
			st, err := l.L2Owner(ctx, addr)
			if err != nil {
				return err
			}
			if st != owner.Name {
				return fmt.Errorf("IPAllocation.status.l2 names %q", st)
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s answered for by %s alone: still not true after %s: %w", addr, owner.Name, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// wantFetch sends n requests to addr from sm-l2client and fails the test
// unless every one is answered.
func wantFetch(t testing.TB, l *lab.Lab, addr netip.Addr, n int) lab.FetchResult {
	t.Helper()
	res, err := l.FetchFrom(lab.NetnsL2Client, lab.URL(addr), n, 2*time.Second)
	if err != nil {
		fatal(t, "%v", err)
	}
	if res.Errors > 0 || res.Requests != n {
		fatal(t, "%d of %d requests from %s to %s failed (e.g. %s)", res.Errors, res.Requests, lab.NetnsL2Client, addr, res.LastError)
	}
	return res
}

// Twelve Services from the layer 2 pool over three nodes: each address is
// answered for by exactly one MAC, the elected node's, which status.l2
// names; none of the nodes holds more than 8; every address serves
// requests from the layer 2 client. The control: while the router also
// holds one of the addresses on its fabric link, the same check sees two
// MACs.
func TestLayer2OneOwnerPerAddress(t *testing.T) {
	const ns, app = "e2e-l2-owner", "web"
	l, ctx := setup(t, ns)
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		fatal(t, "%v", err)
	}
	var addrs []netip.Addr
	for i := range 12 {
		addrs = append(addrs, l2Service(t, l, ctx, ns, fmt.Sprintf("web%d", i), app, lab.ServiceOptions{}))
	}
	held := map[string]int{}
	for _, a := range addrs {
		held[elect(a, l.NodeList...).Name]++
	}
	wantOwners(t, l, ctx, addrs, 30*time.Second)
	t.Logf("12 addresses, held per node %v", held)
	for n, c := range held {
		if c > 8 {
			errorf(t, "%s holds %d of the 12 addresses, more than 8", n, c)
		}
	}
	for _, a := range addrs {
		wantFetch(t, l, a, 5)
	}

	// Control: a second host answering ARP for an address is seen.
	a := addrs[0]
	if _, err := lab.NetnsExec(lab.NetnsRouter, "ip", "addr", "add", a.String()+"/32", "dev", "fabric"); err != nil {
		fatal(t, "%v", err)
	}
	who, err := answeredBy(l, a)
	if _, derr := lab.NetnsExec(lab.NetnsRouter, "ip", "addr", "del", a.String()+"/32", "dev", "fabric"); derr != nil {
		fatal(t, "%v", derr)
	}
	if err != nil {
		fatal(t, "%v", err)
	}
	if len(who) != 2 {
		fatal(t, "control: with the router also holding %s, ARP saw %v, want two answers", a, who)
	}
}

// backendsReadyOn creates a backend pod of app on every node, ready only
// on n.
func backendsReadyOn(t testing.TB, l *lab.Lab, ctx context.Context, ns, app string, n lab.Node) {
	t.Helper()
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		fatal(t, "%v", err)
	}
	for _, o := range others(l, n) {
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, o), false); err != nil {
			fatal(t, "%v", err)
		}
	}
}

// moveEndpoint makes app's pod on to ready, then its pod on from not
// ready: the one ready endpoint moves from one node to the other.
func moveEndpoint(t testing.TB, l *lab.Lab, ctx context.Context, ns, app string, from, to lab.Node) {
	t.Helper()
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, to), true); err != nil {
		fatal(t, "%v", err)
	}
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, from), false); err != nil {
		fatal(t, "%v", err)
	}
}

// neighAt waits up to timeout for the first change since since that shows
// sm-l2client's entry for addr at n's MAC.
func neighAt(t testing.TB, w *lab.NeighWatch, since time.Time, timeout time.Duration, addr netip.Addr, n lab.Node) (lab.NeighChange, error) {
	t.Helper()
	m := mac(t, n)
	return w.Wait(since, timeout, func(c lab.NeighChange) bool { return c.Addr == addr && strings.EqualFold(c.LLAddr, m) })
}

// startL2Fetch sends a request to url from sm-l2client every 20 ms (1 s
// timeout each) until the returned function stops it.
func startL2Fetch(t *testing.T, l *lab.Lab, url string) func() lab.FetchResult {
	t.Helper()
	f, err := l.StartFetchFrom(lab.NetnsL2Client, url, 20*time.Millisecond, time.Second)
	if err != nil {
		fatal(t, "%v", err)
	}
	return stopFetcher(t, f)
}

// l2Addresses are the addresses of every Service in the layer 2 pool.
func l2Addresses(t testing.TB, l *lab.Lab, ctx context.Context) []netip.Addr {
	t.Helper()
	var list corev1.ServiceList
	if err := l.Client.List(ctx, &list); err != nil {
		fatal(t, "%v", err)
	}
	var out []netip.Addr
	for i := range list.Items {
		if list.Items[i].Annotations[seamarkPool] == lab.L2PoolName {
			out = append(out, lab.IngressAddrs(&list.Items[i])...)
		}
	}
	return out
}

const seamarkPool = "seamark.io/pool"

// restartSpeaker starts n's speaker again (after a kill or a stop).
func restartSpeaker(t testing.TB, l *lab.Lab, n lab.Node, extra []string) {
	t.Helper()
	if !l.WaitExit(lab.SpeakerProcess(n), 15*time.Second) {
		fatal(t, "%s's speaker did not exit", n.Name)
	}
	if err := l.StartSpeaker(n, extra); err != nil {
		fatal(t, "%v", err)
	}
}

// Crash, restart and graceful stop of the owner of an address, with the
// backends on the two other nodes:
//   - SIGKILL of the owner's speaker with its node's cable pulled (the
//     node is gone): the client's neighbour entry moves to the node the
//     election picks among the other two, and connections work again;
//   - the restarted speaker takes back the address it wins, and no other
//     address in the layer 2 pool changes MAC (a starting speaker claims
//     nothing it does not win);
//   - SIGTERM of the owner's speaker: the address is handed over with
//     zero failed requests in a continuous client loop.
func TestLayer2Failover(t *testing.T) {
	const ns, app = "e2e-l2-failover", "web"
	l, ctx := setup(t, ns)
	addr := l2Service(t, l, ctx, ns, "web", app, lab.ServiceOptions{})
	owner := elect(addr, l.NodeList...)
	rest := others(l, owner)
	next := elect(addr, rest...)
	if err := l.CreateBackends(ctx, ns, app, rest); err != nil {
		fatal(t, "%v", err)
	}
	wantOwner(t, l, ctx, addr, owner, 30*time.Second)
	w, err := l.WatchNeigh()
	if err != nil {
		fatal(t, "%v", err)
	}
	defer w.Stop()
	wantFetch(t, l, addr, 5)
	if got, err := lab.Neigh(addr); err != nil || got.LLAddr != mac(t, owner) {
		fatal(t, "sm-l2client's entry for %s is %+v (%v), want %s's %s", addr, got, err, owner.Name, mac(t, owner))
	}

	t.Run("crash", func(t *testing.T) {
		stop := startL2Fetch(t, l, lab.URL(addr))
		time.Sleep(300 * time.Millisecond)
		crashAt := time.Now()
		if err := l.Signal(lab.SpeakerProcess(owner), syscall.SIGKILL); err != nil {
			fatal(t, "%v", err)
		}
		if err := lab.SetCable(owner, false); err != nil {
			fatal(t, "%v", err)
		}
		c, err := neighAt(t, w, crashAt, 10*time.Second, addr, next)
		if err != nil {
			fatal(t, "after %s's crash the client's entry for %s never moved to %s: %v; changes %+v", owner.Name, addr, next.Name, err, w.Changes())
		}
		time.Sleep(time.Second)
		res := stop()
		t.Logf("%s crashed: the client's entry for %s moved to %s after %s; %d of %d requests failed meanwhile",
			owner.Name, addr, next.Name, c.At.Sub(crashAt).Round(time.Millisecond), res.Errors, res.Requests)
		if res.LastReply.Before(c.At) {
			fatal(t, "no request was answered after the entry moved (last reply %s, moved %s)", res.LastReply, c.At)
		}
		wantFetch(t, l, addr, 20)
		wantOwner(t, l, ctx, addr, next, 10*time.Second)
	})
	if t.Failed() {
		_ = lab.SetCable(owner, true)
		return
	}

	t.Run("restart", func(t *testing.T) {
		// Every layer 2 address in the client's table, so that a
		// gratuitous ARP for any of them shows.
		all := l2Addresses(t, l, ctx)
		for _, a := range all {
			if err := lab.PokeFromL2Client(a); err != nil {
				fatal(t, "%v", err)
			}
		}
		if err := lab.SetCable(owner, true); err != nil {
			fatal(t, "%v", err)
		}
		startAt := time.Now()
		restartSpeaker(t, l, owner, nil)
		c, err := neighAt(t, w, startAt, 20*time.Second, addr, owner)
		if err != nil {
			fatal(t, "the restarted %s did not take %s back: %v", owner.Name, addr, err)
		}
		t.Logf("restarted %s took %s back %s after its start", owner.Name, addr, c.At.Sub(startAt).Round(time.Millisecond))
		// Past the third gratuitous ARP (+2.2 s) of everything it took.
		time.Sleep(3 * time.Second)
		for _, ch := range w.Changes() {
			if ch.At.Before(startAt) || !slices.Contains(all, ch.Addr) || ch.LLAddr == "" {
				continue
			}
			if !strings.EqualFold(ch.LLAddr, mac(t, owner)) {
				continue
			}
			if elect(ch.Addr, l.NodeList...).Name != owner.Name {
				errorf(t, "the restarted %s claimed %s, which %s wins (%+v)", owner.Name, ch.Addr, elect(ch.Addr, l.NodeList...).Name, ch)
			}
		}
		wantOwner(t, l, ctx, addr, owner, 10*time.Second)
	})
	if t.Failed() {
		return
	}

	t.Run("graceful", func(t *testing.T) {
		wantFetch(t, l, addr, 5)
		stop := startL2Fetch(t, l, lab.URL(addr))
		time.Sleep(500 * time.Millisecond)
		termAt := time.Now()
		if err := l.Signal(lab.SpeakerProcess(owner), syscall.SIGTERM); err != nil {
			fatal(t, "%v", err)
		}
		c, err := neighAt(t, w, termAt, 10*time.Second, addr, next)
		if err != nil {
			fatal(t, "after SIGTERM to %s's speaker the client's entry for %s never moved to %s: %v", owner.Name, addr, next.Name, err)
		}
		time.Sleep(time.Second)
		res := stop()
		t.Logf("SIGTERM to %s: the client's entry for %s moved to %s after %s; %d of %d requests failed",
			owner.Name, addr, next.Name, c.At.Sub(termAt).Round(time.Millisecond), res.Errors, res.Requests)
		// A request in flight at the instant the client's entry moves can
		// be reset: its next packets reach the new owner, which has no
		// state for the connection (connection tracking, the pod's socket
		// through another node's source NAT). That is layer 2 itself, not
		// the handover; what the handover must not do is leave a moment
		// when nobody answers, so every request that began after the
		// move, or ended before it, must succeed. One worker sends the
		// requests in sequence: at most one is in flight at the move.
		straddled := 0
		for _, f := range res.Failed {
			if f.From.Before(c.At) && f.To.After(c.At) {
				straddled++
				continue
			}
			errorf(t, "a request from %s to %s failed, not in flight when the client's entry moved at %s (%s; %d of %d failed)",
				f.From.Format(time.StampMicro), f.To.Format(time.StampMicro), c.At.Format(time.StampMicro), res.LastError, res.Errors, res.Requests)
		}
		if straddled > 1 || res.Errors != len(res.Failed) {
			errorf(t, "%d requests failed across the handover (%d in flight when the entry moved), want at most the one in flight: %s", res.Errors, straddled, res.LastError)
		}
		restartSpeaker(t, l, owner, nil)
		wantOwner(t, l, ctx, addr, owner, 20*time.Second)
	})
}

// externalTrafficPolicy Local: only a node with a ready endpoint may own
// the address, so it follows the endpoint. One ready pod on the first
// node: that node answers; the ready pod moves to the second node (ready
// there first, then not on the first): the second node answers, the
// client's entry moves, and the pod that answers is on the second node.
func TestLayer2LocalFollowsEndpoint(t *testing.T) {
	const ns, app = "e2e-l2-local", "local"
	l, ctx := setup(t, ns)
	n1, n2 := l.NodeList[0], l.NodeList[1]
	backendsReadyOn(t, l, ctx, ns, app, n1)
	addr := l2Service(t, l, ctx, ns, app, app, lab.ServiceOptions{Local: true})
	wantOwner(t, l, ctx, addr, n1, 30*time.Second)
	if res := wantFetch(t, l, addr, 20); !slices.Equal(keys(res.ByNode()), []string{n1.Name}) {
		fatal(t, "replies came from pods on %v, want %s only", res.ByNode(), n1.Name)
	}
	w, err := l.WatchNeigh()
	if err != nil {
		fatal(t, "%v", err)
	}
	defer w.Stop()
	stop := startL2Fetch(t, l, lab.URL(addr))
	moveAt := time.Now()
	moveEndpoint(t, l, ctx, ns, app, n1, n2)
	c, err := neighAt(t, w, moveAt, 10*time.Second, addr, n2)
	if err != nil {
		fatal(t, "the client's entry for %s did not move to %s with the endpoint: %v", addr, n2.Name, err)
	}
	time.Sleep(time.Second)
	res := stop()
	t.Logf("endpoint moved %s → %s: the client's entry followed after %s; %d of %d requests failed meanwhile",
		n1.Name, n2.Name, c.At.Sub(moveAt).Round(time.Millisecond), res.Errors, res.Requests)
	wantOwner(t, l, ctx, addr, n2, 10*time.Second)
	if res := wantFetch(t, l, addr, 20); !slices.Equal(keys(res.ByNode()), []string{n2.Name}) {
		fatal(t, "replies came from pods on %v, want %s only", res.ByNode(), n2.Name)
	}
}

// IPv6 resolves through NDP, and the client kernel's own unicast probe of
// a STALE entry (neighbour unreachability detection: a Neighbor
// Solicitation sent to the owner's MAC, not to the multicast group) is
// answered, so the entry goes back to REACHABLE and never FAILED; the
// same for IPv4's unicast ARP probe. The control: the same probe for a
// pool address that no Service has ends FAILED.
func TestLayer2IPv6AndUnicastProbes(t *testing.T) {
	const ns, app = "e2e-l2-v6", "web"
	l, ctx := setup(t, ns)
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		fatal(t, "%v", err)
	}
	v6 := l2Service(t, l, ctx, ns, "web6", app, lab.ServiceOptions{IPv6: true})
	v4 := l2Service(t, l, ctx, ns, "web4", app, lab.ServiceOptions{})
	owner6, owner4 := elect(v6, l.NodeList...), elect(v4, l.NodeList...)
	wantOwner(t, l, ctx, v6, owner6, 30*time.Second)
	wantOwner(t, l, ctx, v4, owner4, 30*time.Second)
	wantFetch(t, l, v6, 10)
	if err := lab.SetL2ClientProbeDelay(time.Second); err != nil {
		fatal(t, "%v", err)
	}
	w, err := l.WatchNeigh()
	if err != nil {
		fatal(t, "%v", err)
	}
	defer w.Stop()

	// probe makes addr's entry STALE with m, uses it, and returns the
	// changes of the entry over the next 6 s.
	probe := func(addr netip.Addr, m string) []lab.NeighChange {
		at := time.Now()
		if err := lab.SetNeighStale(addr, m); err != nil {
			fatal(t, "%v", err)
		}
		if err := lab.PokeFromL2Client(addr); err != nil {
			fatal(t, "%v", err)
		}
		time.Sleep(6 * time.Second)
		var got []lab.NeighChange
		for _, c := range w.Changes() {
			if c.Addr == addr && !c.At.Before(at) {
				got = append(got, c)
			}
		}
		return got
	}
	for _, tc := range []struct {
		addr  netip.Addr
		owner lab.Node
	}{{v6, owner6}, {v4, owner4}} {
		got := probe(tc.addr, mac(t, tc.owner))
		var states []string
		reachable := false
		for _, c := range got {
			states = append(states, c.State)
			if strings.Contains(c.State, "FAILED") || c.Deleted {
				errorf(t, "the client's entry for %s went %s: %+v", tc.addr, c.State, got)
			}
			if strings.Contains(c.State, "REACHABLE") && strings.EqualFold(c.LLAddr, mac(t, tc.owner)) {
				reachable = true
			}
		}
		if !reachable {
			errorf(t, "the client's unicast probe of %s was not answered by %s: states %v", tc.addr, tc.owner.Name, states)
		}
		t.Logf("unicast probe of %s (owner %s): %v", tc.addr, tc.owner.Name, states)
	}

	// Control: nobody answers for an unused pool address, and the same
	// probe is seen to fail.
	unused := netip.MustParseAddr("2001:db8:18:1::fe")
	got := probe(unused, mac(t, owner6))
	failed := slices.ContainsFunc(got, func(c lab.NeighChange) bool { return strings.Contains(c.State, "FAILED") })
	if !failed {
		fatal(t, "control: the probe of %s, which nobody owns, did not fail: %+v", unused, got)
	}
}

// A partition of the speakers' gossip (the first node cut off from the
// others' memberlist traffic, ARP and Services untouched) heals back to
// one owner per address, the elected one.
func TestLayer2PartitionHeals(t *testing.T) {
	const ns, app = "e2e-l2-partition", "web"
	l, ctx := setup(t, ns)
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		fatal(t, "%v", err)
	}
	var addrs []netip.Addr
	for i := range 6 {
		addrs = append(addrs, l2Service(t, l, ctx, ns, fmt.Sprintf("web%d", i), app, lab.ServiceOptions{}))
	}
	wantOwners(t, l, ctx, addrs, 30*time.Second)
	n1 := l.NodeList[0]
	if err := lab.CutGossip(n1); err != nil {
		fatal(t, "%v", err)
	}
	healed := false
	defer func() {
		if !healed {
			_ = lab.HealGossip(n1)
		}
	}()
	// The partition is real: the first node's speaker sees itself alone
	// (its SpeakerStatus), and the others see two members.
	members := func(n lab.Node) int32 {
		var st seamarkv1alpha1.SpeakerStatus
		if err := l.Client.Get(ctx, client.ObjectKey{Name: n.Name}, &st); err != nil || st.Status.Memberlist == nil {
			return -1
		}
		return st.Status.Memberlist.Members
	}
	eventually(t, 10*time.Second, "the partition seen by the speakers", func() error {
		got := []int32{members(n1), members(l.NodeList[1]), members(l.NodeList[2])}
		if !slices.Equal(got, []int32{1, 2, 2}) {
			return fmt.Errorf("members per node %v, want [1 2 2]", got)
		}
		return nil
	})
	for _, a := range addrs {
		who, err := answeredBy(l, a)
		t.Logf("partitioned: %s answered by %v (%v)", a, who, err)
	}
	if err := lab.HealGossip(n1); err != nil {
		fatal(t, "%v", err)
	}
	healed = true
	healAt := time.Now()
	wantOwners(t, l, ctx, addrs, 30*time.Second)
	eventually(t, 10*time.Second, "the healed membership", func() error {
		got := []int32{members(n1), members(l.NodeList[1]), members(l.NodeList[2])}
		if !slices.Equal(got, []int32{3, 3, 3}) {
			return fmt.Errorf("members per node %v, want [3 3 3]", got)
		}
		return nil
	})
	t.Logf("healed: every address has its one elected owner %s after the partition ended", time.Since(healAt).Round(time.Millisecond))
}
