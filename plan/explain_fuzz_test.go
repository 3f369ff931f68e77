package plan

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// FuzzExplain builds a small cluster from the fuzzer's bytes (nodes with
// zones, exclusion labels, taints and endpoints; advertisements with node,
// pool and Service selectors; a Local or Cluster Service; speakers with
// sessions up or down and interfaces in or out of the subnet) and checks
// Explain and Assess against a naive reading of the rules:
//   - a node's Why is empty exactly when its plan announces or lists it;
//   - an excluded or out-of-service node never announces;
//   - with policy Local, a node without an endpoint never announces, and a
//     planned node has one;
//   - the reason is Announced exactly when some node announces over an
//     established session or may own the address with an interface.
func FuzzExplain(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{255, 0, 255, 0, 17, 34, 51, 68, 85, 102, 119})
	f.Add([]byte{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		pool := seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"tier": "a"}},
			Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"203.0.113.0/24"}}}
		res := config.Resources{Pools: []seamarkv1alpha1.IPPool{pool}, Peers: []seamarkv1alpha1.BGPPeer{
			{ObjectMeta: metav1.ObjectMeta{Name: "r1"}, Spec: seamarkv1alpha1.BGPPeerSpec{Address: "198.18.0.1", ASN: 64512, LocalASN: 64513}}}}
		zone := func(b byte) *metav1.LabelSelector {
			if b%3 == 0 {
				return nil
			}
			return &metav1.LabelSelector{MatchLabels: map[string]string{"zone": fmt.Sprint(b % 3)}}
		}
		tierSel := func(b byte) *metav1.LabelSelector {
			if b%4 != 1 {
				return nil
			}
			return &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "b"}}
		}
		flags := next()
		if flags&1 != 0 {
			b := next()
			res.BGPAdvertisements = append(res.BGPAdvertisements, seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgp"},
				Spec: seamarkv1alpha1.BGPAdvertisementSpec{NodeSelector: zone(b), IPPoolSelector: tierSel(b >> 2), WithdrawWhenNoEndpoints: b&128 != 0}})
		}
		if flags&2 != 0 {
			b := next()
			res.L2Advertisements = append(res.L2Advertisements, seamarkv1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"},
				Spec: seamarkv1alpha1.L2AdvertisementSpec{NodeSelector: zone(b), IPPoolSelector: tierSel(b >> 2), WithdrawWhenNoEndpoints: b&128 != 0}})
		}
		cfg, _ := config.Build(res)
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "s"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.5"}}}}}
		local := flags&4 != 0
		if local {
			svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
		eps := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "d", Name: "s-1", Labels: map[string]string{discoveryv1.LabelServiceName: "s"}},
			AddressType: discoveryv1.AddressTypeIPv4}
		var nodes []corev1.Node
		speakers := map[string]*seamarkv1alpha1.SpeakerStatus{}
		hasEndpoint := map[string]bool{}
		ineligible := map[string]bool{}
		for i := range int(next()%5) + 1 {
			b := next()
			name := fmt.Sprintf("n%d", i)
			n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": fmt.Sprint(b % 3)}},
				Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.1.10"}}}}
			if b&8 != 0 {
				n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = ""
				ineligible[name] = true
			}
			if b&16 != 0 {
				n.Spec.Taints = []corev1.Taint{{Key: seamarkv1alpha1.TaintOutOfService, Effect: corev1.TaintEffectNoSchedule}}
				ineligible[name] = true
			}
			if b&32 != 0 {
				eps.Endpoints = append(eps.Endpoints, discoveryv1.Endpoint{Addresses: []string{"198.18.100.1"}, NodeName: &name})
				hasEndpoint[name] = true
			}
			nodes = append(nodes, n)
			s := next()
			if s&1 != 0 {
				st := &seamarkv1alpha1.SpeakerStatus{Status: seamarkv1alpha1.SpeakerStatusStatus{
					Conditions: []metav1.Condition{{Type: seamarkv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}}}
				if s&2 != 0 {
					st.Status.Conditions[0].Status = metav1.ConditionFalse
				}
				state := "Active"
				if s&4 != 0 {
					state = "Established"
				}
				st.Status.Peers = []seamarkv1alpha1.PeerSessionStatus{{Name: "r1", State: state}}
				prefix := "198.51.100.1/24"
				if s&8 != 0 {
					prefix = "203.0.113.1/24"
				}
				st.Status.Layer2 = &seamarkv1alpha1.Layer2Status{Candidates: []seamarkv1alpha1.L2Interface{{Name: "eth0", Prefixes: []string{prefix}}}}
				speakers[name] = st
			}
		}
		sp := Explain(Input{Config: cfg, Nodes: nodes, EndpointSlices: []discoveryv1.EndpointSlice{eps}, DefaultClass: true}, &svc)
		if len(sp.Addresses) != 1 {
			t.Fatalf("addresses %+v", sp.Addresses)
		}
		ap := sp.Addresses[0]
		for _, na := range ap.Nodes {
			planned := len(na.Peers) > 0 || len(na.L2) > 0
			if planned == (na.Why != "") {
				t.Errorf("node %s: peers %v, l2 %v, why %q", na.Node, na.Peers, na.L2, na.Why)
			}
			if planned && ineligible[na.Node] {
				t.Errorf("node %s is excluded or out of service but planned: %+v", na.Node, na)
			}
			if planned && local && !hasEndpoint[na.Node] {
				t.Errorf("node %s has no local endpoint but is planned: %+v", na.Node, na)
			}
		}
		outcomes, reason := Assess(ap, speakers, sp.EndpointsAnywhere)
		some := false
		for _, o := range outcomes {
			some = some || len(o.Announcing) > 0 || o.MayOwn
		}
		if some != (reason == seamarkv1alpha1.ReasonAnnounced) {
			t.Errorf("reason %s, outcomes %+v", reason, outcomes)
		}
		if AnnouncedMessage(reason) == "" {
			t.Errorf("no message for %q", reason)
		}
	})
}
