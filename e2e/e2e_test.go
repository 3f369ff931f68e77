//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/e2e/lab"
)

// theLab is started once for the whole suite in TestMain.
var (
	theLab     *lab.Lab
	skipReason string
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		// The only reason to skip (STYLE.md): `make e2e` refuses to run
		// without root, so CI never gets here.
		skipReason = "the e2e suite needs root (network namespaces); run `make e2e` as root"
		os.Exit(m.Run())
	}
	ctx := context.Background()
	l, err := lab.Up(ctx, lab.Options{Nodes: 3, Progress: os.Stderr})
	if err == nil {
		err = l.ApplyDefaults(ctx)
	}
	if err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "FAIL: starting the lab:", err)
		if l != nil {
			var b bytes.Buffer
			l.Dump(ctx, &b)
			_, _ = os.Stderr.Write(b.Bytes())
		}
		_ = lab.Down(lab.Options{})
		os.Exit(1)
	}
	theLab = l
	code := m.Run()
	if os.Getenv("SEAMARK_E2E_KEEP") != "" {
		_, _ = fmt.Fprintln(os.Stderr, "SEAMARK_E2E_KEEP is set: the lab is left running; `make lab-down` removes it")
	} else if err := lab.Down(lab.Options{}); err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "tearing down the lab:", err)
		code = 1
	}
	os.Exit(code)
}

// setup returns the lab and a namespace of the test's own; on failure the
// test's output gets the lab's dump.
func setup(t *testing.T, ns string) (*lab.Lab, context.Context) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx := context.Background()
	l := theLab
	if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			l.Dump(ctx, &b)
			t.Log("Lab state after the failure:\n" + b.String())
		}
	})
	return l, ctx
}

// eventually polls cond until it returns nil or timeout passes, then fails
// the test with the last error.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func hostPrefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// addrs returns the fabric addresses of nodes, sorted as strings.
func addrs(nodes ...lab.Node) []string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Addr.String())
	}
	slices.Sort(s)
	return s
}

// wantNextHops waits until the router's kernel routes prefix to exactly want.
func wantNextHops(t *testing.T, l *lab.Lab, prefix string, want []string) {
	t.Helper()
	eventually(t, 90*time.Second, "router's kernel next hops of "+prefix, func() error {
		got, err := l.KernelNextHops(prefix)
		if err != nil {
			return err
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("next hops %v, want %v", got, want)
		}
		return nil
	})
}

// wantAnswers waits until n requests to url from sm-client all succeed and
// are answered by exactly the nodes in want (each at least once).
func wantAnswers(t *testing.T, l *lab.Lab, url string, n int, want ...lab.Node) lab.FetchResult {
	t.Helper()
	var res lab.FetchResult
	eventually(t, 60*time.Second, fmt.Sprintf("%d requests to %s answered by %v", n, url, names(want)), func() error {
		var err error
		res, err = l.FetchFromClient(url, n)
		if err != nil {
			return err
		}
		if res.Errors > 0 {
			return fmt.Errorf("%d of %d requests failed (e.g. %s); answers %v", res.Errors, n, res.LastError, res.Answers)
		}
		var got []string
		for node := range res.Answers {
			got = append(got, node)
		}
		slices.Sort(got)
		if !slices.Equal(got, names(want)) {
			return fmt.Errorf("answered by %v, want %v", res.Answers, names(want))
		}
		return nil
	})
	return res
}

func names(nodes []lab.Node) []string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Name)
	}
	slices.Sort(s)
	return s
}

// serviceAddr creates backends on nodes and a LoadBalancer Service, and
// returns the Service's address.
func serviceAddr(t *testing.T, l *lab.Lab, ctx context.Context, ns, name string, backends []lab.Node, o lab.ServiceOptions) netip.Addr {
	t.Helper()
	if err := l.CreateBackends(ctx, ns, name, backends); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateService(ctx, ns, name, name, o); err != nil {
		t.Fatal(err)
	}
	got, err := l.WaitIngress(ctx, ns, name, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Service %s/%s got addresses %v, want one", ns, name, got)
	}
	return got[0]
}

// Scenario 1: pool + peer + advertisement give a LoadBalancer Service an
// address that the router installs with one ECMP next hop per node, and
// traffic from the client is spread over all nodes.
func TestECMPOverAllNodes(t *testing.T) {
	l, ctx := setup(t, "e2e-ecmp")
	addr := serviceAddr(t, l, ctx, "e2e-ecmp", "web", l.NodeList, lab.ServiceOptions{})
	if !netip.MustParsePrefix(lab.PoolCIDR).Contains(addr) {
		t.Fatalf("Service got %s, outside the pool %s", addr, lab.PoolCIDR)
	}
	wantNextHops(t, l, hostPrefix(addr), addrs(l.NodeList...))
	res := wantAnswers(t, l, lab.URL(addr), 300, l.NodeList...)
	t.Logf("300 requests to %s answered by %v", addr, res.Answers)
}

// Scenario 2: with externalTrafficPolicy Local only the node with a ready
// endpoint announces; when readiness moves to another node, so do the
// route and the traffic.
func TestLocalPolicyFollowsReadiness(t *testing.T) {
	const ns, app = "e2e-local", "local"
	l, ctx := setup(t, ns)
	n1, n2, n3 := l.NodeList[0], l.NodeList[1], l.NodeList[2]
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		t.Fatal(err)
	}
	for _, n := range []lab.Node{n2, n3} {
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.CreateService(ctx, ns, app, app, lab.ServiceOptions{Local: true}); err != nil {
		t.Fatal(err)
	}
	got, err := l.WaitIngress(ctx, ns, app, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	addr := got[0]
	wantNextHops(t, l, hostPrefix(addr), addrs(n1))
	wantAnswers(t, l, lab.URL(addr), 100, n1)

	// Move the ready endpoint from the first node to the second.
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n2), true); err != nil {
		t.Fatal(err)
	}
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n1), false); err != nil {
		t.Fatal(err)
	}
	wantNextHops(t, l, hostPrefix(addr), addrs(n2))
	wantAnswers(t, l, lab.URL(addr), 100, n2)

	// BGP agrees with the kernel: one path, from the second node.
	paths, err := l.BGPPaths(hostPrefix(addr))
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, p := range paths {
		peers = append(peers, p.Peer)
	}
	if want := []string{n2.Addr.String()}; !slices.Equal(peers, want) {
		t.Fatalf("FRR has paths for %s from %v, want %v", addr, peers, want)
	}
}

// create creates obj and deletes it when the test ends.
func create(t *testing.T, l *lab.Lab, ctx context.Context, obj client.Object) {
	t.Helper()
	if err := l.Client.Create(ctx, obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { _ = l.Client.Delete(ctx, obj) })
}

// Scenario 3: ClusterIPRange announces the cluster's ServiceCIDRs from every
// node; a ServiceCIDR created later is announced too, and ClusterIPs are
// reachable from outside the cluster.
func TestClusterIPRange(t *testing.T) {
	const ns = "e2e-clusterip"
	l, ctx := setup(t, ns)
	create(t, l, ctx, &seamarkv1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-clusterip-range"},
		Spec:       seamarkv1alpha1.BGPAdvertisementSpec{Addresses: []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIPRange}},
	})
	all := addrs(l.NodeList...)
	wantNextHops(t, l, "198.19.0.0/16", all)

	create(t, l, ctx, &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-extra"},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{"198.18.64.0/24"}},
	})
	wantNextHops(t, l, "198.18.64.0/24", all)

	if err := l.CreateBackends(ctx, ns, "cip", l.NodeList); err != nil {
		t.Fatal(err)
	}
	svc, err := l.CreateService(ctx, ns, "cip", "cip", lab.ServiceOptions{ClusterIP: true})
	if err != nil {
		t.Fatal(err)
	}
	cip := netip.MustParseAddr(svc.Spec.ClusterIP)
	wantAnswers(t, l, lab.URL(cip), 100, l.NodeList...)
}

// Scenario 4: an IPv6 pool and an IPv6 session put the Service's /128 in
// FRR's table, from every node, and IPv6 traffic reaches the nodes.
func TestIPv6(t *testing.T) {
	const ns = "e2e-ipv6"
	l, ctx := setup(t, ns)
	create(t, l, ctx, &seamarkv1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-v6"},
		Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"2001:db8:100::/120"}, AutoAssign: new(false)},
	})
	create(t, l, ctx, l.Peer("router-v6", lab.RouterFabricV6))
	addr := serviceAddr(t, l, ctx, ns, "web6", l.NodeList, lab.ServiceOptions{
		IPv6: true, Annotations: map[string]string{seamarkv1alpha1.AnnotationPool: "e2e-v6"},
	})
	if !addr.Is6() {
		t.Fatalf("Service got %s, want an IPv6 address", addr)
	}
	var v6 []string
	for _, n := range l.NodeList {
		v6 = append(v6, n.AddrV6.String())
	}
	slices.Sort(v6)
	eventually(t, 90*time.Second, "FRR's paths for "+hostPrefix(addr), func() error {
		paths, err := l.BGPPaths(hostPrefix(addr))
		if err != nil {
			return err
		}
		var peers []string
		for _, p := range paths {
			peers = append(peers, p.Peer)
		}
		slices.Sort(peers)
		if !slices.Equal(peers, v6) {
			return fmt.Errorf("paths from %v, want from %v", peers, v6)
		}
		return nil
	})
	wantAnswers(t, l, lab.URL(addr), 60, l.NodeList...)
}

// Scenario 5: an advertisement's communities reach FRR's RIB.
func TestCommunities(t *testing.T) {
	const ns = "e2e-communities"
	l, ctx := setup(t, ns)
	create(t, l, ctx, &seamarkv1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-communities"},
		Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			ServiceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e": "communities"}},
			Communities:     []seamarkv1alpha1.Community{"64512:100", "64512:1:2"},
		},
	})
	addr := serviceAddr(t, l, ctx, ns, "tagged", l.NodeList, lab.ServiceOptions{Labels: map[string]string{"e2e": "communities"}})
	eventually(t, 90*time.Second, "communities of "+hostPrefix(addr)+" in FRR", func() error {
		paths, err := l.BGPPaths(hostPrefix(addr))
		if err != nil {
			return err
		}
		if len(paths) != len(l.NodeList) {
			return fmt.Errorf("%d paths, want %d", len(paths), len(l.NodeList))
		}
		for _, p := range paths {
			if !slices.Contains(strings.Fields(p.Communities), "64512:100") || !slices.Contains(strings.Fields(p.LargeCommunities), "64512:1:2") {
				return fmt.Errorf("path from %s has communities %q and large communities %q", p.Peer, p.Communities, p.LargeCommunities)
			}
		}
		return nil
	})
}

// Scenario 7: when FRR restarts, the sessions come back and so do the
// routes.
func TestRouterRestart(t *testing.T) {
	const ns = "e2e-frr-restart"
	l, ctx := setup(t, ns)
	addr := serviceAddr(t, l, ctx, ns, "web", l.NodeList, lab.ServiceOptions{})
	all := addrs(l.NodeList...)
	wantNextHops(t, l, hostPrefix(addr), all)

	l.StopRouter()
	// zebra removes its routes when it stops: the check below cannot pass
	// on the old route.
	wantNextHops(t, l, hostPrefix(addr), nil)
	if err := l.StartRouter(lab.RouterConfig{Nodes: l.NodeList}); err != nil {
		t.Fatal(err)
	}
	wantSessions(t, l)
	wantNextHops(t, l, hostPrefix(addr), all)
	wantAnswers(t, l, lab.URL(addr), 60, l.NodeList...)
}

// wantSessions waits until the router's IPv4 sessions with every node are
// established.
func wantSessions(t *testing.T, l *lab.Lab) {
	t.Helper()
	eventually(t, 90*time.Second, "BGP sessions established", func() error {
		st, err := l.SessionStates()
		if err != nil {
			return err
		}
		for _, n := range l.NodeList {
			if st[n.Addr.String()] != "Established" {
				return fmt.Errorf("sessions %v", st)
			}
		}
		return nil
	})
}

// Scenario 8: bad configuration is reported where a user looks, and every
// other Service keeps its route.
func TestBadConfiguration(t *testing.T) {
	const ns = "e2e-bad"
	l, ctx := setup(t, ns)
	addr := serviceAddr(t, l, ctx, ns, "good", l.NodeList, lab.ServiceOptions{})
	all := addrs(l.NodeList...)
	wantNextHops(t, l, hostPrefix(addr), all)

	t.Run("overlapping pool", func(t *testing.T) {
		create(t, l, ctx, &seamarkv1alpha1.IPPool{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-overlap"},
			Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"198.51.100.0/25"}},
		})
		eventually(t, 60*time.Second, "IPPool e2e-overlap reports the overlap", func() error {
			p := &seamarkv1alpha1.IPPool{}
			if err := l.Client.Get(ctx, client.ObjectKey{Name: "e2e-overlap"}, p); err != nil {
				return err
			}
			c := meta.FindStatusCondition(p.Status.Conditions, seamarkv1alpha1.ConditionReady)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != seamarkv1alpha1.ReasonOverlap {
				return fmt.Errorf("Ready condition %+v, want False/%s", c, seamarkv1alpha1.ReasonOverlap)
			}
			return nil
		})
		stillRouted(t, l, addr, all)
	})

	t.Run("malformed annotation", func(t *testing.T) {
		if _, err := l.CreateService(ctx, ns, "malformed", "good", lab.ServiceOptions{
			Annotations: map[string]string{seamarkv1alpha1.AnnotationIPs: "not-an-address"},
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "a Warning Event on Service malformed", func() error {
			var evs corev1.EventList
			if err := l.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == "malformed" && e.Type == corev1.EventTypeWarning {
					t.Logf("Event: %s: %s", e.Reason, e.Message)
					return nil
				}
			}
			return fmt.Errorf("no Warning Event among %d Events", len(evs.Items))
		})
		stillRouted(t, l, addr, all)
	})
}

// stillRouted checks that the router still routes addr to want, and that
// traffic still flows.
func stillRouted(t *testing.T, l *lab.Lab, addr netip.Addr, want []string) {
	t.Helper()
	got, err := l.KernelNextHops(hostPrefix(addr))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("the router routes %s to %v, want %v still", addr, got, want)
	}
	res, err := l.FetchFromClient(lab.URL(addr), 30)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors > 0 {
		t.Fatalf("%d of 30 requests to %s failed: %s", res.Errors, addr, res.LastError)
	}
}

// Scenario 6 (part): on SIGTERM a speaker announces its paths with the
// GRACEFUL_SHUTDOWN community (65535:0) during the drain, then withdraws;
// after SIGKILL without graceful restart the router drops its paths at
// once. Restarted, the speaker announces again.
func TestGracefulShutdownAndCrash(t *testing.T) {
	const ns = "e2e-shutdown"
	l, ctx := setup(t, ns)
	addr := serviceAddr(t, l, ctx, ns, "web", l.NodeList, lab.ServiceOptions{})
	all := addrs(l.NodeList...)
	wantNextHops(t, l, hostPrefix(addr), all)
	n1 := l.NodeList[0]
	rest := addrs(l.NodeList[1:]...)

	// Restart the speaker with a drain long enough to be seen by polling.
	// Waiting for its route to go first keeps the checks below from passing
	// on the old session's state.
	if err := l.StopProcess(lab.SpeakerProcess(n1), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	wantNextHops(t, l, hostPrefix(addr), rest)
	if err := l.StartSpeaker(n1, []string{"--shutdown-drain=8s"}); err != nil {
		t.Fatal(err)
	}
	wantNextHops(t, l, hostPrefix(addr), all)

	if err := l.Signal(lab.SpeakerProcess(n1), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the path from "+n1.Name+" carries graceful-shutdown", func() error {
		paths, err := l.BGPPaths(hostPrefix(addr))
		if err != nil {
			return err
		}
		for _, p := range paths {
			if p.Peer == n1.Addr.String() {
				f := strings.Fields(p.Communities)
				// FRR names 65535:0 "graceful-shutdown".
				if slices.Contains(f, "graceful-shutdown") || slices.Contains(f, "65535:0") {
					return nil
				}
				return fmt.Errorf("path from %s has communities %q", p.Peer, p.Communities)
			}
		}
		return fmt.Errorf("no path from %s", n1.Addr)
	})
	wantNextHops(t, l, hostPrefix(addr), rest)
	if !l.WaitExit(lab.SpeakerProcess(n1), 60*time.Second) {
		t.Fatalf("speaker of %s still runs after its drain", n1.Name)
	}

	if err := l.StartSpeaker(n1, nil); err != nil {
		t.Fatal(err)
	}
	wantNextHops(t, l, hostPrefix(addr), all)

	// Crash without graceful restart: the router drops the node's path.
	if err := l.Signal(lab.SpeakerProcess(n1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.WaitExit(lab.SpeakerProcess(n1), 10*time.Second)
	wantNextHops(t, l, hostPrefix(addr), rest)
	wantAnswers(t, l, lab.URL(addr), 60, l.NodeList[1:]...)

	if err := l.StartSpeaker(n1, nil); err != nil {
		t.Fatal(err)
	}
	wantNextHops(t, l, hostPrefix(addr), all)
}

// Scenario 6 (part): with graceful restart enabled on the BGPPeer, a crashed
// speaker's routes stay at the router (stale) and are refreshed when it
// comes back.
func TestGracefulRestartKeepsRoutes(t *testing.T) {
	const ns = "e2e-gr"
	l, ctx := setup(t, ns)
	addr := serviceAddr(t, l, ctx, ns, "web", l.NodeList, lab.ServiceOptions{})
	all := addrs(l.NodeList...)
	wantNextHops(t, l, hostPrefix(addr), all)
	n1 := l.NodeList[0]

	setGR := func(gr *seamarkv1alpha1.GracefulRestart) error {
		p := &seamarkv1alpha1.BGPPeer{}
		if err := l.Client.Get(ctx, client.ObjectKey{Name: lab.PeerName}, p); err != nil {
			return err
		}
		p.Spec.GracefulRestart = gr
		return l.Client.Update(ctx, p)
	}
	if err := setGR(&seamarkv1alpha1.GracefulRestart{Enabled: true, RestartTime: &metav1.Duration{Duration: 120 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = setGR(nil)
		if _, running := l.Pid(lab.SpeakerProcess(n1)); !running {
			_ = l.StartSpeaker(n1, nil)
		}
	})
	// The peer's settings changed: sessions are re-established with the
	// graceful restart capability.
	eventually(t, 90*time.Second, "the router negotiated graceful restart with "+n1.Name, func() error {
		out, err := l.Vtysh("show bgp neighbors " + n1.Addr.String() + " json")
		if err != nil {
			return err
		}
		if !strings.Contains(string(out), `"Established"`) || !strings.Contains(string(out), "gracefulRestart") {
			return fmt.Errorf("neighbor %s: no established session with graceful restart yet", n1.Addr)
		}
		return nil
	})
	wantNextHops(t, l, hostPrefix(addr), all)

	if err := l.Signal(lab.SpeakerProcess(n1), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.WaitExit(lab.SpeakerProcess(n1), 10*time.Second)
	eventually(t, 60*time.Second, "the router noticed that "+n1.Name+" went away", func() error {
		st, err := l.SessionStates()
		if err != nil {
			return err
		}
		if st[n1.Addr.String()] == "Established" {
			return fmt.Errorf("session with %s still Established", n1.Addr)
		}
		return nil
	})
	// The session is down, yet the path and the next hop stay.
	paths, err := l.BGPPaths(hostPrefix(addr))
	if err != nil {
		t.Fatal(err)
	}
	var stale bool
	for _, p := range paths {
		if p.Peer == n1.Addr.String() {
			stale = p.Stale
		}
	}
	if !stale {
		t.Fatalf("after the crash of %s's speaker the router has paths %+v, want a stale one from %s", n1.Name, paths, n1.Addr)
	}
	got, err := l.KernelNextHops(hostPrefix(addr))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, all) {
		t.Fatalf("next hops %v during graceful restart, want %v", got, all)
	}

	if err := l.StartSpeaker(n1, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the path from "+n1.Name+" is fresh again", func() error {
		paths, err := l.BGPPaths(hostPrefix(addr))
		if err != nil {
			return err
		}
		for _, p := range paths {
			if p.Peer == n1.Addr.String() && !p.Stale {
				return nil
			}
		}
		return fmt.Errorf("paths %+v", paths)
	})
}
