package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
)

func TestParseService(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		ann     map[string]string
		lbIP    string
		want    ServiceRequest
		wantErr string // substring of the error; empty for success
	}{
		{name: "no annotations asks for nothing in particular"},
		{name: "one IPv4 address", ann: map[string]string{"seamark.io/ips": "203.0.113.10"}, want: ServiceRequest{Addresses: []netip.Addr{a("203.0.113.10")}}},
		{name: "one address per family with spaces", ann: map[string]string{"seamark.io/ips": " 2001:db8::10 , 203.0.113.10"}, want: ServiceRequest{Addresses: []netip.Addr{a("2001:db8::10"), a("203.0.113.10")}}},
		{name: "non-canonical IPv6 is read and normalized", ann: map[string]string{"seamark.io/ips": "2001:DB8:0::10"}, want: ServiceRequest{Addresses: []netip.Addr{a("2001:db8::10")}}},
		{name: "two IPv4 addresses are refused", ann: map[string]string{"seamark.io/ips": "203.0.113.10,203.0.113.11"}, wantErr: "seamark.io/ips \"203.0.113.10,203.0.113.11\": requests two IPv4 addresses (203.0.113.10 and 203.0.113.11); at most one address per family"},
		{name: "a host name is refused", ann: map[string]string{"seamark.io/ips": "web.example"}, wantErr: `"web.example" is not an IP address`},
		{name: "an empty list is refused", ann: map[string]string{"seamark.io/ips": " "}, wantErr: "empty; write one address per family"},
		{name: "a trailing comma is refused", ann: map[string]string{"seamark.io/ips": "203.0.113.10,"}, wantErr: "empty address in the list"},
		{name: "a zone is refused", ann: map[string]string{"seamark.io/ips": "fe80::1%eth0"}, wantErr: "has a zone"},
		{name: "an IPv4-mapped address is refused", ann: map[string]string{"seamark.io/ips": "::ffff:203.0.113.10"}, wantErr: "write the IPv4 address 203.0.113.10"},
		{name: "the unspecified address is refused", ann: map[string]string{"seamark.io/ips": "0.0.0.0"}, wantErr: "unspecified"},
		{name: "a CIDR is refused", ann: map[string]string{"seamark.io/ips": "203.0.113.0/24"}, wantErr: "not an IP address"},
		{name: "spec.loadBalancerIP is honoured", lbIP: "203.0.113.20", want: ServiceRequest{Addresses: []netip.Addr{a("203.0.113.20")}}},
		{name: "the annotation wins over spec.loadBalancerIP", ann: map[string]string{"seamark.io/ips": "203.0.113.10"}, lbIP: "203.0.113.20", want: ServiceRequest{Addresses: []netip.Addr{a("203.0.113.10")}}},
		{name: "a bad spec.loadBalancerIP is refused", lbIP: "203.0.113.300", wantErr: "spec.loadBalancerIP \"203.0.113.300\""},
		{name: "a pool", ann: map[string]string{"seamark.io/pool": "public"}, want: ServiceRequest{Pool: "public"}},
		{name: "a pool name in capitals is refused", ann: map[string]string{"seamark.io/pool": "Public"}, wantErr: "seamark.io/pool \"Public\": not a pool name"},
		{name: "an empty pool name is refused", ann: map[string]string{"seamark.io/pool": ""}, wantErr: "seamark.io/pool \"\": not a pool name"},
		{name: "a sharing key", ann: map[string]string{"seamark.io/sharing-key": "web"}, want: ServiceRequest{SharingKey: "web"}},
		{name: "a sharing key with a space is refused", ann: map[string]string{"seamark.io/sharing-key": "my web"}, wantErr: "must not contain spaces"},
		{name: "an empty sharing key is refused", ann: map[string]string{"seamark.io/sharing-key": ""}, wantErr: "must be 1 to 253 characters"},
		{name: "a sharing key of 254 characters is refused", ann: map[string]string{"seamark.io/sharing-key": strings.Repeat("k", 254)}, wantErr: "must be 1 to 253 characters"},
		{name: "everything at once", ann: map[string]string{"seamark.io/ips": "203.0.113.10", "seamark.io/pool": "public", "seamark.io/sharing-key": "web"},
			want: ServiceRequest{Addresses: []netip.Addr{a("203.0.113.10")}, Pool: "public", SharingKey: "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service("shop", "web", nil, tt.ann)
			svc.Spec.LoadBalancerIP = tt.lbIP
			got, err := ParseService(svc)
			if tt.wantErr != "" {
				var ae *AnnotationError
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an *AnnotationError containing %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseAddressList: never panics; what parses is one address per
// family, canonical text of it parses back to the same addresses.
func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{"203.0.113.10", "203.0.113.10,2001:db8::10", " 2001:DB8::1 ", "1.2.3.4,1.2.3.5", ",", "fe80::1%eth0", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs, err := ParseAddressList(s)
		if err != nil {
			return
		}
		if len(addrs) == 0 || len(addrs) > 2 || (len(addrs) == 2 && addrs[0].Is4() == addrs[1].Is4()) {
			t.Fatalf("ParseAddressList(%q) = %v: want one address per family", s, addrs)
		}
		texts := make([]string, len(addrs))
		for i, a := range addrs {
			texts[i] = a.String()
		}
		back, err := ParseAddressList(strings.Join(texts, ","))
		if err != nil || !cmp.Equal(addrs, back, cmpopts.EquateComparable(netip.Addr{})) {
			t.Fatalf("round trip of %q: %v -> %v (%v)", s, addrs, back, err)
		}
	})
}

func TestHandles(t *testing.T) {
	ours, other := "seamark.io/lb", "example.com/other"
	tests := []struct {
		name         string
		typ          corev1.ServiceType
		class        *string
		defaultClass bool
		want         bool
	}{
		{"a LoadBalancer without class, default class on", corev1.ServiceTypeLoadBalancer, nil, true, true},
		{"a LoadBalancer without class, default class off", corev1.ServiceTypeLoadBalancer, nil, false, false},
		{"a LoadBalancer of class seamark.io/lb, default class off", corev1.ServiceTypeLoadBalancer, &ours, false, true},
		{"a LoadBalancer of another class", corev1.ServiceTypeLoadBalancer, &other, true, false},
		{"a ClusterIP Service", corev1.ServiceTypeClusterIP, nil, true, false},
		{"a NodePort Service of our class", corev1.ServiceTypeNodePort, &ours, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service("ns", "svc", nil, nil)
			svc.Spec.Type, svc.Spec.LoadBalancerClass = tt.typ, tt.class
			if got := Handles(svc, tt.defaultClass); got != tt.want {
				t.Errorf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}
