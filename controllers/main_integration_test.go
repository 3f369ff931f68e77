//go:build integration

package controllers_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers"
	"github.com/seamark-io/seamark/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapLevel())))
	testenv.Main(m, &env)
}

const systemNamespace = "seamark-system"

var managerSeq int
var managerMu sync.Mutex

// startController runs a controller manager (no leader election) until
// the returned stop function is called or the test ends.
func startController(t testing.TB) (stop func()) {
	t.Helper()
	return startControllerWith(t, nil)
}

// startControllerWith is startController with a metrics registry.
func startControllerWith(t testing.TB, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	managerMu.Lock()
	managerSeq++
	n := managerSeq
	managerMu.Unlock()
	cfg := *env.Config
	cfg.QPS, cfg.Burst = 1000, 2000
	skip := true
	mgr, err := ctrl.NewManager(&cfg, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  controllers.CacheOptions(systemNamespace),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controllers.Setup(mgr, controllers.Options{Namespace: systemNamespace, DefaultClass: true, Name: fmt.Sprintf("-%d", n), OrphanGrace: 2 * time.Second, Registry: reg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// ns creates a namespace labelled for the test's own pools.
func ns(t testing.TB, name string) string {
	t.Helper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"seamark-test": name}}}
	if err := env.Client.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return name
}

type poolOpt func(*seamarkv1alpha1.IPPool)

func autoAssign(v bool) poolOpt { return func(p *seamarkv1alpha1.IPPool) { p.Spec.AutoAssign = &v } }
func priority(v int32) poolOpt  { return func(p *seamarkv1alpha1.IPPool) { p.Spec.Priority = v } }

// createPool creates a pool usable only by the namespace testNS.
func createPool(t testing.TB, name, testNS string, cidrs []string, opts ...poolOpt) *seamarkv1alpha1.IPPool {
	t.Helper()
	p := &seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: seamarkv1alpha1.IPPoolSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"seamark-test": testNS}},
	}}
	for _, c := range cidrs {
		p.Spec.CIDRs = append(p.Spec.CIDRs, seamarkv1alpha1.CIDROrRange(c))
	}
	for _, o := range opts {
		o(p)
	}
	if err := env.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

type svcOpt func(*corev1.Service)

func ann(k, v string) svcOpt {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}
func ports(ps ...int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Ports = nil
		for _, p := range ps {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprint("p", p), Port: p, TargetPort: intstr.FromInt32(p), Protocol: corev1.ProtocolTCP})
		}
	}
}
func local(selector string) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.Selector = map[string]string{"app": selector}
	}
}
func dual(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) svcOpt {
	return func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &policy; s.Spec.IPFamilies = fams }
}
func class(c string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c } }

func createService(t testing.TB, namespace, name string, opts ...svcOpt) *corev1.Service {
	t.Helper()
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: corev1.ServiceSpec{
		Type:     corev1.ServiceTypeLoadBalancer,
		Selector: map[string]string{"app": name},
	}}
	ports(80)(s)
	for _, o := range opts {
		o(s)
	}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func addresses(t testing.TB, namespace, name string) []string {
	t.Helper()
	s := &corev1.Service{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// waitAddresses waits until the Service shows exactly want.
func waitAddresses(t testing.TB, namespace, name string, want ...string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%s/%s to show %v", namespace, name, want), func() (bool, string) {
		got := addresses(t, namespace, name)
		return strings.Join(got, ",") == strings.Join(want, ","), fmt.Sprint(got)
	})
}

// waitEvent waits for an event on the Service whose reason and note match.
func waitEvent(t testing.TB, namespace, name, reason, noteSubstring string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("event %s %q on %s/%s", reason, noteSubstring, namespace, name), func() (bool, string) {
		var evs eventsv1.EventList
		if err := env.Client.List(context.Background(), &evs, client.InNamespace(namespace)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Regarding.Name != name {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Note)
			if e.Reason == reason && strings.Contains(e.Note, noteSubstring) {
				return true, ""
			}
		}
		return false, strings.Join(seen, " | ")
	})
}

// allocation returns the IPAllocation of an address, or nil.
func allocation(t testing.TB, addr string) *seamarkv1alpha1.IPAllocation {
	t.Helper()
	a := &seamarkv1alpha1.IPAllocation{}
	err := env.Client.Get(context.Background(), client.ObjectKey{Name: seamarkv1alpha1.AllocationName(netip.MustParseAddr(addr))}, a)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func deleteObj(t testing.TB, obj client.Object) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func metaOf(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

func condString(c *metav1.Condition) string {
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
}

func fmtStatus(s seamarkv1alpha1.IPPoolStatus) string {
	return fmt.Sprintf("ipv4=%+v ipv6=%+v allocated=%d available=%s", s.IPv4, s.IPv6, s.Allocated, s.Available)
}
