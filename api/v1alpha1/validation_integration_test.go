//go:build integration

package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/seamark-io/seamark/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// object builds an unstructured seamark object from the YAML of its spec.
func object(t *testing.T, kind, name, spec string) *unstructured.Unstructured {
	t.Helper()
	src := fmt.Sprintf("apiVersion: seamark.io/v1alpha1\nkind: %s\nmetadata:\n  name: %q\nspec:\n%s", kind, name, indent(spec))
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(src), &u.Object); err != nil {
		t.Fatalf("bad test YAML %q: %v", src, err)
	}
	return u
}

func indent(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

var validPeer = "address: 198.18.1.1\nasn: 64512\nlocalASN: 64513\n"

// TestInvalidObjectsAreRejected checks that the apiserver refuses each
// object and that its message tells the user what is wrong.
func TestInvalidObjectsAreRejected(t *testing.T) {
	tests := []struct {
		name string
		kind string
		obj  string // metadata.name
		spec string
		want []string // substrings of the error message
	}{
		// IPPool
		{"pool without cidrs", "IPPool", "p1", "autoAssign: true", []string{"spec.cidrs: Required value"}},
		{"pool with empty cidrs", "IPPool", "p2", "cidrs: []", []string{"spec.cidrs", "at least 1 items"}},
		{"pool cidr that is a bare address", "IPPool", "p3", "cidrs: [203.0.113.7]", []string{`"203.0.113.7" is neither a CIDR`}},
		{"pool cidr that is a word with a dash", "IPPool", "p4", "cidrs: [pool-a]", []string{`"pool-a" is neither a CIDR`}},
		{"pool cidr with host bits", "IPPool", "p5", "cidrs: [203.0.113.1/24]", []string{`CIDR "203.0.113.1/24" has host bits set: write the network address`}},
		{"pool IPv6 cidr with host bits", "IPPool", "p6", "cidrs: ['2001:db8::1/64']", []string{`CIDR "2001:db8::1/64" has host bits set`}},
		{"pool IPv6 cidr in upper case", "IPPool", "p7", "cidrs: ['2001:DB8::/64']", []string{`CIDR "2001:DB8::/64" is not in canonical form`}},
		{"pool IPv6 cidr not shortest", "IPPool", "p8", "cidrs: ['2001:db8:0::/64']", []string{`CIDR "2001:db8:0::/64" is not in canonical form`}},
		{"pool range mixing families", "IPPool", "p9", "cidrs: ['203.0.113.1-2001:db8::1']", []string{"mixes an IPv4 and an IPv6 address"}},
		{"pool range not canonical", "IPPool", "p10", "cidrs: ['2001:db8::0001-2001:db8::2']", []string{`range "2001:db8::0001-2001:db8::2" is not in canonical form`}},
		{"pool range of three addresses", "IPPool", "p11", "cidrs: ['203.0.113.1-203.0.113.2-203.0.113.3']", []string{"is neither a CIDR"}},
		{"pool cidr with leading zeros", "IPPool", "p12", "cidrs: [203.0.113.010/32]", []string{"is neither a CIDR"}},
		{"pool with a duplicate cidr", "IPPool", "p13", "cidrs: [203.0.113.0/24, 203.0.113.0/24]", []string{"spec.cidrs[1]: Duplicate value"}},
		{"pool with 65 cidrs", "IPPool", "p14", "cidrs: [" + manyCIDRs(65) + "]", []string{"spec.cidrs", "must have at most 64 items"}},
		{"pool with a priority out of range", "IPPool", "p15", "cidrs: [203.0.113.0/24]\npriority: 2000000", []string{"spec.priority", "less than or equal to 1000000"}},
		{"pool cidr longer than any address", "IPPool", "p16", "cidrs: ['" + strings.Repeat("1", 80) + "']", []string{"spec.cidrs[0]", "Too long"}},

		// IPAllocation
		{"allocation named after another IPv4 address", "IPAllocation", "203.0.113.11", "address: 203.0.113.10\npool: public\nservices: [{namespace: a, name: b, uid: u}]", []string{`metadata.name "203.0.113.11" does not match spec.address "203.0.113.10"`}},
		{"allocation named after a compressed IPv6 address", "IPAllocation", "2001-db8--10", "address: '2001:db8::10'\npool: public\nservices: [{namespace: a, name: b, uid: u}]", []string{"does not match spec.address", "fully expanded"}},
		{"allocation whose address is not an address", "IPAllocation", "web", "address: web\npool: public\nservices: [{namespace: a, name: b, uid: u}]", []string{`"web" is not an IP address`}},
		{"allocation with a non-canonical IPv6 address", "IPAllocation", "2001-0db8-0000-0000-0000-0000-0000-0010", "address: '2001:db8:0:0::10'\npool: public\nservices: [{namespace: a, name: b, uid: u}]", []string{`address "2001:db8:0:0::10" is not in canonical form`}},
		{"allocation without services", "IPAllocation", "203.0.113.12", "address: 203.0.113.12\npool: public\nservices: []", []string{"spec.services", "at least 1 items"}},
		{"allocation service without uid", "IPAllocation", "203.0.113.13", "address: 203.0.113.13\npool: public\nservices: [{namespace: a, name: b}]", []string{"spec.services[0].uid: Required value"}},
		{"allocation naming one service twice", "IPAllocation", "203.0.113.14", "address: 203.0.113.14\npool: public\nservices: [{namespace: a, name: b, uid: u}, {namespace: a, name: b, uid: v}]", []string{"spec.services[1]: Duplicate value"}},
		{"allocation with an invalid pool name", "IPAllocation", "203.0.113.15", "address: 203.0.113.15\npool: Pool_A\nservices: [{namespace: a, name: b, uid: u}]", []string{"spec.pool", "should match"}},

		// BGPPeer
		{"peer address that is a host name", "BGPPeer", "r1", "address: router.example\nasn: 64512\nlocalASN: 64513", []string{`"router.example" is not an IP address`}},
		{"peer ASN 0", "BGPPeer", "r2", "address: 198.18.1.1\nasn: 0\nlocalASN: 64513", []string{"spec.asn", "greater than or equal to 1"}},
		{"peer ASN 4294967295", "BGPPeer", "r3", "address: 198.18.1.1\nasn: 4294967295\nlocalASN: 64513", []string{"spec.asn", "less than or equal to 4294967294"}},
		{"peer ASN AS_TRANS", "BGPPeer", "r4", "address: 198.18.1.1\nasn: 64512\nlocalASN: 23456", []string{"spec.localASN", "AS_TRANS"}},
		{"peer without local ASN", "BGPPeer", "r5", "address: 198.18.1.1\nasn: 64512", []string{"spec.localASN: Required value"}},
		{"peer port 0", "BGPPeer", "r6", validPeer + "port: 0", []string{"spec.port", "greater than or equal to 1"}},
		{"peer port 70000", "BGPPeer", "r7", validPeer + "port: 70000", []string{"spec.port", "less than or equal to 65535"}},
		{"peer hold time 2s", "BGPPeer", "r8", validPeer + "holdTime: 2s", []string{"holdTime must be 0 or between 3s and 65535s"}},
		{"peer hold time without unit", "BGPPeer", "r9", validPeer + "holdTime: '90'", []string{`"90" is not a duration`}},
		{"peer keepalive above hold time", "BGPPeer", "r10", validPeer + "holdTime: 9s\nkeepaliveTime: 30s", []string{"keepaliveTime must be less than holdTime"}},
		{"peer keepalive above the default hold time", "BGPPeer", "r11", validPeer + "keepaliveTime: 100s", []string{"keepaliveTime must be less than holdTime (default 90s)"}},
		{"peer keepalive with hold time 0", "BGPPeer", "r12", validPeer + "holdTime: 0s\nkeepaliveTime: 3s", []string{"0 when holdTime is 0"}},
		{"peer IPv6 router ID", "BGPPeer", "r13", validPeer + "routerID: '2001:db8::1'", []string{"routerID must be an IPv4 address"}},
		{"peer source address of the other family", "BGPPeer", "r14", validPeer + "sourceAddress: '2001:db8::1'", []string{"sourceAddress must be of the same family as spec.address"}},
		{"peer multihop TTL 0", "BGPPeer", "r15", validPeer + "ebgpMultihop: 0", []string{"spec.ebgpMultihop", "greater than or equal to 1"}},
		{"peer multihop TTL 256", "BGPPeer", "r16", validPeer + "ebgpMultihop: 256", []string{"spec.ebgpMultihop", "less than or equal to 255"}},
		{"peer restart time beyond 12 bits", "BGPPeer", "r17", validPeer + "gracefulRestart: {enabled: true, restartTime: 5000s}", []string{"restartTime must be between 1s and 4095s"}},
		{"peer password reference without key", "BGPPeer", "r18", validPeer + "passwordSecretRef: {name: bgp}", []string{"spec.passwordSecretRef.key: Required value"}},
		{"peer connect retry 0s", "BGPPeer", "r19", validPeer + "connectRetryTime: 0s", []string{"connectRetryTime must be between 1s and 65535s"}},
		{"peer BFD receive interval below 10ms", "BGPPeer", "r20", validPeer + "bfd: {enabled: true, receiveInterval: 5ms}", []string{"receiveInterval must be between 10ms and 60s"}},
		{"peer BFD transmit interval above 60s", "BGPPeer", "r21", validPeer + "bfd: {enabled: true, transmitInterval: 2m}", []string{"transmitInterval must be between 10ms and 60s"}},
		{"peer BFD interval without unit", "BGPPeer", "r22", validPeer + "bfd: {receiveInterval: '300'}", []string{`"300" is not a duration`}},
		{"peer BFD multiplier 0", "BGPPeer", "r23", validPeer + "bfd: {detectMultiplier: 0}", []string{"spec.bfd.detectMultiplier", "greater than or equal to 1"}},
		{"peer BFD multiplier 256", "BGPPeer", "r24", validPeer + "bfd: {detectMultiplier: 256}", []string{"spec.bfd.detectMultiplier", "less than or equal to 255"}},

		// BGPAdvertisement
		{"advertisement of an unknown address type", "BGPAdvertisement", "a1", "addresses: [PodIP]", []string{"spec.addresses[0]", `Unsupported value: "PodIP"`, "LoadBalancerIP"}},
		{"advertisement with a standard community part above 65535", "BGPAdvertisement", "a2", "communities: ['65536:1']", []string{`community "65536:1" is not a standard community`}},
		{"advertisement with a large community part above 32 bits", "BGPAdvertisement", "a3", "communities: ['1:2:4294967296']", []string{`community "1:2:4294967296"`}},
		{"advertisement with an unknown well-known name", "BGPAdvertisement", "a4", "communities: [no-such-thing]", []string{`community "no-such-thing"`, "no-export"}},
		{"advertisement with an IPv4 aggregation of 33", "BGPAdvertisement", "a5", "aggregationLength: 33", []string{"spec.aggregationLength", "less than or equal to 32"}},
		{"advertisement with an IPv6 aggregation of 129", "BGPAdvertisement", "a6", "aggregationLengthV6: 129", []string{"spec.aggregationLengthV6", "less than or equal to 128"}},
		{"advertisement with a negative local preference", "BGPAdvertisement", "a7", "localPreference: -1", []string{"spec.localPreference", "greater than or equal to 0"}},
		{"advertisement with no address type", "BGPAdvertisement", "a8", "addresses: []", []string{"spec.addresses", "at least 1 items"}},
		{"advertisement naming a peer with an invalid name", "BGPAdvertisement", "a9", "peers: [Tor_A]", []string{"spec.peers[0]", "should match"}},

		// L2Advertisement
		{"l2 advertisement with a slash in an interface", "L2Advertisement", "l1", "interfaces: [eth0/1]", []string{"spec.interfaces[0]", "should match"}},
		{"l2 advertisement with an interface name over 15 bytes", "L2Advertisement", "l2", "interfaces: [averyveryverylongname0]", []string{"spec.interfaces[0]", "Too long"}},
		{"l2 advertisement with a duplicate interface", "L2Advertisement", "l3", "interfaces: [eth0, eth0]", []string{"spec.interfaces[1]: Duplicate value"}},
	}
	if len(tests) < 40 {
		t.Fatalf("the table must hold at least 40 invalid objects, has %d", len(tests))
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := env.Client.Create(ctx, object(t, tt.kind, tt.obj, tt.spec))
			if err == nil {
				t.Fatalf("the apiserver accepted the %s", tt.kind)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error message lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestValidEdgeCasesAreAccepted keeps the rules from refusing what is right.
func TestValidEdgeCasesAreAccepted(t *testing.T) {
	tests := []struct {
		name string
		kind string
		obj  string
		spec string
	}{
		{"pool mixing families, ranges and host routes", "IPPool", "ok-p1", "cidrs: [203.0.113.0/24, 198.51.100.10-198.51.100.20, '2001:db8:1::/112', '2001:db8:2::10-2001:db8:2::ff', 198.51.100.200/32, '2001:db8:3::1/128']"},
		{"pool of 64 cidrs", "IPPool", "ok-p2", "cidrs: [" + manyCIDRs(64) + "]"},
		{"allocation of an IPv6 address starting with ::", "IPAllocation", "0000-0000-0000-0000-0000-0000-0000-0001", "address: '::1'\npool: lo\nservices: [{namespace: a, name: b, uid: u}]"},
		{"allocation of an IPv6 address ending with ::", "IPAllocation", "2001-0db8-0000-0000-0000-0000-0000-0000", "address: '2001:db8::'\npool: p\nservices: [{namespace: a, name: b, uid: u}]"},
		{"shared allocation", "IPAllocation", "203.0.113.200", "address: 203.0.113.200\npool: p\nsharingKey: web\nservices: [{namespace: a, name: b, uid: u}, {namespace: a, name: c, uid: v}]"},
		{"peer with hold time 0 and no keepalive", "BGPPeer", "ok-r1", validPeer + "holdTime: 0s\nkeepaliveTime: 0s"},
		{"peer with hold 3s keepalive 1s over IPv6", "BGPPeer", "ok-r2", "address: '2001:db8::1'\nasn: 4200000000\nlocalASN: 4200000000\nholdTime: 3s\nkeepaliveTime: 1s\nsourceAddress: '2001:db8::2'\nrouterID: 198.18.1.11\nport: 1179\nebgpMultihop: 255"},
		{"peer with keepalive under the default hold time", "BGPPeer", "ok-r3", validPeer + "keepaliveTime: 1m\ngracefulRestart: {enabled: true, restartTime: 4095s}"},
		{"peer with BFD at the bounds", "BGPPeer", "ok-r4", validPeer + "bfd: {enabled: true, receiveInterval: 10ms, transmitInterval: 60s, detectMultiplier: 255}"},
		{"peer with BFD at 1 × 100ms", "BGPPeer", "ok-r5", validPeer + "bfd: {enabled: true, receiveInterval: 100ms, transmitInterval: 100ms, detectMultiplier: 1}"},
		{"advertisement with every kind of community", "BGPAdvertisement", "ok-a1", "addresses: [LoadBalancerIP, ExternalIP, ClusterIP, ClusterIPRange]\ncommunities: ['65535:65535', '0:0', '4294967295:0:4294967295', graceful-shutdown, no-advertise]\nlocalPreference: 4294967295\naggregationLength: 0\naggregationLengthV6: 128"},
		{"l2 advertisement with patterns", "L2Advertisement", "ok-l1", "interfaces: ['enp*s0', 'bond[01]', 'eth0.100', 'vlan@eth0']"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := env.Client.Create(ctx, object(t, tt.kind, tt.obj, tt.spec)); err != nil {
				t.Fatalf("the apiserver refused a valid %s: %v", tt.kind, err)
			}
		})
	}
}

// TestAllocationAddressAndPoolAreImmutable checks the update rules.
func TestAllocationAddressAndPoolAreImmutable(t *testing.T) {
	ctx := context.Background()
	a := object(t, "IPAllocation", "198.51.100.77", "address: 198.51.100.77\npool: public\nservices: [{namespace: a, name: b, uid: u}]")
	if err := env.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		field string
		value string
		want  string
	}{
		{"address cannot change", "address", "198.51.100.78", "address is immutable"},
		{"pool cannot change", "pool", "private", "pool is immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := a.DeepCopy()
			if err := unstructured.SetNestedField(u.Object, tt.value, "spec", tt.field); err != nil {
				t.Fatal(err)
			}
			err := env.Client.Update(ctx, u)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error containing %q, got %v", tt.want, err)
			}
		})
	}
	// The services of an allocation do change (sharing).
	u := a.DeepCopy()
	if err := unstructured.SetNestedSlice(u.Object, []any{
		map[string]any{"namespace": "a", "name": "b", "uid": "u"},
		map[string]any{"namespace": "a", "name": "c", "uid": "v"},
	}, "spec", "services"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Update(ctx, u); err != nil {
		t.Fatalf("adding a sharing service was refused: %v", err)
	}
}

// TestSamplesAreAccepted creates every file of config/samples.
func TestSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(env.Root, "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(b, &u.Object); err != nil {
				t.Fatalf("parsing: %v", err)
			}
			kinds[u.GetKind()] = true
			if err := env.Client.Create(context.Background(), u); err != nil {
				t.Fatalf("the apiserver refused the sample: %v", err)
			}
		})
	}
	for _, k := range []string{"IPPool", "IPAllocation", "BGPPeer", "BGPAdvertisement", "L2Advertisement"} {
		if !kinds[k] {
			t.Errorf("config/samples has no %s", k)
		}
	}
}

// manyCIDRs returns n distinct /32s.
func manyCIDRs(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("198.51.100.%d/32", i)
	}
	return strings.Join(s, ", ")
}
