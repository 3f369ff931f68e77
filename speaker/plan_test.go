package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/speaker/bgp"
)

// TestComputePaths checks which paths each peer of the node gets, one rule
// of docs/architecture.md ("Announcing addresses") per case. want lists every peer the node has a session
// with; nil paths mean a session that announces nothing.
func TestComputePaths(t *testing.T) {
	const (
		comm100  = 65000<<16 | 100
		comm200  = 65000<<16 | 200
		noExport = 0xFFFFFF01
	)
	allPeersGet := func(v4 []bgp.Path, v6 []bgp.Path) map[string][]bgp.Path {
		return map[string][]bgp.Path{"r4e": v4, "r4i": v4, "r6e": v6}
	}
	svc10 := lbService("web", "203.0.113.10")
	ready10 := []discoveryv1.EndpointSlice{endpointSlice("web", readyOn(thisNode))}

	tests := []struct {
		name         string
		res          config.Resources
		node         *corev1.Node // default: node(thisNode, nil)
		services     []corev1.Service
		slices       []discoveryv1.EndpointSlice
		noDefaultCls bool
		want         map[string][]bgp.Path
	}{
		// Policy Cluster and address families.
		{
			name:     "cluster policy service is announced to every peer of its family",
			res:      resources(defaultAdv),
			services: []corev1.Service{svc10},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "IPv6 address is announced to the IPv6 peer only",
			res:      resources(defaultAdv),
			services: []corev1.Service{lbService("web", "2001:db8:1::10")},
			want:     allPeersGet(nil, []bgp.Path{host("2001:db8:1::10")}),
		},
		{
			name:     "dual-stack service announces each family to the peers of that family",
			res:      resources(defaultAdv),
			services: []corev1.Service{lbService("web", "2001:db8:1::10", "203.0.113.10")},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, []bgp.Path{host("2001:db8:1::10")}),
		},
		{
			name:     "without advertisements the sessions are kept but announce nothing",
			res:      resources(),
			services: []corev1.Service{svc10},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "paths are sorted by prefix",
			res:      resources(defaultAdv),
			services: []corev1.Service{lbService("b", "203.0.113.20"), lbService("a", "198.51.100.5"), lbService("c", "203.0.113.3")},
			want:     allPeersGet([]bgp.Path{host("198.51.100.5"), host("203.0.113.3"), host("203.0.113.20")}, nil),
		},
		{
			name: "an ingress entry with a hostname only is ignored",
			res:  resources(defaultAdv),
			services: []corev1.Service{withService(lbService("web"), func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "lb.example"}}
			})},
			want: allPeersGet(nil, nil),
		},

		// Node eligibility.
		{
			name:     "node labelled exclude-from-external-load-balancers announces nothing",
			res:      resources(defaultAdv),
			node:     node(thisNode, func(n *corev1.Node) { n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = "" }),
			services: []corev1.Service{svc10},
			want:     allPeersGet(nil, nil),
		},
		{
			name: "node tainted out-of-service announces nothing",
			res:  resources(defaultAdv),
			node: node(thisNode, func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: seamarkv1alpha1.TaintOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}}
			}),
			services: []corev1.Service{svc10},
			want:     allPeersGet(nil, nil),
		},
		{
			name: "other taints do not stop announcing",
			res:  resources(defaultAdv),
			node: node(thisNode, func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}}
			}),
			services: []corev1.Service{svc10},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "advertisement whose nodeSelector does not match the node announces nothing",
			res:      resources(bgpAdv("zone-b", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.NodeSelector = sel(map[string]string{"zone": "b"}) })),
			services: []corev1.Service{svc10},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "advertisement whose nodeSelector matches the node announces",
			res:      resources(bgpAdv("zone-a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.NodeSelector = sel(map[string]string{"zone": "a"}) })),
			services: []corev1.Service{svc10},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name: "peers follow the BGPPeer nodeSelector",
			res: config.Resources{
				Pools: []seamarkv1alpha1.IPPool{publicPool},
				Peers: []seamarkv1alpha1.BGPPeer{peerE4, bgpPeer("rack-b", 5, "198.18.0.9", 64512, 64513, func(s *seamarkv1alpha1.BGPPeerSpec) {
					s.NodeSelector = sel(map[string]string{"zone": "b"})
				})},
				BGPAdvertisements: []seamarkv1alpha1.BGPAdvertisement{defaultAdv},
			},
			services: []corev1.Service{svc10},
			want:     map[string][]bgp.Path{"r4e": {host("203.0.113.10")}},
		},

		// Policy Local and endpoints.
		{
			name:     "local policy without an endpoint on this node is not announced",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-b"))},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "local policy with a ready endpoint on this node is announced",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-b"), readyOn(thisNode))},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "local policy counts an endpoint without conditions as ready",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", ep{node: thisNode})},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "local policy does not count a not-ready endpoint on this node",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", ep{node: thisNode, ready: no, serving: no, terminating: no})},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "local policy falls back to serving-terminating endpoints on this node",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", servingTerminatingOn(thisNode), readyOn("node-b"))},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "local policy does not count terminating endpoints that stopped serving",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", ep{node: thisNode, ready: no, serving: no, terminating: yes})},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "local policy does not count serving-terminating endpoints of other nodes",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", servingTerminatingOn("node-b"))},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "local policy reads endpoints of the Service's own namespace only",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, local)},
			slices: []discoveryv1.EndpointSlice{func() discoveryv1.EndpointSlice {
				s := endpointSlice("web", readyOn(thisNode))
				s.Namespace = "other"
				return s
			}()},
			want: allPeersGet(nil, nil),
		},
		{
			name:     "cluster policy without endpoints is announced when withdrawWhenNoEndpoints is off",
			res:      resources(defaultAdv),
			services: []corev1.Service{svc10},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "withdrawWhenNoEndpoints withdraws a cluster-policy service without a ready endpoint",
			res:      resources(bgpAdv("w", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.WithdrawWhenNoEndpoints = true })),
			services: []corev1.Service{svc10},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", ep{node: "node-b", ready: no, serving: no})},
			want:     allPeersGet(nil, nil),
		},
		{
			name:     "withdrawWhenNoEndpoints keeps a service whose ready endpoint is on another node",
			res:      resources(bgpAdv("w", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.WithdrawWhenNoEndpoints = true })),
			services: []corev1.Service{svc10},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-b"))},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "withdrawWhenNoEndpoints keeps a service still served by serving-terminating endpoints",
			res:      resources(bgpAdv("w", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.WithdrawWhenNoEndpoints = true })),
			services: []corev1.Service{svc10},
			slices:   []discoveryv1.EndpointSlice{endpointSlice("web", servingTerminatingOn("node-b"))},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},

		// Load balancer class.
		{
			name:     "service of another load balancer class is not announced",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("example.com/other") })},
			want:     allPeersGet(nil, nil),
		},
		{
			name:         "service without class is not announced with default-class false",
			res:          resources(defaultAdv),
			services:     []corev1.Service{svc10},
			noDefaultCls: true,
			want:         allPeersGet(nil, nil),
		},
		{
			name:         "service of class seamark.io/lb is announced with default-class false",
			res:          resources(defaultAdv),
			services:     []corev1.Service{withService(svc10, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr(seamarkv1alpha1.LoadBalancerClass) })},
			noDefaultCls: true,
			want:         allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name:     "status of a service that is not a LoadBalancer is ignored",
			res:      resources(defaultAdv),
			services: []corev1.Service{withService(svc10, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })},
			want:     allPeersGet(nil, nil),
		},

		// Selectors.
		{
			name: "ipPoolSelector announces the addresses of its pools only",
			res: resources(bgpAdv("public-only", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.IPPoolSelector = sel(map[string]string{"tier": "public"})
			})),
			services: []corev1.Service{svc10, lbService("db", "198.51.100.7")},
			want:     allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name: "an address outside every pool is announced by advertisements without ipPoolSelector only",
			res: resources(defaultAdv, bgpAdv("public-only", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.IPPoolSelector = sel(map[string]string{"tier": "public"})
				s.Communities = []seamarkv1alpha1.Community{"no-export"}
			})),
			services: []corev1.Service{lbService("old", "198.18.50.1")},
			want:     allPeersGet([]bgp.Path{host("198.18.50.1")}, nil),
		},
		{
			name: "serviceSelector picks services by their labels",
			res: resources(bgpAdv("frontends", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.ServiceSelector = sel(map[string]string{"role": "frontend"})
			})),
			services: []corev1.Service{
				withService(svc10, func(s *corev1.Service) { s.Labels = map[string]string{"role": "frontend"} }),
				lbService("db", "203.0.113.11"),
			},
			want: allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},

		// Aggregation.
		{
			name: "aggregation length announces the covering prefix once for several services",
			res: resources(bgpAdv("agg", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.AggregationLength = ptr(int32(24))
				s.AggregationLengthV6 = ptr(int32(112))
			})),
			services: []corev1.Service{svc10, lbService("b", "203.0.113.200", "2001:db8:1::20"), lbService("c", "2001:db8:1::30")},
			want:     allPeersGet([]bgp.Path{prefix("203.0.113.0/24")}, []bgp.Path{prefix("2001:db8:1::/112")}),
		},
		{
			name: "aggregation length applies to LoadBalancerIP only, not to ExternalIP",
			res: resources(bgpAdv("agg", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressLoadBalancerIP, seamarkv1alpha1.AddressExternalIP}
				s.AggregationLength = ptr(int32(24))
			})),
			services: []corev1.Service{withService(svc10, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.77"} })},
			want:     allPeersGet([]bgp.Path{prefix("203.0.113.0/24"), host("203.0.113.77")}, nil),
		},

		// ExternalIP, ClusterIP, ClusterIPRange.
		{
			name: "ExternalIP announces spec.externalIPs of any service as host routes",
			res: resources(bgpAdv("ext", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressExternalIP}
			})),
			services: []corev1.Service{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "legacy"},
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "198.18.200.5", ExternalIPs: []string{"198.51.100.40", "2001:db8:2::40"}},
			}, svc10},
			want: allPeersGet([]bgp.Path{host("198.51.100.40")}, []bgp.Path{host("2001:db8:2::40")}),
		},
		{
			name: "ExternalIP of a local-policy service needs an endpoint on this node",
			res: resources(bgpAdv("ext", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressExternalIP}
			})),
			services: []corev1.Service{
				withService(lbService("web"), func(s *corev1.Service) { local(s); s.Spec.ExternalIPs = []string{"198.51.100.40"} }),
				withService(lbService("api"), func(s *corev1.Service) { local(s); s.Spec.ExternalIPs = []string{"198.51.100.41"} }),
			},
			slices: ready10,
			want:   allPeersGet([]bgp.Path{host("198.51.100.40")}, nil),
		},
		{
			name: "ClusterIP announces every cluster IP as a host route, but not headless services",
			res: resources(bgpAdv("cip", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIP}
			})),
			services: []corev1.Service{
				withService(svc10, func(s *corev1.Service) {
					s.Spec.ClusterIP, s.Spec.ClusterIPs = "198.18.200.10", []string{"198.18.200.10", "2001:db8:ff00::10"}
				}),
				{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}}},
			},
			want: allPeersGet([]bgp.Path{host("198.18.200.10")}, []bgp.Path{host("2001:db8:ff00::10")}),
		},
		{
			name: "ClusterIP follows internalTrafficPolicy Local, not externalTrafficPolicy",
			res: resources(bgpAdv("cip", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIP}
			})),
			services: []corev1.Service{
				withService(lbService("web"), func(s *corev1.Service) {
					s.Spec.ClusterIPs = []string{"198.18.200.10"}
					s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyLocal)
				}),
				withService(lbService("api"), func(s *corev1.Service) {
					local(s) // only the external policy is Local
					s.Spec.ClusterIPs = []string{"198.18.200.11"}
				}),
				withService(lbService("db"), func(s *corev1.Service) {
					s.Spec.ClusterIPs = []string{"198.18.200.12"}
					s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyLocal)
				}),
			},
			slices: ready10,
			want:   allPeersGet([]bgp.Path{host("198.18.200.10"), host("198.18.200.11")}, nil),
		},
		{
			name: "ClusterIPRange announces every Ready ServiceCIDR as is",
			res: func() config.Resources {
				r := resources(bgpAdv("ranges", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIPRange}
				}))
				r.ServiceCIDRs = []networkingv1.ServiceCIDR{
					serviceCIDR("kubernetes", true, "198.18.128.0/20", "2001:db8:ff00::/112"),
					serviceCIDR("extra", true, "198.18.160.0/24"),
					serviceCIDR("pending", false, "198.18.170.0/24"),
				}
				return r
			}(),
			services: []corev1.Service{svc10},
			want:     allPeersGet([]bgp.Path{prefix("198.18.128.0/20"), prefix("198.18.160.0/24")}, []bgp.Path{prefix("2001:db8:ff00::/112")}),
		},
		{
			name: "ClusterIPRange is not announced by an advertisement with an ipPoolSelector, since ranges are in no pool",
			res: func() config.Resources {
				r := resources(bgpAdv("ranges", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIPRange}
					s.IPPoolSelector = sel(map[string]string{"tier": "public"})
				}))
				r.ServiceCIDRs = []networkingv1.ServiceCIDR{serviceCIDR("kubernetes", true, "198.18.128.0/20")}
				return r
			}(),
			want: allPeersGet(nil, nil),
		},
		{
			name: "ClusterIPRange is still withdrawn from an excluded node",
			res: func() config.Resources {
				r := resources(bgpAdv("ranges", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressClusterIPRange}
				}))
				r.ServiceCIDRs = []networkingv1.ServiceCIDR{serviceCIDR("kubernetes", true, "198.18.128.0/20")}
				return r
			}(),
			node: node(thisNode, func(n *corev1.Node) { n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = "true" }),
			want: allPeersGet(nil, nil),
		},

		// Attributes.
		{
			name: "standard, large and well-known communities are attached, sorted and unique",
			res: resources(bgpAdv("tagged", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Communities = []seamarkv1alpha1.Community{"no-export", "65000:200", "64512:1:2", "65000:100"}
			})),
			services: []corev1.Service{svc10},
			want: allPeersGet([]bgp.Path{withAttrs(host("203.0.113.10"), 0, []uint32{comm100, comm200, noExport},
				bgp.LargeCommunity{Global: 64512, Local1: 1, Local2: 2})}, nil),
		},
		{
			name: "local preference is sent to iBGP peers only",
			res: resources(bgpAdv("pref", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.LocalPreference = ptr(int64(150))
			})),
			services: []corev1.Service{svc10},
			want: map[string][]bgp.Path{
				"r4e": {host("203.0.113.10")},
				"r4i": {withAttrs(host("203.0.113.10"), 150, nil)},
				"r6e": nil,
			},
		},
		{
			name: "two advertisements of one prefix merge communities and keep the highest local preference",
			res: resources(
				bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Communities = []seamarkv1alpha1.Community{"65000:100"}
					s.LocalPreference = ptr(int64(100))
				}),
				bgpAdv("b", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Communities = []seamarkv1alpha1.Community{"65000:200", "65000:100"}
					s.LocalPreference = ptr(int64(300))
				}),
			),
			services: []corev1.Service{svc10},
			want: map[string][]bgp.Path{
				"r4e": {withAttrs(host("203.0.113.10"), 0, []uint32{comm100, comm200})},
				"r4i": {withAttrs(host("203.0.113.10"), 300, []uint32{comm100, comm200})},
				"r6e": nil,
			},
		},
		{
			name: "attributes of an advertisement reach only the peers it names",
			res: resources(
				bgpAdv("to-r4e", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Peers = []seamarkv1alpha1.ObjectName{"r4e"}
					s.Communities = []seamarkv1alpha1.Community{"65000:100"}
				}),
				bgpAdv("to-all", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.Communities = []seamarkv1alpha1.Community{"65000:200"}
				}),
			),
			services: []corev1.Service{svc10},
			want: map[string][]bgp.Path{
				"r4e": {withAttrs(host("203.0.113.10"), 0, []uint32{comm100, comm200})},
				"r4i": {withAttrs(host("203.0.113.10"), 0, []uint32{comm200})},
				"r6e": nil,
			},
		},
		{
			name: "advertisement naming a peer announces to that peer only",
			res: resources(bgpAdv("to-r4i", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Peers = []seamarkv1alpha1.ObjectName{"r4i"}
			})),
			services: []corev1.Service{svc10},
			want:     map[string][]bgp.Path{"r4e": nil, "r4i": {host("203.0.113.10")}, "r6e": nil},
		},
		{
			name: "advertisement naming only unknown peers announces to nobody",
			res: resources(bgpAdv("to-nobody", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Peers = []seamarkv1alpha1.ObjectName{"gone"}
			})),
			services: []corev1.Service{svc10},
			want:     allPeersGet(nil, nil),
		},

		// Shared addresses.
		{
			name: "shared address is announced when any of its services would announce it",
			res:  resources(defaultAdv),
			services: []corev1.Service{
				withService(lbService("web", "203.0.113.10"), local), // no endpoint here
				lbService("dns", "203.0.113.10"),                     // cluster policy
			},
			slices: []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-b"))},
			want:   allPeersGet([]bgp.Path{host("203.0.113.10")}, nil),
		},
		{
			name: "shared address is withdrawn when none of its local-policy services has an endpoint here",
			res:  resources(defaultAdv),
			services: []corev1.Service{
				withService(lbService("web", "203.0.113.10"), local),
				withService(lbService("dns", "203.0.113.10"), local),
			},
			slices: []discoveryv1.EndpointSlice{endpointSlice("web", readyOn("node-b")), endpointSlice("dns", readyOn("node-c"))},
			want:   allPeersGet(nil, nil),
		},
		{
			name: "shared address takes the union of the attributes of its services' advertisements",
			res: resources(
				bgpAdv("web", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.ServiceSelector = sel(map[string]string{"app": "web"})
					s.Communities = []seamarkv1alpha1.Community{"65000:100"}
				}),
				bgpAdv("dns", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
					s.ServiceSelector = sel(map[string]string{"app": "dns"})
					s.Communities = []seamarkv1alpha1.Community{"65000:200"}
				}),
			),
			services: []corev1.Service{
				withService(lbService("web", "203.0.113.10"), func(s *corev1.Service) { s.Labels = map[string]string{"app": "web"} }),
				withService(lbService("dns", "203.0.113.10"), func(s *corev1.Service) { s.Labels = map[string]string{"app": "dns"} }),
			},
			want: allPeersGet([]bgp.Path{withAttrs(host("203.0.113.10"), 0, []uint32{comm100, comm200})}, nil),
		},
		{
			name:     "an unknown node plans no session at all",
			res:      resources(defaultAdv),
			node:     nil,
			services: []corev1.Service{svc10},
			want:     map[string][]bgp.Path{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.node
			if n == nil && tc.name != "an unknown node plans no session at all" {
				n = node(thisNode, nil)
			}
			plan := Compute(Input{
				Config:         buildConfig(t, tc.res),
				Node:           n,
				Services:       tc.services,
				EndpointSlices: tc.slices,
				DefaultClass:   !tc.noDefaultCls,
			})
			got := map[string][]bgp.Path{}
			for name, p := range plan.Peers {
				got[name] = p.Paths
			}
			if diff := cmp.Diff(tc.want, got, cmpNetip); diff != "" {
				t.Errorf("paths per peer (-want +got):\n%s", diff)
			}
		})
	}
}

// TestComputePeers checks how BGPPeers become session settings on a node,
// and which problems are reported.
func TestComputePeers(t *testing.T) {
	nodeID := netip.MustParseAddr("198.18.1.10")
	tests := []struct {
		name         string
		peers        []seamarkv1alpha1.BGPPeer
		node         *corev1.Node
		want         map[string]bgp.PeerConfig
		wantProblems []PeerProblem
	}{
		{
			name:  "router ID defaults to the node's first IPv4 InternalIP and timers to config's defaults",
			peers: []seamarkv1alpha1.BGPPeer{peerE6},
			want: map[string]bgp.PeerConfig{"r6e": {Name: "r6e", Address: netip.MustParseAddr("2001:db8::1"), Port: 179, ASN: 64512, LocalASN: 64513,
				RouterID: nodeID, HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxPrefixes: config.DefaultMaxReceivedPrefixes}},
		},
		{
			name: "every BGPPeer field is carried over, and the peer's routerID wins",
			peers: []seamarkv1alpha1.BGPPeer{bgpPeer("full", 0, "198.18.0.1", 64512, 64513, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.Port = 1790
				s.RouterID = ptr(seamarkv1alpha1.IPAddress("198.18.9.9"))
				s.HoldTime = &metav1.Duration{Duration: 9 * time.Second}
				s.KeepaliveTime = &metav1.Duration{Duration: 2 * time.Second}
				s.ConnectRetryTime = &metav1.Duration{Duration: time.Second}
				s.EBGPMultihop = ptr(int32(4))
				s.SourceAddress = ptr(seamarkv1alpha1.IPAddress("198.18.1.10"))
				s.GracefulRestart = &seamarkv1alpha1.GracefulRestart{Enabled: true, RestartTime: &metav1.Duration{Duration: time.Minute}}
			})},
			want: map[string]bgp.PeerConfig{"full": {Name: "full", Address: netip.MustParseAddr("198.18.0.1"), Port: 1790, ASN: 64512, LocalASN: 64513,
				RouterID: netip.MustParseAddr("198.18.9.9"), HoldTime: 9 * time.Second, KeepaliveTime: 2 * time.Second, ConnectRetryTime: time.Second, MaxPrefixes: config.DefaultMaxReceivedPrefixes,
				EBGPMultihopTTL: 4, SourceAddress: nodeID, GracefulRestart: true, RestartTime: time.Minute}},
		},
		{
			name: "restart time is left out while graceful restart is off, so editing it resets nothing",
			peers: []seamarkv1alpha1.BGPPeer{bgpPeer("r", 0, "198.18.0.1", 64512, 64513, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.GracefulRestart = &seamarkv1alpha1.GracefulRestart{Enabled: false, RestartTime: &metav1.Duration{Duration: time.Minute}}
			})},
			want: map[string]bgp.PeerConfig{"r": {Name: "r", Address: netip.MustParseAddr("198.18.0.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				RouterID: nodeID, HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxPrefixes: config.DefaultMaxReceivedPrefixes}},
		},
		{
			name: "hold time 0 runs GoBGP's default and is reported",
			peers: []seamarkv1alpha1.BGPPeer{bgpPeer("r", 0, "198.18.0.1", 64512, 64513, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.HoldTime = &metav1.Duration{}
				s.KeepaliveTime = &metav1.Duration{}
			})},
			want: map[string]bgp.PeerConfig{"r": {Name: "r", Address: netip.MustParseAddr("198.18.0.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				RouterID: nodeID, ConnectRetryTime: 5 * time.Second, MaxPrefixes: config.DefaultMaxReceivedPrefixes}},
			wantProblems: []PeerProblem{{Peer: "r", Reason: ProblemHoldTimeZero}},
		},
		{
			name:  "a node without IPv4 address leaves out a peer without routerID",
			peers: []seamarkv1alpha1.BGPPeer{peerE6, peerE4},
			node: node(thisNode, func(n *corev1.Node) {
				n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "2001:db8:ff::10"}}
			}),
			want:         map[string]bgp.PeerConfig{},
			wantProblems: []PeerProblem{{Peer: "r4e", Reason: ProblemNoRouterID}, {Peer: "r6e", Reason: ProblemNoRouterID}},
		},
		{
			name:  "a node's IPv4 ExternalIP is the router ID when it has no IPv4 InternalIP",
			peers: []seamarkv1alpha1.BGPPeer{peerE4},
			node: node(thisNode, func(n *corev1.Node) {
				n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.250"}}
			}),
			want: map[string]bgp.PeerConfig{"r4e": {Name: "r4e", Address: netip.MustParseAddr("198.18.0.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				RouterID: netip.MustParseAddr("203.0.113.250"), HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxPrefixes: config.DefaultMaxReceivedPrefixes}},
		},
		{
			name:  "a younger peer with the same address and port is shadowed and reported",
			peers: []seamarkv1alpha1.BGPPeer{peerE4, bgpPeer("r4e-copy", 9, "198.18.0.1", 64600, 64513, nil)},
			want: map[string]bgp.PeerConfig{"r4e": {Name: "r4e", Address: netip.MustParseAddr("198.18.0.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				RouterID: nodeID, HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxPrefixes: config.DefaultMaxReceivedPrefixes}},
			wantProblems: []PeerProblem{{Peer: "r4e-copy", Reason: ProblemShadowed}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.node
			if n == nil {
				n = node(thisNode, nil)
			}
			plan := Compute(Input{Config: buildConfig(t, config.Resources{Peers: tc.peers}), Node: n})
			got := map[string]bgp.PeerConfig{}
			for name, p := range plan.Peers {
				got[name] = p.Config
			}
			if diff := cmp.Diff(tc.want, got, cmpNetip); diff != "" {
				t.Errorf("peer configs (-want +got):\n%s", diff)
			}
			var problems []PeerProblem
			for _, p := range plan.Problems {
				if p.Message == "" {
					t.Errorf("problem %+v has no message", p)
				}
				problems = append(problems, PeerProblem{Peer: p.Peer, Reason: p.Reason})
			}
			if diff := cmp.Diff(tc.wantProblems, problems); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestComputeIsDeterministic checks that input order does not matter and
// that an unchanged input gives an equal plan, so an unrelated change never
// makes speaker/bgp announce anything.
func TestComputeIsDeterministic(t *testing.T) {
	cfg := buildConfig(t, resources(defaultAdv, bgpAdv("x", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
		s.Communities = []seamarkv1alpha1.Community{"65000:1"}
		s.AggregationLength = ptr(int32(28))
	})))
	svcs := []corev1.Service{lbService("a", "203.0.113.1"), lbService("b", "203.0.113.2", "2001:db8:1::2"), lbService("c", "198.51.100.3")}
	in := Input{Config: cfg, Node: node(thisNode, nil), Services: svcs, DefaultClass: true}
	first := Compute(in)
	in.Services = []corev1.Service{svcs[2], svcs[0], svcs[1]}
	if diff := cmp.Diff(first, Compute(in), cmpNetip); diff != "" {
		t.Errorf("plan depends on the order of Services (-first +reordered):\n%s", diff)
	}
}
