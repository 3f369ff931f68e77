package plan

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

func tNode(name string, f func(*corev1.Node)) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.1.10"}}}}
	if f != nil {
		f(&n)
	}
	return n
}

func tService(f func(*corev1.Service)) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"app": "web"}},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}}}}
	if f != nil {
		f(&s)
	}
	return s
}

func tLocal(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

// tSlice is an EndpointSlice of default/web with one ready endpoint per node.
func tSlice(nodes ...string) discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-x",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}, AddressType: discoveryv1.AddressTypeIPv4}
	for _, n := range nodes {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"198.18.100.1"}, NodeName: &n})
	}
	return s
}

// tSpeaker is a SpeakerStatus: ready or not, with sessions in the given
// states and layer 2 candidate interfaces (name → prefixes).
func tSpeaker(ready bool, sessions map[string]string, ifaces map[string][]string) *seamarkv1alpha1.SpeakerStatus {
	st := &seamarkv1alpha1.SpeakerStatus{}
	c := metav1.Condition{Type: seamarkv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready"}
	if !ready {
		c.Status, c.Reason = metav1.ConditionFalse, "Starting"
	}
	st.Status.Conditions = []metav1.Condition{c}
	for name, state := range sessions {
		st.Status.Peers = append(st.Status.Peers, seamarkv1alpha1.PeerSessionStatus{Name: name, State: state})
	}
	if ifaces != nil {
		st.Status.Layer2 = &seamarkv1alpha1.Layer2Status{}
		for name, p := range ifaces {
			st.Status.Layer2.Candidates = append(st.Status.Layer2.Candidates, seamarkv1alpha1.L2Interface{Name: name, Prefixes: p})
		}
	}
	return st
}

func TestExplainAndAssess(t *testing.T) {
	pool := seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "public", Labels: map[string]string{"tier": "public"}},
		Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"203.0.113.0/24"}}}
	peer := seamarkv1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "r1"}, Spec: seamarkv1alpha1.BGPPeerSpec{Address: "198.18.0.1", ASN: 64512, LocalASN: 64513}}
	adv := func(f func(*seamarkv1alpha1.BGPAdvertisementSpec)) []seamarkv1alpha1.BGPAdvertisement {
		a := seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
		if f != nil {
			f(&a.Spec)
		}
		return []seamarkv1alpha1.BGPAdvertisement{a}
	}
	bgpRes := config.Resources{Pools: []seamarkv1alpha1.IPPool{pool}, Peers: []seamarkv1alpha1.BGPPeer{peer}, BGPAdvertisements: adv(nil)}
	l2Res := config.Resources{Pools: []seamarkv1alpha1.IPPool{pool}, L2Advertisements: []seamarkv1alpha1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "l2"}}}}
	withdraw := bgpRes
	withdraw.BGPAdvertisements = adv(func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.WithdrawWhenNoEndpoints = true })
	otherSvc := bgpRes
	otherSvc.BGPAdvertisements = adv(func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
		s.ServiceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	})
	zoneB := bgpRes
	zoneB.BGPAdvertisements = adv(func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
		s.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "b"}}
	})
	peerZoneB := bgpRes
	pb := peer
	pb.Spec.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "b"}}
	peerZoneB.Peers = []seamarkv1alpha1.BGPPeer{pb}

	nodes := []corev1.Node{
		tNode("n1", nil),
		tNode("n2", nil),
		tNode("n3", nil),
	}
	odd := []corev1.Node{
		tNode("n1", func(n *corev1.Node) { n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = "" }),
		tNode("n2", func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: seamarkv1alpha1.TaintOutOfService, Effect: corev1.TaintEffectNoExecute}}
		}),
		tNode("n3", nil),
	}
	up := map[string]string{"r1": "Established"}
	down := map[string]string{"r1": "Active"}
	allUp := map[string]*seamarkv1alpha1.SpeakerStatus{"n1": tSpeaker(true, up, nil), "n2": tSpeaker(true, up, nil), "n3": tSpeaker(true, up, nil)}
	eth1 := map[string][]string{"eth1": {"203.0.113.2/24"}}
	wrongNet := map[string][]string{"eth1": {"198.51.100.2/24"}}

	tests := []struct {
		name     string
		res      config.Resources
		nodes    []corev1.Node
		svc      corev1.Service
		slices   []discoveryv1.EndpointSlice
		speakers map[string]*seamarkv1alpha1.SpeakerStatus
		want     []NodeOutcome
		reason   string
	}{
		{
			name: "cluster policy: every node announces to its established peer", res: bgpRes, nodes: nodes, svc: tService(nil),
			speakers: allUp, reason: seamarkv1alpha1.ReasonAnnounced,
			want: []NodeOutcome{{Node: "n1", Announcing: []string{"r1"}}, {Node: "n2", Announcing: []string{"r1"}}, {Node: "n3", Announcing: []string{"r1"}}},
		},
		{
			name: "no advertisement selects the Service", res: otherSvc, nodes: nodes, svc: tService(nil),
			speakers: allUp, reason: seamarkv1alpha1.ReasonNoAdvertisement,
			want: []NodeOutcome{{Node: "n1", Why: WhyAdvertisementSelectors}, {Node: "n2", Why: WhyAdvertisementSelectors}, {Node: "n3", Why: WhyAdvertisementSelectors}},
		},
		{
			name: "no advertisement and no node at all", res: otherSvc, svc: tService(nil), reason: seamarkv1alpha1.ReasonNoEligibleNode,
			want: []NodeOutcome{},
		},
		{
			name: "excluded, out of service and unselected nodes: no eligible node", res: zoneB, nodes: odd, svc: tService(nil),
			speakers: allUp, reason: seamarkv1alpha1.ReasonNoEligibleNode,
			want: []NodeOutcome{{Node: "n1", Why: WhyExcluded}, {Node: "n2", Why: WhyOutOfService}, {Node: "n3", Why: WhyNodeSelector}},
		},
		{
			name: "no BGPPeer of the nodes", res: peerZoneB, nodes: nodes, svc: tService(nil),
			speakers: allUp, reason: seamarkv1alpha1.ReasonNoEligibleNode,
			want: []NodeOutcome{{Node: "n1", Why: WhyNoPeer}, {Node: "n2", Why: WhyNoPeer}, {Node: "n3", Why: WhyNoPeer}},
		},
		{
			name: "local policy: only the node with an endpoint announces", res: bgpRes, nodes: nodes, svc: tService(tLocal),
			slices: []discoveryv1.EndpointSlice{tSlice("n2")}, speakers: allUp, reason: seamarkv1alpha1.ReasonAnnounced,
			want: []NodeOutcome{{Node: "n1", Why: WhyNoLocalEndpoint}, {Node: "n2", Announcing: []string{"r1"}}, {Node: "n3", Why: WhyNoLocalEndpoint}},
		},
		{
			name: "local policy with the only endpoint on an excluded node", res: bgpRes, nodes: odd, svc: tService(tLocal),
			slices: []discoveryv1.EndpointSlice{tSlice("n1")}, speakers: allUp, reason: seamarkv1alpha1.ReasonNoLocalEndpoints,
			want: []NodeOutcome{{Node: "n1", Why: WhyExcluded}, {Node: "n2", Why: WhyOutOfService}, {Node: "n3", Why: WhyNoLocalEndpoint}},
		},
		{
			name: "local policy without any endpoint", res: bgpRes, nodes: nodes[:1], svc: tService(tLocal),
			speakers: allUp, reason: seamarkv1alpha1.ReasonNoEndpoints,
			want: []NodeOutcome{{Node: "n1", Why: WhyNoLocalEndpoint}},
		},
		{
			name: "withdrawWhenNoEndpoints without any endpoint", res: withdraw, nodes: nodes[:1], svc: tService(nil),
			speakers: allUp, reason: seamarkv1alpha1.ReasonNoEndpoints,
			want: []NodeOutcome{{Node: "n1", Why: WhyNoEndpoints}},
		},
		{
			name: "sessions down everywhere", res: bgpRes, nodes: nodes[:2], svc: tService(nil), reason: seamarkv1alpha1.ReasonPeersDown,
			speakers: map[string]*seamarkv1alpha1.SpeakerStatus{"n1": tSpeaker(true, down, nil), "n2": tSpeaker(true, nil, nil)},
			want:     []NodeOutcome{{Node: "n1", Down: []string{"r1"}, Why: WhyPeersDown}, {Node: "n2", Down: []string{"r1"}, Why: WhyPeersDown}},
		},
		{
			name: "one node's session down, another's up: announced", res: bgpRes, nodes: nodes[:2], svc: tService(nil), reason: seamarkv1alpha1.ReasonAnnounced,
			speakers: map[string]*seamarkv1alpha1.SpeakerStatus{"n1": tSpeaker(true, down, nil), "n2": tSpeaker(true, up, nil)},
			want:     []NodeOutcome{{Node: "n1", Down: []string{"r1"}, Why: WhyPeersDown}, {Node: "n2", Announcing: []string{"r1"}}},
		},
		{
			name: "speakers not ready or missing", res: bgpRes, nodes: nodes[:2], svc: tService(nil), reason: seamarkv1alpha1.ReasonSpeakersNotReady,
			speakers: map[string]*seamarkv1alpha1.SpeakerStatus{"n1": tSpeaker(false, up, nil)},
			want:     []NodeOutcome{{Node: "n1", Why: WhySpeakerNotReady}, {Node: "n2", Why: WhySpeakerNotReady}},
		},
		{
			name: "layer 2: nodes with an interface in the subnet may own it", res: l2Res, nodes: nodes[:2], svc: tService(nil), reason: seamarkv1alpha1.ReasonAnnounced,
			speakers: map[string]*seamarkv1alpha1.SpeakerStatus{"n1": tSpeaker(true, nil, eth1), "n2": tSpeaker(true, nil, wrongNet)},
			want:     []NodeOutcome{{Node: "n1", MayOwn: true, Interfaces: []string{"eth1"}}, {Node: "n2", Why: WhyNoInterface}},
		},
		{
			name: "layer 2: no node has an interface for it", res: l2Res, nodes: nodes[:1], svc: tService(nil), reason: seamarkv1alpha1.ReasonNoInterface,
			speakers: map[string]*seamarkv1alpha1.SpeakerStatus{"n1": tSpeaker(true, nil, wrongNet)},
			want:     []NodeOutcome{{Node: "n1", Why: WhyNoInterface}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, problems := config.Build(tt.res)
			for _, p := range problems {
				if p.Class == config.Invalid {
					t.Fatalf("test configuration is invalid: %s", p)
				}
			}
			sp := Explain(Input{Config: cfg, Nodes: tt.nodes, EndpointSlices: tt.slices, DefaultClass: true}, &tt.svc)
			if len(sp.Addresses) != 1 || sp.Addresses[0].Addr != netip.MustParseAddr("203.0.113.10") || sp.Addresses[0].Pool != "public" {
				t.Fatalf("addresses: %+v", sp.Addresses)
			}
			got, reason := Assess(sp.Addresses[0], tt.speakers, sp.EndpointsAnywhere)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if reason != tt.reason || ServiceReason(sp, tt.speakers) != tt.reason {
				t.Errorf("reason %q (service %q), want %q", reason, ServiceReason(sp, tt.speakers), tt.reason)
			}
			if AnnouncedMessage(reason) == "" {
				t.Errorf("no message for %q", reason)
			}
		})
	}
}
