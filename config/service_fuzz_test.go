package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// FuzzAskOf feeds AskOf hostile Service annotations and fields: it never
// panics, a problem is always an *AnnotationError naming the field at
// fault and leaves nothing requested, and what it accepts is canonical,
// at most one address per family, and reads back the same.
func FuzzAskOf(f *testing.F) {
	for _, s := range [][4]string{
		{"203.0.113.10", "", "", ""},
		{" 2001:DB8::10 , 203.0.113.10", "public", "web", ""},
		{"203.0.113.10,203.0.113.11", "", "", ""},
		{"fe80::1%eth0", "Bad", "with space", ""},
		{"::ffff:203.0.113.10", "", "", "203.0.113.300"},
		{"", "", "", "2001:db8::1"},
		{",", "a..b", "\x00", "0.0.0.0"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, ips, pool, key, lbIP string) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}}, Spec: corev1.ServiceSpec{LoadBalancerIP: lbIP}}
		if ips != "" {
			svc.Annotations[seamarkv1alpha1.AnnotationIPs] = ips
		}
		if pool != "" {
			svc.Annotations[seamarkv1alpha1.AnnotationPool] = pool
		}
		if key != "" {
			svc.Annotations[seamarkv1alpha1.AnnotationSharingKey] = key
		}
		ask := AskOf(svc)
		if len(ask.Families) == 0 {
			t.Fatal("no family wanted")
		}
		if ask.Err != nil {
			var ae *AnnotationError
			if !errors.As(ask.Err, &ae) || ae.Key == "" || ae.Reason == "" {
				t.Fatalf("error %v is not an AnnotationError naming a field", ask.Err)
			}
			if len(ask.Addresses) != 0 || ask.Pool != "" || ask.SharingKey != "" || ask.Share.Key != "" {
				t.Fatalf("a refused Service asks for %+v", ask.ServiceRequest)
			}
			return
		}
		seen := map[allocator.Family]bool{}
		var texts []string
		for _, a := range ask.Addresses {
			if seen[allocator.FamilyOf(a)] {
				t.Fatalf("two %s addresses accepted: %v", allocator.FamilyOf(a), ask.Addresses)
			}
			seen[allocator.FamilyOf(a)] = true
			if a.Zone() != "" || a.Is4In6() || a.IsUnspecified() {
				t.Fatalf("accepted %s", a)
			}
			if got, ok := ask.Requested(allocator.FamilyOf(a)); !ok || got != a {
				t.Fatalf("Requested(%s) = %s, %v", allocator.FamilyOf(a), got, ok)
			}
			texts = append(texts, a.String())
		}
		if len(texts) > 0 {
			again, err := ParseAddressList(strings.Join(texts, ","))
			if err != nil || len(again) != len(ask.Addresses) {
				t.Fatalf("canonical form %q reads back as %v, %v", strings.Join(texts, ","), again, err)
			}
			for i := range again {
				if again[i] != ask.Addresses[i] {
					t.Fatalf("canonical form reads back as %v, want %v", again, ask.Addresses)
				}
			}
		}
		if ips == "" && lbIP != "" && len(ask.Addresses) == 1 && ask.Addresses[0] != netip.MustParseAddr(ask.Addresses[0].String()) {
			t.Fatalf("spec.loadBalancerIP %q read as %v", lbIP, ask.Addresses)
		}
		if ask.Share.Key != ask.SharingKey || ask.Pool != pool {
			t.Fatalf("key %q/%q, pool %q/%q", ask.Share.Key, ask.SharingKey, ask.Pool, pool)
		}
	})
}
