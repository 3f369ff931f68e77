package config

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// Handles reports whether seamark is responsible for the Service: a
// LoadBalancer whose spec.loadBalancerClass is seamark.io/lb, or that has no
// class while defaultClass (the binaries' --default-class) holds. Services
// of any other class are never touched. Controller and speaker both decide
// with this one rule.
func Handles(svc *corev1.Service, defaultClass bool) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if c := svc.Spec.LoadBalancerClass; c != nil {
		return *c == seamarkv1alpha1.LoadBalancerClass
	}
	return defaultClass
}

// ServiceRequest is what a Service asks for through its annotations and
// spec.loadBalancerIP.
type ServiceRequest struct {
	// Addresses are the requested addresses, at most one per family, in the
	// order written: seamark.io/ips, else spec.loadBalancerIP.
	Addresses []netip.Addr
	// Pool is the seamark.io/pool annotation, or empty.
	Pool string
	// SharingKey is the seamark.io/sharing-key annotation, or empty.
	SharingKey string
}

// AnnotationError is a Service annotation (or field) a user must fix.
type AnnotationError struct {
	// Key is the annotation key or "spec.loadBalancerIP".
	Key string
	// Value is the text found.
	Value string
	// Reason says what is wrong and how to fix it.
	Reason string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Key, e.Value, e.Reason)
}

// ParseService reads the seamark annotations and spec.loadBalancerIP of a
// Service. The first problem found is returned as an *AnnotationError.
func ParseService(svc *corev1.Service) (ServiceRequest, error) {
	var r ServiceRequest
	ann := svc.Annotations
	if v, ok := ann[seamarkv1alpha1.AnnotationIPs]; ok {
		addrs, err := ParseAddressList(v)
		if err != nil {
			return ServiceRequest{}, &AnnotationError{Key: seamarkv1alpha1.AnnotationIPs, Value: v, Reason: err.Error()}
		}
		r.Addresses = addrs
	} else if v := svc.Spec.LoadBalancerIP; v != "" {
		a, err := parseAddr(v)
		if err != nil {
			return ServiceRequest{}, &AnnotationError{Key: "spec.loadBalancerIP", Value: v, Reason: err.Error()}
		}
		r.Addresses = []netip.Addr{a}
	}
	if v, ok := ann[seamarkv1alpha1.AnnotationPool]; ok {
		if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
			return ServiceRequest{}, &AnnotationError{Key: seamarkv1alpha1.AnnotationPool, Value: v,
				Reason: "not a pool name: " + strings.Join(errs, "; ")}
		}
		r.Pool = v
	}
	if v, ok := ann[seamarkv1alpha1.AnnotationSharingKey]; ok {
		if err := checkSharingKey(v); err != nil {
			return ServiceRequest{}, &AnnotationError{Key: seamarkv1alpha1.AnnotationSharingKey, Value: v, Reason: err.Error()}
		}
		r.SharingKey = v
	}
	return r, nil
}

// ParseAddressList parses the seamark.io/ips annotation: comma-separated
// addresses (spaces around commas allowed), at most one per family, no zones,
// no IPv4-mapped IPv6. Any text form netip accepts is read; the addresses
// are returned in canonical form.
func ParseAddressList(s string) ([]netip.Addr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty; write one address per family, e.g. \"203.0.113.10\" or \"203.0.113.10,2001:db8::10\"")
	}
	var out []netip.Addr
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		a, err := parseAddr(f)
		if err != nil {
			return nil, err
		}
		for _, b := range out {
			if b.Is4() == a.Is4() {
				return nil, fmt.Errorf("requests two %s addresses (%s and %s); at most one address per family", family(a), b, a)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, fmt.Errorf("empty address in the list; separate addresses with single commas")
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("%q has a zone; write the address without %%zone", s)
	case a.Is4In6():
		return netip.Addr{}, fmt.Errorf("%q is an IPv4-mapped IPv6 address; write the IPv4 address %s", s, a.Unmap())
	case a.IsUnspecified():
		return netip.Addr{}, fmt.Errorf("%q is the unspecified address", s)
	}
	return a, nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// checkSharingKey accepts 1 to 253 printable characters without spaces.
func checkSharingKey(k string) error {
	if k == "" || len(k) > 253 {
		return fmt.Errorf("must be 1 to 253 characters")
	}
	for _, r := range k {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("must not contain spaces or control characters")
		}
	}
	return nil
}

// FamilyWant is one address family a Service wants, and whether getting
// nothing of it fails the whole request.
type FamilyWant struct {
	Family   allocator.Family
	Required bool
}

// Ask is everything a Service asks of seamark's controller: the requested
// addresses, pool and sharing key (ServiceRequest), the families it wants
// and its sharing data. It is the one answer to "what does this Service ask
// for"; the controller decides from nothing else.
type Ask struct {
	ServiceRequest
	// Families follow spec.ipFamilyPolicy and spec.ipFamilies; the primary
	// family first. Set even when Err is.
	Families []FamilyWant
	// Share is the sharing data of the Service (with the key of
	// ServiceRequest, empty when Err is set).
	Share allocator.Share
	// Err is the first annotation problem (an *AnnotationError); the
	// ServiceRequest is then empty and nothing new may be granted.
	Err error
}

// AskOf reads what a Service asks for. It never fails: an annotation
// problem is reported in Ask.Err.
func AskOf(svc *corev1.Service) Ask {
	req, err := ParseService(svc)
	return Ask{ServiceRequest: req, Families: WantedFamilies(svc), Share: ShareOf(svc, req.SharingKey), Err: err}
}

// Wants reports whether the Service wants an address of family f.
func (a Ask) Wants(f allocator.Family) bool {
	for _, w := range a.Families {
		if w.Family == f {
			return true
		}
	}
	return false
}

// Requested returns the requested address of family f, if any.
func (a Ask) Requested(f allocator.Family) (netip.Addr, bool) {
	for _, r := range a.Addresses {
		if allocator.FamilyOf(r) == f {
			return r, true
		}
	}
	return netip.Addr{}, false
}

// WantedFamilies follows spec.ipFamilyPolicy and spec.ipFamilies:
// SingleStack wants the primary family; RequireDualStack both, or nothing;
// PreferDualStack both if available, else the primary family. The primary
// family is ipFamilies[0] (IPv4 when the list is empty).
func WantedFamilies(svc *corev1.Service) []FamilyWant {
	primary, secondary := allocator.IPv4, allocator.IPv6
	if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		primary, secondary = allocator.IPv6, allocator.IPv4
	}
	policy := corev1.IPFamilyPolicySingleStack
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		policy = *p
	}
	switch policy {
	case corev1.IPFamilyPolicyRequireDualStack:
		return []FamilyWant{{primary, true}, {secondary, true}}
	case corev1.IPFamilyPolicyPreferDualStack:
		return []FamilyWant{{primary, true}, {secondary, false}}
	}
	return []FamilyWant{{primary, true}}
}

// ShareOf is the sharing data of a Service: the key, its protocol/port
// pairs, its external traffic policy and, for Local, its selector.
func ShareOf(svc *corev1.Service, key string) allocator.Share {
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

// StatusAddresses are the addresses a Service shows in
// status.loadBalancer.ingress, in order; entries that are not addresses
// (host names) are skipped.
func StatusAddresses(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}
