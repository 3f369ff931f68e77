package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func testSnapshot(t *testing.T) *snapshot {
	t.Helper()
	sel := func(k, v string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
	res := config.Resources{
		Pools: []seamarkv1alpha1.IPPool{
			{ObjectMeta: metav1.ObjectMeta{Name: "bgp", Labels: map[string]string{"mode": "bgp"}}, Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"203.0.113.0/28"}},
				Status: seamarkv1alpha1.IPPoolStatus{Allocated: 2, Available: "12", Conditions: []metav1.Condition{{Type: "Ready", Status: "True", Reason: "Ready"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "lan", Labels: map[string]string{"mode": "l2"}}, Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"198.51.100.200-198.51.100.210"}}},
		},
		Peers: []seamarkv1alpha1.BGPPeer{{ObjectMeta: metav1.ObjectMeta{Name: "tor"}, Spec: seamarkv1alpha1.BGPPeerSpec{Address: "198.18.0.1", ASN: 64512, LocalASN: 64513}}},
		BGPAdvertisements: []seamarkv1alpha1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "bgp"},
			Spec: seamarkv1alpha1.BGPAdvertisementSpec{IPPoolSelector: sel("mode", "bgp")}}},
		L2Advertisements: []seamarkv1alpha1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "lan"},
			Spec: seamarkv1alpha1.L2AdvertisementSpec{IPPoolSelector: sel("mode", "l2")}}},
	}
	cfg, problems := config.Build(res)
	for _, p := range problems {
		if p.Class == config.Invalid {
			t.Fatal(p)
		}
	}
	node := func(name string, f func(*corev1.Node)) corev1.Node {
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.1.10"}}}}
		if f != nil {
			f(&n)
		}
		return n
	}
	ready := []metav1.Condition{{Type: "Ready", Status: "True", Reason: "Ready"}}
	speaker := func(name, state string, since time.Time) seamarkv1alpha1.SpeakerStatus {
		return seamarkv1alpha1.SpeakerStatus{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: seamarkv1alpha1.SpeakerStatusStatus{
			Conditions: ready, PeersUp: map[bool]string{true: "1/1", false: "0/1"}[state == "Established"],
			Peers: []seamarkv1alpha1.PeerSessionStatus{{Name: "tor", Address: "198.18.0.1", State: state, AdvertisedPrefixes: 2,
				LastTransitionTime: metav1.NewTime(since)}},
			Memberlist: &seamarkv1alpha1.MemberlistStatus{Profile: "balanced", Members: 3},
			Layer2:     &seamarkv1alpha1.Layer2Status{Owned: 1, Candidates: []seamarkv1alpha1.L2Interface{{Name: "eth1", Prefixes: []string{"198.51.100.11/24"}}}},
		}}
	}
	return &snapshot{
		Config: cfg, DefaultClass: true,
		Nodes: []corev1.Node{
			node("node-a", nil), node("node-b", nil), node("node-c", nil),
			node("node-d", func(n *corev1.Node) { n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = "true" }),
		},
		Speakers: []seamarkv1alpha1.SpeakerStatus{
			speaker("node-a", "Established", t0.Add(-time.Hour)),
			speaker("node-b", "Active", t0.Add(-90*time.Second)),
			speaker("node-c", "Established", t0.Add(-time.Hour)),
			speaker("node-d", "Established", t0.Add(-time.Hour)),
		},
		Pools: res.Pools,
		Allocations: []seamarkv1alpha1.IPAllocation{
			{ObjectMeta: metav1.ObjectMeta{Name: "203.0.113.1"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.200"}, Status: seamarkv1alpha1.IPAllocationStatus{L2: &seamarkv1alpha1.L2Owner{Node: "node-c", Interface: "eth1"}}},
		},
	}
}

func lb(name, ip string, local bool) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: name}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: ip}}}}}
	if local {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	return s
}

func slice(svc string, nodes ...string) []discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4}
	for _, n := range nodes {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.0.5"}, NodeName: &n})
	}
	return []discoveryv1.EndpointSlice{s}
}

func TestExplainOutput(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		eps  []discoveryv1.EndpointSlice
		want string
	}{
		{
			name: "a Local BGP Service: one node has the endpoint, one's session is down, one is excluded",
			svc:  lb("web", "203.0.113.1", true), eps: slice("web", "node-a", "node-b", "node-d"),
			want: `Service demo/web: type LoadBalancer, externalTrafficPolicy Local
Announced: True (Announced) Every address of the Service is announced by at least one node

Address 203.0.113.1, pool bgp, IPAllocation 203.0.113.1
  node-a  announces over BGP to tor
  node-b  does not announce: peer session down (tor Active)
  node-c  does not announce: no local endpoint (externalTrafficPolicy Local)
  node-d  does not announce: exclusion label: the node is labelled node.kubernetes.io/exclude-from-external-load-balancers
`,
		},
		{
			name: "a layer 2 Service: the owner and the standbys",
			svc:  lb("arp", "198.51.100.200", false),
			want: `Service demo/arp: type LoadBalancer, externalTrafficPolicy Cluster
Announced: True (Announced) Every address of the Service is announced by at least one node

Address 198.51.100.200, pool lan, IPAllocation 198.51.100.200
  node-a  may own it over layer 2 on eth1 (standby; node-c owns it)
  node-b  may own it over layer 2 on eth1 (standby; node-c owns it)
  node-c  owns it over layer 2 on eth1
  node-d  does not announce: exclusion label: the node is labelled node.kubernetes.io/exclude-from-external-load-balancers
`,
		},
		{
			name: "no local endpoint anywhere it could be announced",
			svc:  lb("api", "203.0.113.2", true), eps: slice("api", "node-d"),
			want: `Service demo/api: type LoadBalancer, externalTrafficPolicy Local
Announced: False (NoLocalEndpoints) externalTrafficPolicy is Local and no node that may announce the address runs a ready endpoint of the Service

Address 203.0.113.2, pool bgp, no IPAllocation
  node-a  does not announce: no local endpoint (externalTrafficPolicy Local)
  node-b  does not announce: no local endpoint (externalTrafficPolicy Local)
  node-c  does not announce: no local endpoint (externalTrafficPolicy Local)
  node-d  does not announce: exclusion label: the node is labelled node.kubernetes.io/exclude-from-external-load-balancers
`,
		},
		{
			name: "an address no advertisement selects",
			svc:  lb("odd", "198.51.100.250", false),
			want: `Service demo/odd: type LoadBalancer, externalTrafficPolicy Cluster
Announced: False (NoAdvertisement) No BGPAdvertisement of LoadBalancerIP or L2Advertisement selects the address's pool and this Service; add or fix an advertisement's ipPoolSelector or serviceSelector

Address 198.51.100.250, in no pool, no IPAllocation
  node-a  does not announce: advertisement selectors: no advertisement selects the address's pool and Service
  node-b  does not announce: advertisement selectors: no advertisement selects the address's pool and Service
  node-c  does not announce: advertisement selectors: no advertisement selects the address's pool and Service
  node-d  does not announce: advertisement selectors: no advertisement selects the address's pool and Service
`,
		},
		{
			name: "not a seamark Service",
			svc: func() *corev1.Service {
				s := lb("other", "203.0.113.3", false)
				c := "example.com/lb"
				s.Spec.LoadBalancerClass = &c
				return s
			}(),
			want: `Service demo/other: type LoadBalancer, externalTrafficPolicy Cluster
Not a seamark Service: only type LoadBalancer Services of class seamark.io/lb (or without a class) are.
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeExplain(&b, testSnapshot(t), tt.svc, tt.eps); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusOutput(t *testing.T) {
	s := testSnapshot(t)
	s.Speakers = s.Speakers[:3]
	s.Speakers[1].Status.Layer2 = s.Speakers[1].Status.Layer2.DeepCopy()
	s.Speakers[1].Status.Layer2.Problems = []string{"kube-proxy runs in IPVS mode without strictARP"}
	var b bytes.Buffer
	if err := writeStatus(&b, s, t0); err != nil {
		t.Fatal(err)
	}
	want := `SPEAKER  READY             PEERS  MEMBERS  L2-OWNED  L2-CONFLICTS
node-a   True              1/1    3        1         0
node-b   True              0/1    3        1         0
node-c   True              1/1    3        1         0
node-d   no SpeakerStatus  -      -        -         -
PROBLEM on node-b: kube-proxy runs in IPVS mode without strictARP

NODE    PEER  ADDRESS     STATE        FOR     PREFIXES  BFD  LAST ERROR
node-a  tor   198.18.0.1  Established  1h0m0s  2         -    -
node-b  tor   198.18.0.1  Active       1m30s   2         -    -
node-c  tor   198.18.0.1  Established  1h0m0s  2         -    -

POOL  READY    CIDRS                          ALLOCATED  AVAILABLE
bgp   True     203.0.113.0/28                 2          12
lan   Unknown  198.51.100.200-198.51.100.210  0          -
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
