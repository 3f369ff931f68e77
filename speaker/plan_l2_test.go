package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/speaker/layer2"
)

func l2Adv(name string, f func(*seamarkv1alpha1.L2AdvertisementSpec)) seamarkv1alpha1.L2Advertisement {
	a := seamarkv1alpha1.L2Advertisement{ObjectMeta: objMeta(name, 0, nil)}
	if f != nil {
		f(&a.Spec)
	}
	return a
}

func l2Resources(advs ...seamarkv1alpha1.L2Advertisement) config.Resources {
	return config.Resources{Pools: []seamarkv1alpha1.IPPool{publicPool, internalPool}, L2Advertisements: advs}
}

// TestComputeL2 checks the layer 2 half of the plan: which nodes each
// advertisement lets own each address (the election is speaker/layer2's).
func TestComputeL2(t *testing.T) {
	a := netip.MustParseAddr
	minute := time.Minute
	nodes := []corev1.Node{
		*node("node-c", nil),
		*node(thisNode, nil),
		*node("node-b", func(n *corev1.Node) { n.Labels["zone"] = "b" }),
		*node("node-x", func(n *corev1.Node) { n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = "" }),
		*node("node-t", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: seamarkv1alpha1.TaintOutOfService, Effect: corev1.TaintEffectNoExecute}}
		}),
	}
	eligible := []string{thisNode, "node-b", "node-c"}
	rule := func(nodes ...string) layer2.Rule { return layer2.Rule{Nodes: nodes, Refresh: minute} }
	tests := []struct {
		name     string
		res      config.Resources
		services []corev1.Service
		slices   []discoveryv1.EndpointSlice
		want     []layer2.Address
		enabled  bool
	}{
		{
			name:     "without an L2Advertisement there is nothing to answer for",
			res:      resources(defaultAdv),
			services: []corev1.Service{lbService("web", "203.0.113.10")},
		},
		{
			name:     "cluster policy: every eligible node, excluded and out-of-service ones left out",
			res:      l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{lbService("web", "203.0.113.10")},
			want:     []layer2.Address{{Addr: a("203.0.113.10"), Key: a("203.0.113.10"), Rules: []layer2.Rule{rule(eligible...)}}},
			enabled:  true,
		},
		{
			name:     "an L2Advertisement with nothing to answer for still enables gossip",
			res:      l2Resources(l2Adv("all", nil)),
			enabled:  true,
			services: nil,
			want:     []layer2.Address{},
		},
		{
			name: "the node selector restricts the nodes; interfaces and refresh are carried",
			res: l2Resources(l2Adv("zone-a", func(s *seamarkv1alpha1.L2AdvertisementSpec) {
				s.NodeSelector = sel(map[string]string{"zone": "a"})
				s.Interfaces = []seamarkv1alpha1.InterfaceName{"vlan*"}
				s.RefreshInterval = &metav1.Duration{Duration: 10 * time.Second}
			})),
			services: []corev1.Service{lbService("web", "203.0.113.10")},
			want: []layer2.Address{{Addr: a("203.0.113.10"), Key: a("203.0.113.10"),
				Rules: []layer2.Rule{{Nodes: []string{thisNode, "node-c"}, Interfaces: []string{"vlan*"}, Refresh: 10 * time.Second}}}},
			enabled: true,
		},
		{
			name: "a pool selector that does not match leaves the address out",
			res: l2Resources(l2Adv("internal-only", func(s *seamarkv1alpha1.L2AdvertisementSpec) {
				s.IPPoolSelector = sel(map[string]string{"tier": "internal"})
			})),
			services: []corev1.Service{lbService("web", "203.0.113.10"), lbService("db", "198.51.100.5")},
			want:     []layer2.Address{{Addr: a("198.51.100.5"), Key: a("198.51.100.5"), Rules: []layer2.Rule{rule(eligible...)}}},
			enabled:  true,
		},
		{
			name:     "dual-stack: both families are elected by the IPv4 address",
			res:      l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{lbService("web", "2001:db8:1::10", "203.0.113.10")},
			want: []layer2.Address{
				{Addr: a("203.0.113.10"), Key: a("203.0.113.10"), Rules: []layer2.Rule{rule(eligible...)}},
				{Addr: a("2001:db8:1::10"), Key: a("203.0.113.10"), Rules: []layer2.Rule{rule(eligible...)}},
			},
			enabled: true,
		},
		{
			name:     "local policy: only nodes with a ready endpoint",
			res:      l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{withService(lbService("web", "203.0.113.10"), local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-c"), readyOn("node-x"))},
			want:     []layer2.Address{{Addr: a("203.0.113.10"), Key: a("203.0.113.10"), Rules: []layer2.Rule{rule("node-c")}}},
			enabled:  true,
		},
		{
			name:     "local policy: a node whose endpoints all terminate but still serve keeps it",
			res:      l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{withService(lbService("web", "203.0.113.10"), local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-c"), servingTerminatingOn("node-b"))},
			want:     []layer2.Address{{Addr: a("203.0.113.10"), Key: a("203.0.113.10"), Rules: []layer2.Rule{rule("node-b", "node-c")}}},
			enabled:  true,
		},
		{
			name:     "local policy without endpoints: no node may own it",
			res:      l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{withService(lbService("web", "203.0.113.10"), local)},
			want:     []layer2.Address{{Addr: a("203.0.113.10"), Key: a("203.0.113.10")}},
			enabled:  true,
		},
		{
			name: "withdrawWhenNoEndpoints: a cluster-policy address without endpoints has no node",
			res: l2Resources(l2Adv("all", func(s *seamarkv1alpha1.L2AdvertisementSpec) {
				s.WithdrawWhenNoEndpoints = true
			})),
			services: []corev1.Service{lbService("web", "203.0.113.10"), lbService("api", "203.0.113.11")},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("api", readyOn("node-b"))},
			want: []layer2.Address{
				{Addr: a("203.0.113.10"), Key: a("203.0.113.10")},
				{Addr: a("203.0.113.11"), Key: a("203.0.113.11"), Rules: []layer2.Rule{rule(eligible...)}},
			},
			enabled: true,
		},
		{
			name:     "a shared address takes the union of its Services' rules",
			res:      l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{withService(lbService("web", "203.0.113.10"), local), withService(lbService("api", "203.0.113.10"), local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-b")), endpointSlice("api", readyOn("node-c"))},
			want:     []layer2.Address{{Addr: a("203.0.113.10"), Key: a("203.0.113.10"), Rules: []layer2.Rule{rule("node-b"), rule("node-c")}}},
			enabled:  true,
		},
		{
			name: "a Service of another load-balancer class is not answered for",
			res:  l2Resources(l2Adv("all", nil)),
			services: []corev1.Service{withService(lbService("web", "203.0.113.10"), func(s *corev1.Service) {
				s.Spec.LoadBalancerClass = ptr("example.com/other")
			})},
			want:    []layer2.Address{},
			enabled: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Compute(Input{Config: buildConfig(t, tt.res), Node: node(thisNode, nil), Nodes: nodes,
				Services: tt.services, EndpointSlices: tt.slices, DefaultClass: true})
			if plan.L2Enabled != tt.enabled {
				t.Errorf("L2Enabled = %v, want %v", plan.L2Enabled, tt.enabled)
			}
			if diff := cmp.Diff(tt.want, plan.L2, cmpNetip); diff != "" {
				t.Errorf("L2 (-want +got):\n%s", diff)
			}
		})
	}
}
