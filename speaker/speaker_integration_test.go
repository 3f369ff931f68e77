//go:build integration

package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker/bgp"
)

// eventually polls cond until it holds or timeout passes; cond explains
// what it saw, for the failure message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestSpeakerFollowsTheCluster runs the speaker's manager for node-a
// against the real apiserver, peering with a GoBGP router on loopback, and
// checks that what the router holds follows Services, EndpointSlices, the
// Node and ServiceCIDRs as they change, without the session ever being
// reset.
//
// ClusterIPRange is announced to a second peer that nobody listens for and
// checked in the applied plan, so that the router's exact-set checks stay
// about LoadBalancer addresses; the e2e suite checks ranges at a real FRR.
func TestSpeakerFollowsTheCluster(t *testing.T) {
	const (
		routerAddr = "127.0.0.50"
		sourceAddr = "127.0.0.51"
		port       = 18191
		nodeName   = "node-a"
	)
	ctx := t.Context()
	c := env.Client
	router := newTestRouter(t, routerSpec{Addr: routerAddr, Port: port, ASN: 64512, Neighbors: []string{sourceAddr}, PeerASN: 64513})

	create := func(obj client.Object) {
		t.Helper()
		mustDo(t, fmt.Sprintf("creating %T %s", obj, obj.GetName()), c.Create(ctx, obj))
	}
	for _, n := range []string{nodeName, "node-b"} {
		create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"zone": "a"}}})
	}
	pool := ipPool("public", nil, "203.0.113.0/24")
	create(&pool)
	peerSpec := func(addr string, p int32) func(*seamarkv1alpha1.BGPPeerSpec) {
		return func(s *seamarkv1alpha1.BGPPeerSpec) {
			s.Port = p
			s.RouterID = ptr(seamarkv1alpha1.IPAddress("198.18.0.51"))
			s.SourceAddress = ptr(seamarkv1alpha1.IPAddress(sourceAddr))
			s.HoldTime = &metav1.Duration{Duration: 9 * time.Second}
			s.KeepaliveTime = &metav1.Duration{Duration: 3 * time.Second}
			s.ConnectRetryTime = &metav1.Duration{Duration: time.Second}
		}
	}
	for _, p := range []seamarkv1alpha1.BGPPeer{
		bgpPeer("router", 0, routerAddr, 64512, 64513, peerSpec(routerAddr, port)),
		bgpPeer("offline", 0, "127.0.0.52", 64512, 64513, peerSpec("127.0.0.52", port+1)),
	} {
		p.CreationTimestamp = metav1.Time{}
		create(&p)
	}
	for _, a := range []seamarkv1alpha1.BGPAdvertisement{
		bgpAdv("lb", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.Peers = []seamarkv1alpha1.ObjectName{"router"} }),
		bgpAdv("ranges", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
			s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIPRange}
			s.Peers = []seamarkv1alpha1.ObjectName{"offline"}
		}),
	} {
		a.CreationTimestamp = metav1.Time{}
		create(&a)
	}

	// The speaker, wired as cmd/seamark-speaker wires it.
	log := testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  CacheOptions("seamark-system", nodeName, false),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 log,
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr(true)},
	})
	mustDo(t, "creating manager", err)
	bgpSpeaker := bgp.New(bgp.Options{Logger: log.WithName("bgp")})
	r := &Reconciler{NodeName: nodeName, Namespace: "seamark-system", DefaultClass: true, Announcer: bgpSpeaker}
	mustDo(t, "setting up reconciler", r.SetupWithManager(mgr))
	mustDo(t, "adding shutdown", mgr.Add(&Shutdown{Speaker: bgpSpeaker}))
	mgrCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	eventually(t, time.Minute, "the session established", func() (bool, string) {
		return router.established(sourceAddr), "not established"
	})
	uptime := sessionUptime(t, router, sourceAddr)

	expectRouter := func(what string, want ...string) {
		t.Helper()
		eventually(t, 30*time.Second, what, func() (bool, string) {
			got, err := router.received(sourceAddr)
			if err != nil {
				return false, err.Error()
			}
			var gotS []string
			for p := range got {
				gotS = append(gotS, p.String())
			}
			slices.Sort(gotS)
			slices.Sort(want)
			return slices.Equal(gotS, want), fmt.Sprintf("router holds %v, want %v", gotS, want)
		})
	}

	// A Cluster-policy Service is announced once its status shows an address.
	web := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	create(web)
	setIngress(t, web, "203.0.113.10")
	expectRouter("the Cluster-policy Service announced", "203.0.113.10/32")

	// A Local-policy Service follows its endpoint between nodes.
	api := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "api"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(8443)}}},
	}
	create(api)
	slice := endpointSlice("api", readyOn(nodeName))
	create(&slice)
	setIngress(t, api, "203.0.113.11")
	expectRouter("the Local Service with an endpoint here announced", "203.0.113.10/32", "203.0.113.11/32")
	moveEndpoint(t, &slice, "node-b")
	expectRouter("the Local Service withdrawn when its endpoint moved away", "203.0.113.10/32")
	moveEndpoint(t, &slice, nodeName)
	expectRouter("the Local Service announced again when its endpoint came back", "203.0.113.10/32", "203.0.113.11/32")

	// Excluding the node withdraws everything; lifting it brings it back.
	setNodeLabel(t, nodeName, seamarkv1alpha1.LabelExcludeFromExternalLB, ptr(""))
	expectRouter("everything withdrawn from the excluded node")
	setNodeLabel(t, nodeName, seamarkv1alpha1.LabelExcludeFromExternalLB, nil)
	expectRouter("everything back once the node is no longer excluded", "203.0.113.10/32", "203.0.113.11/32")

	// A new Ready ServiceCIDR is planned for the ClusterIPRange peer.
	extra := &networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: "extra"}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: []string{"198.18.128.0/24"}}}
	create(extra)
	// Nothing runs the ServiceCIDR controller here; mark it Ready as it would.
	extra.Status.Conditions = []metav1.Condition{{Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionTrue,
		Reason: "Ready", Message: "ready", LastTransitionTime: metav1.Now()}}
	mustDo(t, "marking the ServiceCIDR Ready", c.Status().Update(ctx, extra))
	want := netip.MustParsePrefix("198.18.128.0/24")
	eventually(t, 30*time.Second, "the new ServiceCIDR in the plan of the ClusterIPRange peer", func() (bool, string) {
		p := r.Applied()
		if p == nil {
			return false, "no plan"
		}
		var got []string
		for _, path := range p.Peers["offline"].Paths {
			if path.Prefix == want {
				return true, ""
			}
			got = append(got, path.Prefix.String())
		}
		return false, fmt.Sprintf("offline peer plans %v", got)
	})

	// A burst of Service changes: one plan per burst, and the session stays up.
	var burst []string
	for i := range 100 {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("burst-%d", i)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
		}
		create(svc)
		ip := fmt.Sprintf("203.0.113.%d", 100+i)
		setIngress(t, svc, ip)
		burst = append(burst, ip+"/32")
	}
	expectRouter("the burst of Services announced", append([]string{"203.0.113.10/32", "203.0.113.11/32"}, burst...)...)

	// Deleting a Service withdraws its address.
	mustDo(t, "deleting Service web", c.Delete(ctx, web))
	expectRouter("the deleted Service withdrawn", append([]string{"203.0.113.11/32"}, burst...)...)

	if got := sessionUptime(t, router, sourceAddr); !got.Equal(uptime) {
		t.Errorf("the session was reset: up since %s, was up since %s", got, uptime)
	}
}

func setIngress(t *testing.T, svc *corev1.Service, ips ...string) {
	t.Helper()
	svc.Status.LoadBalancer.Ingress = nil
	for _, ip := range ips {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	mustDo(t, "writing the status of Service "+svc.Name, env.Client.Status().Update(t.Context(), svc))
}

func moveEndpoint(t *testing.T, slice *discoveryv1.EndpointSlice, node string) {
	t.Helper()
	slice.Endpoints[0].NodeName = ptr(node)
	mustDo(t, "moving the endpoint to "+node, env.Client.Update(t.Context(), slice))
}

// setNodeLabel sets (value non-nil) or removes a label of a node.
func setNodeLabel(t *testing.T, name, key string, value *string) {
	t.Helper()
	var n corev1.Node
	mustDo(t, "reading node "+name, env.Client.Get(t.Context(), client.ObjectKey{Name: name}, &n))
	patch := client.MergeFrom(n.DeepCopy())
	if value != nil {
		n.Labels[key] = *value
	} else {
		delete(n.Labels, key)
	}
	mustDo(t, "labelling node "+name, env.Client.Patch(t.Context(), &n, patch))
}

// sessionUptime is when the router's session with neighbor came up.
func sessionUptime(t *testing.T, r *testRouter, neighbor string) time.Time {
	t.Helper()
	var up time.Time
	err := r.srv.ListPeer(t.Context(), &gobgpapi.ListPeerRequest{Address: neighbor}, func(p *gobgpapi.Peer) {
		up = p.GetTimers().GetState().GetUptime().AsTime()
	})
	if err != nil || up.IsZero() || strings.HasPrefix(up.String(), "1970") {
		t.Fatalf("reading the session's uptime: %v (got %s)", err, up)
	}
	return up
}
