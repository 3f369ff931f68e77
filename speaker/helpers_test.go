package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/speaker/bgp"
)

// cmpNetip lets cmp compare netip values, which have unexported fields.
var cmpNetip = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const thisNode = "node-a"

func ptr[T any](v T) *T { return &v }

func sel(m map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: m} }

func objMeta(name string, age int, lbls map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: lbls, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Second))}
}

func ipPool(name string, lbls map[string]string, cidrs ...string) seamarkv1alpha1.IPPool {
	p := seamarkv1alpha1.IPPool{ObjectMeta: objMeta(name, 0, lbls)}
	for _, c := range cidrs {
		p.Spec.CIDRs = append(p.Spec.CIDRs, seamarkv1alpha1.CIDROrRange(c))
	}
	return p
}

func bgpPeer(name string, age int, addr string, asn, local int64, f func(*seamarkv1alpha1.BGPPeerSpec)) seamarkv1alpha1.BGPPeer {
	p := seamarkv1alpha1.BGPPeer{ObjectMeta: objMeta(name, age, nil), Spec: seamarkv1alpha1.BGPPeerSpec{
		Address: seamarkv1alpha1.IPAddress(addr), ASN: seamarkv1alpha1.ASN(asn), LocalASN: seamarkv1alpha1.ASN(local),
	}}
	if f != nil {
		f(&p.Spec)
	}
	return p
}

func bgpAdv(name string, f func(*seamarkv1alpha1.BGPAdvertisementSpec)) seamarkv1alpha1.BGPAdvertisement {
	a := seamarkv1alpha1.BGPAdvertisement{ObjectMeta: objMeta(name, 0, nil)}
	if f != nil {
		f(&a.Spec)
	}
	return a
}

func serviceCIDR(name string, ready bool, cidrs ...string) networkingv1.ServiceCIDR {
	status := metav1.ConditionFalse
	if ready {
		status = metav1.ConditionTrue
	}
	return networkingv1.ServiceCIDR{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.ServiceCIDRSpec{CIDRs: cidrs},
		Status: networkingv1.ServiceCIDRStatus{Conditions: []metav1.Condition{{Type: networkingv1.ServiceCIDRConditionReady, Status: status}}}}
}

// The standard fixture: two pools, two IPv4 peers (eBGP and iBGP) and one
// IPv6 eBGP peer.
var (
	publicPool   = ipPool("public", map[string]string{"tier": "public"}, "203.0.113.0/24", "2001:db8:1::/112")
	internalPool = ipPool("internal", map[string]string{"tier": "internal"}, "198.51.100.0/24")
	peerE4       = bgpPeer("r4e", 1, "198.18.0.1", 64512, 64513, nil)
	peerI4       = bgpPeer("r4i", 2, "198.18.0.2", 64513, 64513, nil)
	peerE6       = bgpPeer("r6e", 3, "2001:db8::1", 64512, 64513, nil)
	defaultAdv   = bgpAdv("default", nil)
)

func resources(advs ...seamarkv1alpha1.BGPAdvertisement) config.Resources {
	return config.Resources{
		Pools:             []seamarkv1alpha1.IPPool{publicPool, internalPool},
		Peers:             []seamarkv1alpha1.BGPPeer{peerE4, peerI4, peerE6},
		BGPAdvertisements: advs,
	}
}

func buildConfig(t testing.TB, res config.Resources) *config.Config {
	t.Helper()
	cfg, problems := config.Build(res)
	for _, p := range problems {
		if p.Class == config.Invalid {
			t.Fatalf("test configuration is invalid: %s", p)
		}
	}
	return cfg
}

func node(name string, f func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "zone": "a"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: name},
			{Type: corev1.NodeInternalIP, Address: "2001:db8:ff::10"},
			{Type: corev1.NodeInternalIP, Address: "198.18.1.10"},
		}},
	}
	if f != nil {
		f(n)
	}
	return n
}

// lbService is a LoadBalancer Service in namespace "default" whose status
// shows ips.
func lbService(name string, ips ...string) corev1.Service {
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
		},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func withService(s corev1.Service, f func(*corev1.Service)) corev1.Service {
	f(&s)
	return s
}

func local(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

// ep is one endpoint on a node with the given conditions (nil: unset).
type ep struct {
	node                        string
	ready, serving, terminating *bool
}

var (
	yes = ptr(true)
	no  = ptr(false)
)

func readyOn(node string) ep { return ep{node: node, ready: yes, serving: yes, terminating: no} }

func servingTerminatingOn(node string) ep {
	return ep{node: node, ready: no, serving: yes, terminating: yes}
}

// endpointSlice is an IPv4 EndpointSlice of Service default/svc.
func endpointSlice(svc string, eps ...ep) discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, e := range eps {
		d := discoveryv1.Endpoint{
			Addresses:  []string{netip.AddrFrom4([4]byte{198, 18, 100, byte(i + 1)}).String()},
			Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating},
		}
		if e.node != "" {
			d.NodeName = ptr(e.node)
		}
		s.Endpoints = append(s.Endpoints, d)
	}
	return s
}

// host is a path for one address with no attributes.
func host(addr string) bgp.Path {
	a := netip.MustParseAddr(addr)
	return bgp.Path{Prefix: netip.PrefixFrom(a, a.BitLen())}
}

func prefix(p string) bgp.Path { return bgp.Path{Prefix: netip.MustParsePrefix(p)} }

func withAttrs(p bgp.Path, localPref uint32, communities []uint32, large ...bgp.LargeCommunity) bgp.Path {
	p.LocalPref, p.Communities, p.LargeCommunities = localPref, communities, large
	return p
}
