package controllers

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/seamark-io/seamark/allocator"
)

// familyWant is one family a Service wants, and whether getting nothing of
// it fails the whole request.
type familyWant struct {
	family   allocator.Family
	required bool
}

// wantedFamilies follows spec.ipFamilyPolicy and spec.ipFamilies:
// SingleStack wants the primary family; RequireDualStack both, or nothing;
// PreferDualStack both if available, else the primary family. The primary
// family is ipFamilies[0] (IPv4 when the list is empty).
func wantedFamilies(svc *corev1.Service) []familyWant {
	primary := allocator.IPv4
	if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		primary = allocator.IPv6
	}
	secondary := allocator.IPv6
	if primary == allocator.IPv6 {
		secondary = allocator.IPv4
	}
	policy := corev1.IPFamilyPolicySingleStack
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		policy = *p
	}
	switch policy {
	case corev1.IPFamilyPolicyRequireDualStack:
		return []familyWant{{primary, true}, {secondary, true}}
	case corev1.IPFamilyPolicyPreferDualStack:
		return []familyWant{{primary, true}, {secondary, false}}
	}
	return []familyWant{{primary, true}}
}

// shareOf is the sharing data of a Service: its key, protocol/port pairs,
// external traffic policy and, for Local, its selector.
func shareOf(svc *corev1.Service, key string) allocator.Share {
	s := allocator.Share{Key: key, Policy: allocator.PolicyCluster}
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		s.Policy = allocator.PolicyLocal
		s.Selector = labels.SelectorFromSet(svc.Spec.Selector).String()
	}
	for _, p := range svc.Spec.Ports {
		proto := strings.ToUpper(string(p.Protocol))
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		s.Ports = append(s.Ports, allocator.PortProto{Protocol: proto, Port: p.Port})
	}
	return s
}

// ingressFor is the status.loadBalancer.ingress for addrs: the primary
// family first, ipMode VIP (traffic to the address reaches the node with the
// address as destination, as kube-proxy expects for a bare-metal VIP).
func ingressFor(addrs []netip.Addr, svc *corev1.Service) []corev1.LoadBalancerIngress {
	primaryV6 := len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	sorted := slices.Clone(addrs)
	slices.SortFunc(sorted, func(a, b netip.Addr) int {
		if a.Is4() != b.Is4() {
			if a.Is6() == primaryV6 {
				return -1
			}
			return 1
		}
		return a.Compare(b)
	})
	out := make([]corev1.LoadBalancerIngress, 0, len(sorted))
	vip := corev1.LoadBalancerIPModeVIP
	for _, a := range sorted {
		out = append(out, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
	}
	return out
}

// statusAddresses are the addresses a Service shows in its status.
func statusAddresses(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// ingressEqual compares two ingress lists by address and ipMode.
func ingressEqual(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		mx, my := "", ""
		if x.IPMode != nil {
			mx = string(*x.IPMode)
		}
		if y.IPMode != nil {
			my = string(*y.IPMode)
		}
		return x.IP == y.IP && x.Hostname == y.Hostname && mx == my && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}

// ofFamily returns the first address of family f in addrs.
func ofFamily(addrs []netip.Addr, f allocator.Family) (netip.Addr, bool) {
	for _, a := range addrs {
		if allocator.FamilyOf(a) == f {
			return a, true
		}
	}
	return netip.Addr{}, false
}
