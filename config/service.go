package config

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

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
