//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
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
		// The only reason to skip: `make e2e` refuses to run
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
	if err := checkSecretsNotLogged(l); err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
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
		fatal(t, "creating namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			l.Dump(ctx, &b)
			t.Log("Lab state after the failure:\n" + b.String())
			// CI shows the end of a failed test's output: say again why.
			for _, msg := range failures.of(t.Name()) {
				t.Logf("%s failed (above the lab state): %s", t.Name(), msg)
			}
		}
	})
	return l, ctx
}

// failures holds, by test name, the messages errorf and fatal gave:
// setup's cleanup repeats them after the lab's dump, which would otherwise
// push them out of the end of the output that CI shows.
var failures failureLog

type failureLog struct {
	mu   sync.Mutex
	msgs map[string][]string
}

func (f *failureLog) add(name, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.msgs == nil {
		f.msgs = map[string][]string{}
	}
	f.msgs[name] = append(f.msgs[name], msg)
}

func (f *failureLog) of(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range slices.Sorted(maps.Keys(f.msgs)) {
		// A subtest's failures are its parent's too.
		if n == name || strings.HasPrefix(n, name+"/") {
			out = append(out, f.msgs[n]...)
		}
	}
	return out
}

// errorf fails the test like t.Errorf and records why for setup's cleanup.
func errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	failures.add(t.Name(), msg)
	t.Error(msg)
}

// fatal fails the test like t.Fatalf and records why for setup's cleanup.
func fatal(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	failures.add(t.Name(), msg)
	t.Fatal(msg)
}

// eventually polls cond until it returns nil or timeout passes, then fails
// the test with the last error.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			fatal(t, "%s: still not true after %s: %v", what, timeout, err)
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
func wantNextHops(t testing.TB, l *lab.Lab, prefix string, want []string) {
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

// wantReplies waits until n requests to url from sm-client all succeed,
// are answered by pods on exactly the nodes backends (each at least once),
// and the pods saw exactly the source addresses clients (each at least
// once): the client's own under externalTrafficPolicy Local, the entry
// nodes' under Cluster, where kube-proxy masquerades.
func wantReplies(t testing.TB, l *lab.Lab, url string, n int, backends []lab.Node, clients []string) lab.FetchResult {
	t.Helper()
	var res lab.FetchResult
	slices.Sort(clients)
	eventually(t, 60*time.Second, fmt.Sprintf("%d requests to %s answered by pods on %v that saw %v", n, url, names(backends), clients), func() error {
		var err error
		res, err = l.FetchFromClient(url, n)
		if err != nil {
			return err
		}
		if res.Errors > 0 {
			return fmt.Errorf("%d of %d requests failed (e.g. %s); replies %v", res.Errors, n, res.LastError, res.Replies)
		}
		if got := keys(res.ByNode()); !slices.Equal(got, names(backends)) {
			return fmt.Errorf("answered by pods on %v, want %v; replies %v", got, names(backends), res.Replies)
		}
		if got := keys(res.ByClient()); !slices.Equal(got, clients) {
			return fmt.Errorf("the pods saw sources %v, want %v; replies %v", got, clients, res.Replies)
		}
		return nil
	})
	return res
}

func keys(m map[string]int) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// fromClient is the source address pods see under externalTrafficPolicy
// Local: sm-client's own.
func fromClient() []string { return []string{lab.ClientAddr.String()} }

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
func serviceAddr(t testing.TB, l *lab.Lab, ctx context.Context, ns, name string, backends []lab.Node, o lab.ServiceOptions) netip.Addr {
	t.Helper()
	if err := l.CreateBackends(ctx, ns, name, backends); err != nil {
		fatal(t, "%v", err)
	}
	if _, err := l.CreateService(ctx, ns, name, name, o); err != nil {
		fatal(t, "%v", err)
	}
	got := waitIngress(t, l, ctx, ns, name)
	if len(got) != 1 {
		fatal(t, "Service %s/%s got addresses %v, want one", ns, name, got)
	}
	return got[0]
}

// waitIngress waits for Service ns/name's addresses, then for every
// node's kube-proxy to have rules for them: no test sends a request to a
// new Service before that (lab.WaitKubeProxyRules says why: a request
// that enters a node earlier loops, and its conntrack entry fails a
// later request that reuses its source port for two minutes).
func waitIngress(t testing.TB, l *lab.Lab, ctx context.Context, ns, name string) []netip.Addr {
	t.Helper()
	got, err := l.WaitIngress(ctx, ns, name, 60*time.Second)
	if err != nil {
		fatal(t, "%v", err)
	}
	if err := l.WaitKubeProxyRules(ctx, got, 60*time.Second); err != nil {
		fatal(t, "Service %s/%s: %v", ns, name, err)
	}
	return got
}

// Scenario 1: pool + peer + advertisement give a LoadBalancer Service an
// address that the router installs with one ECMP next hop per node, and
// traffic from the client enters through every node (each masquerades:
// the pods see the entry node's address) and reaches the pods on every
// node.
func TestECMPOverAllNodes(t *testing.T) {
	l, ctx := setup(t, "e2e-ecmp")
	addr := serviceAddr(t, l, ctx, "e2e-ecmp", "web", l.NodeList, lab.ServiceOptions{})
	if !netip.MustParsePrefix(lab.PoolCIDR).Contains(addr) {
		fatal(t, "Service got %s, outside the pool %s", addr, lab.PoolCIDR)
	}
	wantNextHops(t, l, hostPrefix(addr), addrs(l.NodeList...))
	res := wantReplies(t, l, lab.URL(addr), 300, l.NodeList, addrs(l.NodeList...))
	t.Logf("300 requests to %s: by node of the pod %v, by source the pod saw %v", addr, res.ByNode(), res.ByClient())
}

// Scenario 1b: the source address a backend sees. One pod, on the first
// node, behind two Services: with externalTrafficPolicy Local only that
// node announces and the pod sees sm-client's own address; with Cluster
// every node announces, kube-proxy on the entry node masquerades, and the
// requests that entered elsewhere crossed the fabric to the pod.
func TestClientSourceAddress(t *testing.T) {
	const ns, app = "e2e-source", "one"
	l, ctx := setup(t, ns)
	n1 := l.NodeList[0]
	if err := l.CreateBackends(ctx, ns, app, []lab.Node{n1}); err != nil {
		fatal(t, "%v", err)
	}
	for _, o := range []struct {
		name string
		opt  lab.ServiceOptions
	}{{"local", lab.ServiceOptions{Local: true}}, {"cluster", lab.ServiceOptions{}}} {
		if _, err := l.CreateService(ctx, ns, o.name, app, o.opt); err != nil {
			fatal(t, "%v", err)
		}
	}
	local := waitIngress(t, l, ctx, ns, "local")
	cluster := waitIngress(t, l, ctx, ns, "cluster")

	wantNextHops(t, l, hostPrefix(local[0]), addrs(n1))
	res := wantReplies(t, l, lab.URL(local[0]), 60, []lab.Node{n1}, fromClient())
	t.Logf("Local: the pod saw %v", res.ByClient())

	wantNextHops(t, l, hostPrefix(cluster[0]), addrs(l.NodeList...))
	res = wantReplies(t, l, lab.URL(cluster[0]), 90, []lab.Node{n1}, addrs(l.NodeList...))
	crossed := 0
	for rep, c := range res.Counts() {
		if rep.Client != n1.Addr.String() {
			crossed += c
		}
	}
	t.Logf("Cluster: the pod saw %v; %d of %d requests entered through another node", res.ByClient(), crossed, res.Requests)
	if crossed == 0 {
		fatal(t, "no request entered through a node without the pod: %v", res.Replies)
	}
}

// Scenario 1c, the control of "only nodes with an endpoint announce a
// Local Service": a hand-made BGP session from the third node (which has
// no endpoint) announces the Service's address too. The router spreads the
// requests over both paths, kube-proxy on the third node drops what it
// gets, and requests fail; once the wrong path is gone, none do.
func TestWrongAnnouncementLosesTraffic(t *testing.T) {
	const ns, app = "e2e-wrong", "web"
	l, ctx := setup(t, ns)
	n1, n3 := l.NodeList[0], l.NodeList[2]
	addr := serviceAddr(t, l, ctx, ns, app, []lab.Node{n1}, lab.ServiceOptions{Local: true})
	prefix := hostPrefix(addr)
	wantNextHops(t, l, prefix, addrs(n1))
	wantReplies(t, l, lab.URL(addr), 30, []lab.Node{n1}, fromClient())

	wrong := netip.MustParseAddr("198.18.1.63")
	extraAddr(t, n3.Netns, wrong)
	routerNeighbor(t, l, wrong, fmt.Sprint(lab.NodeASN), "")
	a, err := l.StartAnnounce(n3, wrong, netip.MustParsePrefix(prefix))
	if err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(func() { _ = a.Stop() })
	want := []string{n1.Addr.String(), wrong.String()}
	slices.Sort(want)
	wantNextHops(t, l, prefix, want)
	res, err := l.FetchFromClientWithin(lab.URL(addr), 24, time.Second)
	if err != nil {
		fatal(t, "%v", err)
	}
	t.Logf("With a path through %s as well: %d of %d requests failed (%s); replies %v", n3.Name, res.Errors, res.Requests, res.LastError, res.Replies)
	if res.Errors == 0 {
		fatal(t, "no request failed although the router sends part of them to %s, which has no endpoint: the suite cannot see a wrong announcement", n3.Name)
	}
	if got := keys(res.ByNode()); len(got) > 0 && !slices.Equal(got, []string{n1.Name}) {
		fatal(t, "answered by pods on %v, want only %s", got, n1.Name)
	}

	if err := a.Stop(); err != nil {
		fatal(t, "%v", err)
	}
	wantNextHops(t, l, prefix, addrs(n1))
	wantReplies(t, l, lab.URL(addr), 40, []lab.Node{n1}, fromClient())
}

// Scenario 2b: a Local Service's healthCheckNodePort, served by kube-proxy
// on every node, answers 200 exactly on the nodes seamark announces the
// Service from (those with a ready endpoint) and 503 on the others, also
// after the endpoint moves.
func TestHealthCheckNodePort(t *testing.T) {
	const ns, app = "e2e-hcnp", "web"
	l, ctx := setup(t, ns)
	n1, n2 := l.NodeList[0], l.NodeList[1]
	if err := l.CreateBackends(ctx, ns, app, []lab.Node{n1, n2}); err != nil {
		fatal(t, "%v", err)
	}
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n2), false); err != nil {
		fatal(t, "%v", err)
	}
	svc, err := l.CreateService(ctx, ns, app, app, lab.ServiceOptions{Local: true})
	if err != nil {
		fatal(t, "%v", err)
	}
	if svc.Spec.HealthCheckNodePort == 0 {
		fatal(t, "Service %s/%s has no healthCheckNodePort", ns, app)
	}
	got := waitIngress(t, l, ctx, ns, app)
	prefix := hostPrefix(got[0])
	// consistent checks that the nodes whose health check answers 200 are
	// want, that every other node answers 503, and that FRR has paths from
	// exactly want.
	consistent := func(want ...lab.Node) {
		t.Helper()
		eventually(t, 60*time.Second, fmt.Sprintf("health checks and announcements both name %v", names(want)), func() error {
			var healthy []string
			for _, n := range l.NodeList {
				url := fmt.Sprintf("http://%s/", netip.AddrPortFrom(n.Addr, uint16(svc.Spec.HealthCheckNodePort)))
				code, err := lab.HTTPStatusFromClient(url)
				if err != nil {
					return err
				}
				switch code {
				case http.StatusOK:
					healthy = append(healthy, n.Name)
				case http.StatusServiceUnavailable:
				default:
					return fmt.Errorf("GET %s: status %d, want 200 or 503", url, code)
				}
			}
			paths, err := l.BGPPaths(prefix)
			if err != nil {
				return err
			}
			var announcing []string
			for _, p := range paths {
				if n, ok := l.NodeByAddr(p.Peer); ok {
					announcing = append(announcing, n.Name)
				}
			}
			slices.Sort(announcing)
			if !slices.Equal(healthy, names(want)) || !slices.Equal(announcing, names(want)) {
				return fmt.Errorf("health check 200 on %v, announced by %v, want both %v", healthy, announcing, names(want))
			}
			return nil
		})
	}
	consistent(n1)
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n2), true); err != nil {
		fatal(t, "%v", err)
	}
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n1), false); err != nil {
		fatal(t, "%v", err)
	}
	consistent(n2)
}

// Scenario 3b: a ClusterIP Service with internalTrafficPolicy Local has
// its /32 announced only by the nodes with an endpoint (ClusterIP
// advertisement), and a request entering a node reaches that node's own
// pod: the pod sees the address of its own node.
func TestInternalTrafficPolicyLocal(t *testing.T) {
	const ns, app = "e2e-itp", "itp"
	l, ctx := setup(t, ns)
	n2, n3 := l.NodeList[1], l.NodeList[2]
	create(t, l, ctx, &seamarkv1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-itp"},
		Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			Addresses:       []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIP},
			ServiceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e": "itp"}},
		},
	})
	if err := l.CreateBackends(ctx, ns, app, []lab.Node{n2, n3}); err != nil {
		fatal(t, "%v", err)
	}
	svc, err := l.CreateService(ctx, ns, app, app, lab.ServiceOptions{ClusterIP: true, InternalLocal: true, Labels: map[string]string{"e2e": "itp"}})
	if err != nil {
		fatal(t, "%v", err)
	}
	cip := netip.MustParseAddr(svc.Spec.ClusterIP)
	wantNextHops(t, l, hostPrefix(cip), addrs(n2, n3))
	res := wantReplies(t, l, lab.URL(cip), 60, []lab.Node{n2, n3}, addrs(n2, n3))
	for rep := range res.Counts() {
		n, _ := l.NodeByAddr(rep.Client)
		if n.Name != rep.Node {
			fatal(t, "a request that entered through %s (%s) was answered by %s on %s", n.Name, rep.Client, rep.Pod, rep.Node)
		}
	}
	t.Logf("Replies: %v", res.Replies)
}

// Scenario 2: with externalTrafficPolicy Local only the node with a ready
// endpoint announces; when readiness moves to another node, so do the
// route and the traffic.
func TestLocalPolicyFollowsReadiness(t *testing.T) {
	const ns, app = "e2e-local", "local"
	l, ctx := setup(t, ns)
	n1, n2 := l.NodeList[0], l.NodeList[1]
	backendsReadyOn(t, l, ctx, ns, app, n1)
	if _, err := l.CreateService(ctx, ns, app, app, lab.ServiceOptions{Local: true}); err != nil {
		fatal(t, "%v", err)
	}
	addr := waitIngress(t, l, ctx, ns, app)[0]
	wantNextHops(t, l, hostPrefix(addr), addrs(n1))
	wantReplies(t, l, lab.URL(addr), 100, []lab.Node{n1}, fromClient())

	// Move the ready endpoint from the first node to the second.
	moveEndpoint(t, l, ctx, ns, app, n1, n2)
	wantNextHops(t, l, hostPrefix(addr), addrs(n2))
	wantReplies(t, l, lab.URL(addr), 100, []lab.Node{n2}, fromClient())

	// BGP agrees with the kernel: one path, from the second node.
	paths, err := l.BGPPaths(hostPrefix(addr))
	if err != nil {
		fatal(t, "%v", err)
	}
	var peers []string
	for _, p := range paths {
		peers = append(peers, p.Peer)
	}
	if want := []string{n2.Addr.String()}; !slices.Equal(peers, want) {
		fatal(t, "FRR has paths for %s from %v, want %v", addr, peers, want)
	}
}

// create creates obj and deletes it when the test ends.
func create(t *testing.T, l *lab.Lab, ctx context.Context, obj client.Object) {
	t.Helper()
	if err := l.Client.Create(ctx, obj); err != nil {
		fatal(t, "creating %T %s: %v", obj, obj.GetName(), err)
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
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{"198.18.128.0/24"}},
	})
	wantNextHops(t, l, "198.18.128.0/24", all)

	if err := l.CreateBackends(ctx, ns, "cip", l.NodeList); err != nil {
		fatal(t, "%v", err)
	}
	svc, err := l.CreateService(ctx, ns, "cip", "cip", lab.ServiceOptions{ClusterIP: true})
	if err != nil {
		fatal(t, "%v", err)
	}
	cip := netip.MustParseAddr(svc.Spec.ClusterIP)
	wantReplies(t, l, lab.URL(cip), 100, l.NodeList, addrs(l.NodeList...))
}

// Scenario 4: an IPv6 pool and an IPv6 session put the Service's /128 in
// FRR's table, from every node, and IPv6 traffic reaches the nodes.
func TestIPv6(t *testing.T) {
	const ns = "e2e-ipv6"
	l, ctx := setup(t, ns)
	routerIPv6(t, l)
	create(t, l, ctx, &seamarkv1alpha1.IPPool{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-v6"},
		Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"2001:db8:100::/120"}, AutoAssign: new(false)},
	})
	create(t, l, ctx, l.Peer("router-v6", lab.RouterFabricV6))
	addr := serviceAddr(t, l, ctx, ns, "web6", l.NodeList, lab.ServiceOptions{
		IPv6: true, Annotations: map[string]string{seamarkv1alpha1.AnnotationPool: "e2e-v6"},
	})
	if !addr.Is6() {
		fatal(t, "Service got %s, want an IPv6 address", addr)
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
	wantReplies(t, l, lab.URL(addr), 60, l.NodeList, v6)
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

// Scenario 5 (iBGP): an advertisement's local preference reaches FRR's
// RIB on an iBGP session and decides the router's best path; eBGP paths
// do not carry it. The router's neighbors are keyed by the node's address,
// which the lab's eBGP session uses: the second node dials a second router
// address from an address of its own.
func TestLocalPreference(t *testing.T) {
	const ns = "e2e-localpref"
	l, ctx := setup(t, ns)
	n2 := l.NodeList[1]
	routerAddr, nodeAddr := netip.MustParseAddr("198.18.1.3"), netip.MustParseAddr("198.18.1.52")
	extraAddr(t, lab.NetnsRouter, routerAddr)
	extraAddr(t, n2.Netns, nodeAddr)
	routerNeighbor(t, l, nodeAddr, "internal", "")
	peer := l.Peer("e2e-ibgp", routerAddr)
	peer.Spec.LocalASN = lab.RouterASN
	src := seamarkv1alpha1.IPAddress(nodeAddr.String())
	peer.Spec.SourceAddress = &src
	peer.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/hostname": n2.Name}}
	create(t, l, ctx, peer)
	create(t, l, ctx, &seamarkv1alpha1.BGPAdvertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-localpref"},
		Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			ServiceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"e2e": "localpref"}},
			LocalPreference: new(int64(250)),
		},
	})
	addr := serviceAddr(t, l, ctx, ns, "preferred", l.NodeList, lab.ServiceOptions{Labels: map[string]string{"e2e": "localpref"}})
	eventually(t, 90*time.Second, "local preference of "+hostPrefix(addr)+" in FRR", func() error {
		paths, err := l.BGPPaths(hostPrefix(addr))
		if err != nil {
			return err
		}
		var ibgp bool
		for _, p := range paths {
			switch {
			case p.Peer == nodeAddr.String():
				if p.LocalPref != 250 || !p.Best {
					return fmt.Errorf("iBGP path from %s has local preference %d (best: %v), want 250 and best", p.Peer, p.LocalPref, p.Best)
				}
				ibgp = true
			case p.LocalPref != 0 && p.LocalPref != 100:
				return fmt.Errorf("eBGP path from %s carries local preference %d", p.Peer, p.LocalPref)
			}
		}
		if !ibgp || len(paths) != len(l.NodeList)+1 {
			return fmt.Errorf("paths %+v, want one per node and the iBGP one from %s", paths, nodeAddr)
		}
		return nil
	})
	// The preferred path wins alone: the router sends everything to the
	// second node.
	wantNextHops(t, l, hostPrefix(addr), []string{nodeAddr.String()})
	wantReplies(t, l, lab.URL(addr), 30, l.NodeList, addrs(n2))
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
		fatal(t, "%v", err)
	}
	wantSessions(t, l)
	wantNextHops(t, l, hostPrefix(addr), all)
	wantReplies(t, l, lab.URL(addr), 60, l.NodeList, all)
}

// wantSessions waits until the router's IPv4 sessions with every node are
// established.
func wantSessions(t testing.TB, l *lab.Lab) {
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
			fatal(t, "%v", err)
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

	t.Run("wrong peer password", func(t *testing.T) {
		// The router's neighbors are keyed by the node's address, which
		// the lab's session already uses: the third node dials a second
		// router address from an address of its own, and FRR expects
		// another password than the Secret holds.
		n3 := l.NodeList[2]
		routerAddr, nodeAddr := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.43")
		extraAddr(t, lab.NetnsRouter, routerAddr)
		extraAddr(t, n3.Netns, nodeAddr)
		registerSecret("seamark-right") // neither may be logged (checkSecretsNotLogged)
		registerSecret("seamark-wrong")
		routerNeighbor(t, l, nodeAddr, fmt.Sprint(lab.NodeASN), "password seamark-right")
		create(t, l, ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: lab.SeamarkNamespace, Name: "e2e-wrong-password"},
			StringData: map[string]string{"password": "seamark-wrong"},
		})
		peer := l.Peer("e2e-wrong-password", routerAddr)
		src := seamarkv1alpha1.IPAddress(nodeAddr.String())
		peer.Spec.SourceAddress = &src
		peer.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/hostname": n3.Name}}
		peer.Spec.PasswordSecretRef = &seamarkv1alpha1.SecretKeyReference{Name: "e2e-wrong-password", Key: "password"}
		off := l.LogSize(lab.SpeakerProcess(n3))
		create(t, l, ctx, peer)
		eventually(t, 90*time.Second, "the speaker of "+n3.Name+" logs that the session is not established", func() error {
			for _, line := range strings.Split(l.LogSince(lab.SpeakerProcess(n3), off), "\n") {
				if strings.Contains(line, "BGP session not established") && strings.Contains(line, `"peer":"e2e-wrong-password"`) &&
					strings.Contains(line, "TCP-MD5 password") {
					t.Logf("Speaker log: %s", line)
					return nil
				}
			}
			return errors.New("no such line yet")
		})
		for range 3 {
			st, err := l.SessionStates()
			if err != nil {
				fatal(t, "%v", err)
			}
			if got := st[nodeAddr.String()]; got == "Established" || got == "" {
				fatal(t, "FRR's session with %s is %q, want down", nodeAddr, got)
			}
			time.Sleep(time.Second)
		}
		stillRouted(t, l, addr, all)

		// The control: with the right password the same session comes up,
		// so it was the password that kept it down.
		sec := &corev1.Secret{}
		if err := l.Client.Get(ctx, client.ObjectKey{Namespace: lab.SeamarkNamespace, Name: "e2e-wrong-password"}, sec); err != nil {
			fatal(t, "%v", err)
		}
		sec.Data = map[string][]byte{"password": []byte("seamark-right")}
		if err := l.Client.Update(ctx, sec); err != nil {
			fatal(t, "%v", err)
		}
		eventually(t, 60*time.Second, "FRR's session with "+nodeAddr.String()+" established with the right password", func() error {
			st, err := l.SessionStates()
			if err != nil {
				return err
			}
			if got := st[nodeAddr.String()]; got != "Established" {
				return fmt.Errorf("state %q", got)
			}
			return nil
		})
	})
}

// routerIPv6 makes the nodes' IPv6 addresses neighbors of the router until
// the test ends.
func routerIPv6(t *testing.T, l *lab.Lab) {
	t.Helper()
	if err := l.SetRouterIPv6(true); err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(func() { _ = l.SetRouterIPv6(false) })
}

// extraAddr adds addr to the fabric link of namespace ns until the test
// ends.
func extraAddr(t *testing.T, ns string, addr netip.Addr) {
	t.Helper()
	p := netip.PrefixFrom(addr, 24).String()
	if _, err := lab.NetnsExec(ns, "ip", "addr", "add", p, "dev", "fabric"); err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(func() { _, _ = lab.NetnsExec(ns, "ip", "addr", "del", p, "dev", "fabric") })
}

// routerNeighbor adds a passive neighbor with the lab's short timers to the
// router until the test ends; extra is one more "neighbor ADDR ..."
// setting, or empty.
func routerNeighbor(t *testing.T, l *lab.Lab, addr netip.Addr, remoteAS, extra string) {
	t.Helper()
	lines := []string{
		fmt.Sprintf("neighbor %s remote-as %s", addr, remoteAS),
		fmt.Sprintf("neighbor %s passive", addr),
		fmt.Sprintf("neighbor %s timers 3 9", addr),
		fmt.Sprintf("neighbor %s timers connect 1", addr),
	}
	if extra != "" {
		lines = append(lines, fmt.Sprintf("neighbor %s %s", addr, extra))
	}
	if err := l.VtyshConfig(lines...); err != nil {
		fatal(t, "%v", err)
	}
	t.Cleanup(func() { _ = l.VtyshConfig(fmt.Sprintf("no neighbor %s", addr)) })
}

// stillRouted checks that the router still routes addr to want, and that
// traffic still flows.
func stillRouted(t *testing.T, l *lab.Lab, addr netip.Addr, want []string) {
	t.Helper()
	got, err := l.KernelNextHops(hostPrefix(addr))
	if err != nil {
		fatal(t, "%v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		fatal(t, "the router routes %s to %v, want %v still", addr, got, want)
	}
	res, err := l.FetchFromClient(lab.URL(addr), 30)
	if err != nil {
		fatal(t, "%v", err)
	}
	if res.Errors > 0 {
		fatal(t, "%d of 30 requests to %s failed: %s", res.Errors, addr, res.LastError)
	}
}

// pathFrom returns the path of prefix in FRR's table that came from peer,
// if there is one.
func pathFrom(l *lab.Lab, prefix, peer string) (lab.BGPPath, bool, error) {
	paths, err := l.BGPPaths(prefix)
	if err != nil {
		return lab.BGPPath{}, false, err
	}
	for _, p := range paths {
		if p.Peer == peer {
			return p, true, nil
		}
	}
	return lab.BGPPath{}, false, nil
}

// gracefulShutdown reports whether a path carries 65535:0, which FRR
// renders "graceful-shutdown".
func gracefulShutdown(p lab.BGPPath) bool {
	f := strings.Fields(p.Communities)
	return slices.Contains(f, "graceful-shutdown") || slices.Contains(f, "65535:0")
}

// startFetch starts continuous requests from sm-client to url; the test
// stops them with the returned function, which fails the test on a
// fetcher error. Cleanup stops them if the test ends first.
func startFetch(t testing.TB, l *lab.Lab, url string) func() lab.FetchResult {
	t.Helper()
	f, err := l.StartFetch(url, 20*time.Millisecond)
	if err != nil {
		fatal(t, "%v", err)
	}
	return stopFetcher(t, f)
}

// stopFetcher returns the function that stops f and returns what it met;
// f is stopped at the end of the test if that function was not called.
func stopFetcher(t testing.TB, f *lab.Fetcher) func() lab.FetchResult {
	t.Helper()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_, _ = f.Stop()
		}
	})
	return func() lab.FetchResult {
		t.Helper()
		stopped = true
		res, err := f.Stop()
		if err != nil {
			fatal(t, "%v", err)
		}
		return res
	}
}

// Scenario 6b: on SIGTERM a speaker announces its paths with the
// GRACEFUL_SHUTDOWN community (65535:0) during the drain, then withdraws
// them, and only then exits. The lab pulls the node's fabric cable the
// moment the speaker exits, so any request still routed there fails:
// continuous requests see none. The pods are on the other nodes, so the
// pulled cable cuts off only the traffic that enters through the first
// node (Cluster policy: it announces without a pod). Restarted, the node
// is back in the ECMP set.
func TestGracefulShutdown(t *testing.T) {
	const ns = "e2e-shutdown"
	l, ctx := setup(t, ns)
	n1, backends := l.NodeList[0], l.NodeList[1:]
	addr := serviceAddr(t, l, ctx, ns, "web", backends, lab.ServiceOptions{})
	prefix := hostPrefix(addr)
	all := addrs(l.NodeList...)
	wantNextHops(t, l, prefix, all)
	speaker := lab.SpeakerProcess(n1)
	t.Cleanup(func() {
		_ = lab.SetCable(n1, true)
		if _, running := l.Pid(speaker); !running {
			_ = l.StartSpeaker(n1, nil)
		}
	})

	// Restart the speaker with a drain long enough to be seen by polling.
	// Waiting for its route to go first keeps the checks below from passing
	// on the old session's state.
	if err := l.StopProcess(speaker, 30*time.Second); err != nil {
		fatal(t, "%v", err)
	}
	wantNextHops(t, l, prefix, addrs(l.NodeList[1:]...))
	if err := l.StartSpeaker(n1, []string{"--shutdown-drain=4s"}); err != nil {
		fatal(t, "%v", err)
	}
	wantNextHops(t, l, prefix, all)
	wantReplies(t, l, lab.URL(addr), 60, backends, all)

	stopFetch := startFetch(t, l, lab.URL(addr))
	time.Sleep(time.Second) // requests before the shutdown, too
	var exitedAt time.Time
	cableErr := make(chan error, 1)
	exited := l.OnExit(speaker, t.Context().Done(), func() {
		exitedAt = time.Now()
		cableErr <- lab.SetCable(n1, false)
	})
	if err := l.Signal(speaker, syscall.SIGTERM); err != nil {
		fatal(t, "%v", err)
	}
	sigAt := time.Now()

	// Watch n1's path in FRR until the speaker exits: it must carry
	// graceful-shutdown first, then be gone while the speaker still runs.
	var gshutAt, withdrawnAt time.Time
	var seen []string
	for {
		p, ok, err := pathFrom(l, prefix, n1.Addr.String())
		if err != nil {
			fatal(t, "%v", err)
		}
		_, running := l.Pid(speaker) // after the look: it ran during it
		if !running {
			break
		}
		switch {
		case ok && gracefulShutdown(p) && gshutAt.IsZero():
			gshutAt = time.Now()
			seen = append(seen, fmt.Sprintf("+%s graceful-shutdown %q", time.Since(sigAt).Round(time.Millisecond), p.Communities))
		case !ok && !gshutAt.IsZero() && withdrawnAt.IsZero():
			withdrawnAt = time.Now()
			seen = append(seen, fmt.Sprintf("+%s withdrawn", time.Since(sigAt).Round(time.Millisecond)))
		case ok && !gracefulShutdown(p) && len(seen) == 0:
			seen = append(seen, fmt.Sprintf("+%s path without graceful-shutdown %q", time.Since(sigAt).Round(time.Millisecond), p.Communities))
		}
		if time.Since(sigAt) > 60*time.Second {
			fatal(t, "speaker of %s still runs 60s after SIGTERM; FRR saw: %v", n1.Name, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		fatal(t, "%v", "the exit watcher did not fire")
	}
	if err := <-cableErr; err != nil {
		fatal(t, "%v", err)
	}
	seen = append(seen, fmt.Sprintf("+%s speaker exited, cable pulled", exitedAt.Sub(sigAt).Round(time.Millisecond)))
	t.Logf("After SIGTERM to %s's speaker FRR saw: %s", n1.Name, strings.Join(seen, "; "))
	if gshutAt.IsZero() {
		fatal(t, "FRR never had %s's path with graceful-shutdown (65535:0) while the speaker drained: %v", n1.Name, seen)
	}
	if withdrawnAt.IsZero() {
		fatal(t, "%s's path was not withdrawn before the speaker exited: %v", n1.Name, seen)
	}
	wantNextHops(t, l, prefix, addrs(l.NodeList[1:]...))
	time.Sleep(2 * time.Second) // requests with the cable pulled
	res := stopFetch()
	t.Logf("Continuous requests during the shutdown: %d sent, %d failed, replies %v", res.Requests, res.Errors, res.Replies)
	if res.Requests < 50 {
		fatal(t, "only %d requests were sent: the scenario proves nothing", res.Requests)
	}
	if res.Errors > 0 {
		fatal(t, "%d of %d requests failed during the graceful shutdown (e.g. %s at %v)", res.Errors, res.Requests, res.LastError, res.FailedAt())
	}

	if err := lab.SetCable(n1, true); err != nil {
		fatal(t, "%v", err)
	}
	if err := l.StartSpeaker(n1, nil); err != nil {
		fatal(t, "%v", err)
	}
	wantNextHops(t, l, prefix, all)
	wantReplies(t, l, lab.URL(addr), 60, backends, all)
}

// Scenario 6a: a Local-policy Service has its only endpoint on the first
// node; its speaker is killed (SIGKILL) and started again while sm-client
// sends requests. With graceful restart on the BGPPeer the router keeps
// the route and no request fails; without it the router drops the route
// and requests fail — the control that proves the scenario sees loss.
func TestGracefulRestart(t *testing.T) {
	const ns, app = "e2e-gr", "web"
	l, ctx := setup(t, ns)
	n1 := l.NodeList[0]
	speaker := lab.SpeakerProcess(n1)
	addr := serviceAddr(t, l, ctx, ns, app, []lab.Node{n1}, lab.ServiceOptions{Local: true})
	prefix := hostPrefix(addr)
	wantNextHops(t, l, prefix, addrs(n1))

	setGR := func(gr *seamarkv1alpha1.GracefulRestart) error {
		p := &seamarkv1alpha1.BGPPeer{}
		if err := l.Client.Get(ctx, client.ObjectKey{Name: lab.PeerName}, p); err != nil {
			return err
		}
		p.Spec.GracefulRestart = gr
		return l.Client.Update(ctx, p)
	}
	t.Cleanup(func() {
		if _, running := l.Pid(speaker); !running {
			_ = l.StartSpeaker(n1, nil)
		}
		// The next test starts with every session up without graceful
		// restart, not with a speaker's late reset still to come.
		setPeerGracefulRestart(t, l, false)
	})

	// crashAndRestart kills the speaker while requests flow, waits until
	// the router saw the session go, starts the speaker again and waits
	// until the route is fresh and answered; it returns what the requests
	// met.
	crashAndRestart := func(t *testing.T) lab.FetchResult {
		t.Helper()
		stopFetch := startFetch(t, l, lab.URL(addr))
		time.Sleep(time.Second)
		killedAt := time.Now()
		if err := l.Signal(speaker, syscall.SIGKILL); err != nil {
			fatal(t, "%v", err)
		}
		if !l.WaitExit(speaker, 10*time.Second) {
			fatal(t, "speaker of %s survived SIGKILL", n1.Name)
		}
		eventually(t, 30*time.Second, "the router noticed that "+n1.Name+" went away", func() error {
			st, err := l.SessionStates()
			if err != nil {
				return err
			}
			if st[n1.Addr.String()] == "Established" {
				return fmt.Errorf("session with %s still Established", n1.Addr)
			}
			return nil
		})
		time.Sleep(time.Second) // requests while the speaker is down
		if err := l.StartSpeaker(n1, nil); err != nil {
			fatal(t, "%v", err)
		}
		eventually(t, 60*time.Second, "a fresh path from "+n1.Name, func() error {
			p, ok, err := pathFrom(l, prefix, n1.Addr.String())
			if err != nil {
				return err
			}
			if !ok || p.Stale {
				return fmt.Errorf("path %+v (present: %v)", p, ok)
			}
			return nil
		})
		wantNextHops(t, l, prefix, addrs(n1))
		routedAt := time.Now()
		time.Sleep(time.Second) // requests after the restart
		res := stopFetch()
		t.Logf("Continuous requests: %d sent, %d failed (%s), replies %v", res.Requests, res.Errors, res.LastError, res.Replies)
		// The requests must span the crash: replies before the kill and
		// after the route is back (a failed request takes its whole 1 s
		// timeout, so how many were sent says little).
		if !res.FirstReply.Before(killedAt) || !res.LastReply.After(routedAt) {
			fatal(t, "replies from %s to %s do not span the kill at %s and the route's return at %s: the scenario proves nothing",
				res.FirstReply.Format(time.StampMilli), res.LastReply.Format(time.StampMilli), killedAt.Format(time.StampMilli), routedAt.Format(time.StampMilli))
		}
		return res
	}

	t.Run("disabled: requests fail (control)", func(t *testing.T) {
		wantSessions(t, l)
		if ok, err := l.GracefulRestartNegotiated(n1.Addr.String()); err != nil || ok {
			fatal(t, "graceful restart negotiated with %s: %v (%v), want not", n1.Name, ok, err)
		}
		if res := crashAndRestart(t); res.Errors == 0 {
			fatal(t, "no request failed while %s's speaker was down without graceful restart: the scenario cannot see loss", n1.Name)
		}
	})

	t.Run("enabled: no request fails", func(t *testing.T) {
		if err := setGR(&seamarkv1alpha1.GracefulRestart{Enabled: true, RestartTime: &metav1.Duration{Duration: 120 * time.Second}}); err != nil {
			fatal(t, "%v", err)
		}
		// The peer's settings changed: sessions are re-established with
		// the capability.
		eventually(t, 90*time.Second, "the router negotiated graceful restart with "+n1.Name, func() error {
			ok, err := l.GracefulRestartNegotiated(n1.Addr.String())
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("neighbor %s: no established session with graceful restart yet", n1.Addr)
			}
			return nil
		})
		wantNextHops(t, l, prefix, addrs(n1))
		wantReplies(t, l, lab.URL(addr), 30, []lab.Node{n1}, fromClient())
		if res := crashAndRestart(t); res.Errors > 0 {
			fatal(t, "%d of %d requests failed across the restart of %s's speaker with graceful restart (e.g. %s at %v)",
				res.Errors, res.Requests, n1.Name, res.LastError, res.FailedAt())
		}
	})
}

// The layer 2 client's tools see the nodes' segment: arping and ndisc6 from
// sm-l2client get a node's fabric MAC address, and the neighbour watch
// records the entry the kernel learns when traffic flows.
func TestLayer2Client(t *testing.T) {
	l, _ := setup(t, "e2e-l2client")
	n1 := l.NodeList[0]
	out, err := lab.NetnsExec(n1.Netns, "cat", "/sys/class/net/fabric/address")
	if err != nil {
		fatal(t, "%v", err)
	}
	mac, err := net.ParseMAC(strings.TrimSpace(string(out)))
	if err != nil {
		fatal(t, "%v", err)
	}
	if err := lab.FlushNeigh(); err != nil {
		fatal(t, "%v", err)
	}
	w, err := l.WatchNeigh()
	if err != nil {
		fatal(t, "%v", err)
	}
	defer w.Stop()
	start := time.Now()

	got, err := lab.ARPing(n1.Addr, 3)
	if err != nil {
		fatal(t, "%v", err)
	}
	got6, err := lab.NDisc(n1.AddrV6, 3)
	if err != nil {
		fatal(t, "%v", err)
	}
	if got.String() != mac.String() || got6.String() != mac.String() {
		fatal(t, "ARP says %s is at %s, NDP says %s is at %s; %s's fabric link is %s", n1.Addr, got, n1.AddrV6, got6, n1.Name, mac)
	}
	// A connection attempt (refused: nothing listens on port 9) makes the
	// kernel resolve the address into its neighbour table.
	_, _ = lab.NetnsExec(lab.NetnsL2Client, "curl", "-s", "--max-time", "2", "http://"+n1.Addr.String()+":9/")
	c, err := w.Wait(start, 10*time.Second, func(c lab.NeighChange) bool {
		return c.Addr == n1.Addr && strings.EqualFold(c.LLAddr, mac.String()) && !c.Deleted
	})
	if err != nil {
		fatal(t, "neighbour changes %+v: %v", w.Changes(), err)
	}
	t.Logf("sm-l2client learnt %s at %s (%s) %s after the start", c.Addr, c.LLAddr, c.State, c.At.Sub(start).Round(time.Millisecond))
}
