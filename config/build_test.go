package config

import (
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

func poolNames(c *Config) []string {
	var out []string
	for n := range c.Pools {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func TestBuildPools(t *testing.T) {
	tests := []struct {
		name     string
		pools    []seamarkv1alpha1.IPPool
		want     []string // usable pools
		problems Problems
	}{
		{
			name:  "valid pools of both families are kept",
			pools: []seamarkv1alpha1.IPPool{pool("a", 0, "203.0.113.0/24"), pool("b", 1, "2001:db8:1::/112", "198.51.100.10-198.51.100.20")},
			want:  []string{"a", "b"},
		},
		{
			name:  "the younger of two overlapping pools is disabled, naming the older",
			pools: []seamarkv1alpha1.IPPool{pool("young", 5, "203.0.113.128/25"), pool("old", 1, "203.0.113.0/24")},
			want:  []string{"old"},
			problems: Problems{{Kind: "IPPool", Name: "young", Field: "spec.cidrs", Reason: "Overlap", Class: Invalid,
				Message: `203.0.113.128/25 overlaps 203.0.113.0/24 of IPPool "old", which is older; this pool grants nothing until the overlap is removed`}},
		},
		{
			name:  "pools created in the same second are ordered by name",
			pools: []seamarkv1alpha1.IPPool{pool("b", 1, "203.0.113.10-203.0.113.20"), pool("a", 1, "203.0.113.20/32")},
			want:  []string{"a"},
			problems: Problems{{Kind: "IPPool", Name: "b", Field: "spec.cidrs", Reason: "Overlap", Class: Invalid,
				Message: `203.0.113.10-203.0.113.20 overlaps 203.0.113.20/32 of IPPool "a", which is older; this pool grants nothing until the overlap is removed`}},
		},
		{
			name:  "an overlap with a range that starts before is found",
			pools: []seamarkv1alpha1.IPPool{pool("a", 0, "198.51.100.0/24", "203.0.113.0-203.0.113.100"), pool("b", 1, "203.0.113.50/32")},
			want:  []string{"a"},
			problems: Problems{{Kind: "IPPool", Name: "b", Field: "spec.cidrs", Reason: "Overlap", Class: Invalid,
				Message: `203.0.113.50/32 overlaps 203.0.113.0-203.0.113.100 of IPPool "a", which is older; this pool grants nothing until the overlap is removed`}},
		},
		{
			name:  "adjacent pools do not overlap",
			pools: []seamarkv1alpha1.IPPool{pool("a", 0, "203.0.113.0/25"), pool("b", 1, "203.0.113.128/25")},
			want:  []string{"a", "b"},
		},
		{
			name:  "IPv4 and IPv6 pools never overlap",
			pools: []seamarkv1alpha1.IPPool{pool("a", 0, "0.0.0.0/0"), pool("b", 1, "::/0")},
			want:  []string{"a", "b"},
		},
		{
			name:  "a range whose start is after its end is invalid (CEL cannot order addresses)",
			pools: []seamarkv1alpha1.IPPool{pool("a", 0, "203.0.113.0/24"), pool("bad", 1, "198.51.100.20-198.51.100.10")},
			want:  []string{"a"},
			problems: Problems{{Kind: "IPPool", Name: "bad", Field: "spec.cidrs[0]", Reason: "InvalidCIDR", Class: Invalid,
				Message: mustErr(t, "198.51.100.20-198.51.100.10")}},
		},
		{
			name:  "entries of one pool that overlap each other make it invalid",
			pools: []seamarkv1alpha1.IPPool{pool("bad", 0, "203.0.113.0/24", "203.0.113.10-203.0.113.20")},
			problems: Problems{{Kind: "IPPool", Name: "bad", Field: "spec.cidrs[1]", Reason: "InvalidCIDR", Class: Invalid,
				Message: "203.0.113.10-203.0.113.20 overlaps 203.0.113.0/24 (spec.cidrs[0]) of the same pool; list each address once"}},
		},
		{
			name:  "an invalid pool does not disable a younger pool it would overlap",
			pools: []seamarkv1alpha1.IPPool{pool("bad", 0, "203.0.113.0/24", "bogus"), pool("good", 1, "203.0.113.0/24")},
			want:  []string{"good"},
			problems: Problems{{Kind: "IPPool", Name: "bad", Field: "spec.cidrs[1]", Reason: "InvalidCIDR", Class: Invalid,
				Message: mustErr(t, "bogus")}},
		},
		{
			name: "a bad selector makes the pool invalid",
			pools: []seamarkv1alpha1.IPPool{withPool(pool("bad", 0, "203.0.113.0/24"), func(p *seamarkv1alpha1.IPPool) {
				p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Like"}}}
			})},
			problems: Problems{{Kind: "IPPool", Name: "bad", Field: "spec.namespaceSelector", Reason: "InvalidSelector", Class: Invalid,
				Message: `namespaceSelector is not a valid label selector: "Like" is not a valid label selector operator`}},
		},
		{
			name:     "a pool without cidrs is invalid",
			pools:    []seamarkv1alpha1.IPPool{pool("empty", 0)},
			problems: Problems{{Kind: "IPPool", Name: "empty", Field: "spec.cidrs", Reason: "InvalidCIDR", Class: Invalid, Message: "the pool has no CIDRs"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, problems := Build(Resources{Pools: tt.pools})
			if diff := cmp.Diff(tt.want, poolNames(cfg), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pools (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, problems, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			// The outcome must not depend on the order of the input.
			rev := slices.Clone(tt.pools)
			slices.Reverse(rev)
			cfg2, problems2 := Build(Resources{Pools: rev})
			if !cmp.Equal(poolNames(cfg), poolNames(cfg2)) || !cmp.Equal(problems, problems2, cmpopts.EquateEmpty()) {
				t.Errorf("reversed input gave pools %v problems %v", poolNames(cfg2), problems2)
			}
		})
	}
}

func mustErr(t *testing.T, cidr string) string {
	t.Helper()
	_, problems := Build(Resources{Pools: []seamarkv1alpha1.IPPool{pool("x", 0, cidr)}})
	if len(problems) != 1 {
		t.Fatalf("%q: want one problem, got %v", cidr, problems)
	}
	return problems[0].Message
}

func TestBuildPoolFields(t *testing.T) {
	p := withPool(pool("p", 0, "203.0.113.0/24", "2001:db8::/120"), func(p *seamarkv1alpha1.IPPool) {
		p.Labels = map[string]string{"tier": "web"}
		p.Spec.AutoAssign = ptr(false)
		p.Spec.AllowFirstLast = true
		p.Spec.Priority = -3
		p.DeletionTimestamp = ptr(metav1.NewTime(epoch))
	})
	cfg, problems := Build(Resources{Pools: []seamarkv1alpha1.IPPool{p, pool("d", 1, "198.51.100.0/24")}})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	got := cfg.Pools["p"]
	if got.AutoAssign || got.Priority != -3 || !got.Terminating || !got.Allocator.AllowFirstLast || got.Labels["tier"] != "web" {
		t.Errorf("pool fields not carried over: %+v", got)
	}
	if d := cfg.Pools["d"]; !d.AutoAssign || d.Terminating || d.Priority != 0 {
		t.Errorf("defaults not applied: %+v", d)
	}
	if !got.HasFamily(4) || !got.HasFamily(6) || cfg.Pools["d"].HasFamily(6) {
		t.Errorf("HasFamily is wrong")
	}
}

func TestBuildPeers(t *testing.T) {
	base := peer("tor", 0, "198.18.1.1", 64512, 64513)
	tests := []struct {
		name     string
		peer     seamarkv1alpha1.BGPPeer
		secrets  map[string]map[string]string
		want     *Peer // nil when left out
		problems Problems
	}{
		{
			name: "defaults are filled in",
			peer: base,
			want: &Peer{Name: "tor", Address: netip.MustParseAddr("198.18.1.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxReceivedPrefixes: DefaultMaxReceivedPrefixes},
		},
		{
			name: "maxReceivedPrefixes 0 lifts the limit",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) { s.MaxReceivedPrefixes = ptr(int32(0)) }),
			want: &Peer{Name: "tor", Address: netip.MustParseAddr("198.18.1.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second},
		},
		{
			name: "a negative maxReceivedPrefixes is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) { s.MaxReceivedPrefixes = ptr(int32(-1)) }),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.maxReceivedPrefixes", Reason: "Invalid", Class: Invalid,
				Message: "maxReceivedPrefixes -1 is negative; 0 means no limit"}},
		},
		{
			name: "every field is carried over and the password resolved",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.Port = 1179
				s.RouterID = ptr(seamarkv1alpha1.IPAddress("198.18.1.11"))
				s.HoldTime = &metav1.Duration{Duration: 9 * time.Second}
				s.ConnectRetryTime = &metav1.Duration{Duration: time.Second}
				s.EBGPMultihop = ptr(int32(2))
				s.SourceAddress = ptr(seamarkv1alpha1.IPAddress("198.18.1.11"))
				s.PasswordSecretRef = &seamarkv1alpha1.SecretKeyReference{Name: "bgp", Key: "tor"}
				s.GracefulRestart = &seamarkv1alpha1.GracefulRestart{Enabled: true}
			}),
			secrets: map[string]map[string]string{"bgp": {"tor": "s3cret"}},
			want: &Peer{Name: "tor", Address: netip.MustParseAddr("198.18.1.1"), Port: 1179, ASN: 64512, LocalASN: 64513,
				RouterID: netip.MustParseAddr("198.18.1.11"), HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second,
				ConnectRetryTime: time.Second, MaxReceivedPrefixes: DefaultMaxReceivedPrefixes, EBGPMultihop: 2, SourceAddress: netip.MustParseAddr("198.18.1.11"),
				Password: "s3cret", GracefulRestart: true, RestartTime: 120 * time.Second},
		},
		{
			name: "a missing Secret is a transient problem and leaves the peer out",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.PasswordSecretRef = &seamarkv1alpha1.SecretKeyReference{Name: "bgp", Key: "tor"}
			}),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.passwordSecretRef.name", Reason: "SecretNotFound", Class: Transient,
				Message: `Secret "bgp" holding the TCP-MD5 password was not found in seamark's namespace; the nodes do not peer with 198.18.1.1 until it exists`}},
		},
		{
			name: "a missing key is a transient problem and leaves the peer out",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.PasswordSecretRef = &seamarkv1alpha1.SecretKeyReference{Name: "bgp", Key: "tor"}
			}),
			secrets: map[string]map[string]string{"bgp": {"other": "x"}},
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.passwordSecretRef.key", Reason: "SecretKeyNotFound", Class: Transient,
				Message: `Secret "bgp" has no key "tor" holding the TCP-MD5 password; the nodes do not peer with 198.18.1.1 until it does`}},
		},
		{
			name: "a password longer than Linux accepts is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.PasswordSecretRef = &seamarkv1alpha1.SecretKeyReference{Name: "bgp", Key: "tor"}
			}),
			secrets: map[string]map[string]string{"bgp": {"tor": string(make([]byte, 81))}},
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.passwordSecretRef.key", Reason: "Invalid", Class: Invalid,
				Message: `the password in Secret "bgp" key "tor" is 81 bytes; TCP-MD5 passwords are 1 to 80 bytes`}},
		},
		{
			name: "a keepalive time that the default hold time does not exceed is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.KeepaliveTime = &metav1.Duration{Duration: 90 * time.Second}
			}),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.keepaliveTime", Reason: "Invalid", Class: Invalid,
				Message: "keepaliveTime 1m30s must be less than holdTime 1m30s, and 0 when holdTime is 0"}},
		},
		{
			name: "hold time 0 disables keepalives",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.HoldTime = &metav1.Duration{}
			}),
			want: &Peer{Name: "tor", Address: netip.MustParseAddr("198.18.1.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				ConnectRetryTime: 5 * time.Second, MaxReceivedPrefixes: DefaultMaxReceivedPrefixes},
		},
		{
			name: "AS_TRANS is refused even if CEL was bypassed",
			peer: peer("tor", 0, "198.18.1.1", 23456, 64513),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.asn", Reason: "Invalid", Class: Invalid,
				Message: "asn 23456 is not a usable 4-byte AS number (1-4294967294, not 23456)"}},
		},
		{
			name: "a source address of the other family is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.SourceAddress = ptr(seamarkv1alpha1.IPAddress("2001:db8::1"))
			}),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.sourceAddress", Reason: "Invalid", Class: Invalid,
				Message: "sourceAddress 2001:db8::1 is not of the family of address 198.18.1.1"}},
		},
		{
			name: "a restart time beyond 4095s is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.GracefulRestart = &seamarkv1alpha1.GracefulRestart{Enabled: true, RestartTime: &metav1.Duration{Duration: time.Hour + time.Hour}}
			}),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.gracefulRestart.restartTime", Reason: "Invalid", Class: Invalid,
				Message: "restartTime 2h0m0s must be between 1s and 4095s"}},
		},
		{
			name: "BFD enabled alone takes FRR's defaults",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) { s.BFD = &seamarkv1alpha1.BFD{Enabled: true} }),
			want: &Peer{Name: "tor", Address: netip.MustParseAddr("198.18.1.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxReceivedPrefixes: DefaultMaxReceivedPrefixes,
				BFD: BFD{Enabled: true, ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}},
		},
		{
			name: "BFD timers are carried over",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.BFD = &seamarkv1alpha1.BFD{Enabled: true, ReceiveInterval: &metav1.Duration{Duration: 100 * time.Millisecond},
					TransmitInterval: &metav1.Duration{Duration: 200 * time.Millisecond}, DetectMultiplier: ptr(int32(5))}
			}),
			want: &Peer{Name: "tor", Address: netip.MustParseAddr("198.18.1.1"), Port: 179, ASN: 64512, LocalASN: 64513,
				HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second, ConnectRetryTime: 5 * time.Second, MaxReceivedPrefixes: DefaultMaxReceivedPrefixes,
				BFD: BFD{Enabled: true, ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 200 * time.Millisecond, DetectMultiplier: 5}},
		},
		{
			name: "a BFD interval with a fraction of a millisecond is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.BFD = &seamarkv1alpha1.BFD{Enabled: true, TransmitInterval: &metav1.Duration{Duration: 300500 * time.Microsecond}}
			}),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.bfd.transmitInterval", Reason: "Invalid", Class: Invalid,
				Message: "transmitInterval 300.5ms must be whole milliseconds between 10ms and 60s"}},
		},
		{
			name: "a BFD multiplier of 0 is invalid",
			peer: withPeer(base, func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.BFD = &seamarkv1alpha1.BFD{Enabled: true, DetectMultiplier: ptr(int32(0))}
			}),
			problems: Problems{{Kind: "BGPPeer", Name: "tor", Field: "spec.bfd.detectMultiplier", Reason: "Invalid", Class: Invalid,
				Message: "detectMultiplier 0 is not between 1 and 255"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resources{Peers: []seamarkv1alpha1.BGPPeer{tt.peer}}
			for name, data := range tt.secrets {
				res.Secrets = append(res.Secrets, secret(name, data))
			}
			cfg, problems := Build(res)
			if diff := cmp.Diff(tt.problems, problems, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			got := cfg.Peers["tor"]
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Peer{}), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("peer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildBGPAdvertisements(t *testing.T) {
	pools := []seamarkv1alpha1.IPPool{
		withPool(pool("v4", 0, "203.0.113.0/24"), func(p *seamarkv1alpha1.IPPool) { p.Labels = map[string]string{"bgp": "yes"} }),
		withPool(pool("v6", 0, "2001:db8::/64"), func(p *seamarkv1alpha1.IPPool) { p.Labels = map[string]string{"bgp": "yes"} }),
		withPool(pool("range", 0, "198.51.100.10-198.51.100.20"), func(p *seamarkv1alpha1.IPPool) { p.Labels = map[string]string{"bgp": "range"} }),
	}
	peers := []seamarkv1alpha1.BGPPeer{peer("tor-a", 0, "198.18.1.1", 64512, 64513), peer("tor-b", 0, "198.18.1.2", 64512, 64513)}
	tests := []struct {
		name     string
		adv      seamarkv1alpha1.BGPAdvertisement
		want     *BGPAdvertisement
		problems Problems
	}{
		{
			name: "defaults: LoadBalancerIP, /32 and /128, every peer",
			adv:  bgpAdv("a", nil),
			want: &BGPAdvertisement{Name: "a", Addresses: []seamarkv1alpha1.AddressType{"LoadBalancerIP"}, AggregationLength: 32, AggregationLengthV6: 128},
		},
		{
			name: "communities, local preference and aggregation within the pools",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Addresses = []seamarkv1alpha1.AddressType{"LoadBalancerIP", "ClusterIPRange"}
				s.IPPoolSelector = sel(map[string]string{"bgp": "yes"})
				s.Communities = []seamarkv1alpha1.Community{"64512:100", "64512:1:2", "no-export"}
				s.LocalPreference = ptr(int64(200))
				s.AggregationLength = ptr(int32(24))
				s.AggregationLengthV6 = ptr(int32(64))
				s.Peers = []seamarkv1alpha1.ObjectName{"tor-b"}
				s.WithdrawWhenNoEndpoints = true
			}),
			want: &BGPAdvertisement{Name: "a", Addresses: []seamarkv1alpha1.AddressType{"LoadBalancerIP", "ClusterIPRange"}, Peers: []string{"tor-b"},
				Communities:     []Community{{Value: 64512<<16 | 100}, {Large: true, Global: 64512, Local1: 1, Local2: 2}, {Value: 0xFFFFFF01}},
				LocalPreference: ptr(uint32(200)), AggregationLength: 24, AggregationLengthV6: 64, WithdrawWhenNoEndpoints: true},
		},
		{
			name: "an unknown peer is dropped with a transient problem; the others are kept",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Peers = []seamarkv1alpha1.ObjectName{"tor-a", "tor-z"}
			}),
			want: &BGPAdvertisement{Name: "a", Addresses: []seamarkv1alpha1.AddressType{"LoadBalancerIP"}, Peers: []string{"tor-a"}, AggregationLength: 32, AggregationLengthV6: 128},
			problems: Problems{{Kind: "BGPAdvertisement", Name: "a", Field: "spec.peers[1]", Reason: "UnknownPeer", Class: Transient,
				Message: `BGPPeer "tor-z" does not exist or is not valid; nothing is announced to it`}},
		},
		{
			name: "an advertisement whose peers are all unknown announces to nobody, not to everybody",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Peers = []seamarkv1alpha1.ObjectName{"tor-z"}
			}),
			want: &BGPAdvertisement{Name: "a", Addresses: []seamarkv1alpha1.AddressType{"LoadBalancerIP"}, Peers: []string{}, AggregationLength: 32, AggregationLengthV6: 128},
			problems: Problems{{Kind: "BGPAdvertisement", Name: "a", Field: "spec.peers[0]", Reason: "UnknownPeer", Class: Transient,
				Message: `BGPPeer "tor-z" does not exist or is not valid; nothing is announced to it`}},
		},
		{
			name: "an aggregation shorter than a selected pool is invalid",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.AggregationLength = ptr(int32(16))
			}),
			problems: Problems{{Kind: "BGPAdvertisement", Name: "a", Field: "spec.aggregationLength", Reason: "Invalid", Class: Invalid,
				Message: `aggregation length 16 would announce 198.51.0.0/16, which covers addresses outside 198.51.100.10-198.51.100.20 of IPPool "range"; use a length that fits inside the pool's ranges`}},
		},
		{
			name: "an aggregation is checked against the selected pools only",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.IPPoolSelector = sel(map[string]string{"bgp": "yes"})
				s.AggregationLength = ptr(int32(24))
			}),
			want: &BGPAdvertisement{Name: "a", Addresses: []seamarkv1alpha1.AddressType{"LoadBalancerIP"}, AggregationLength: 24, AggregationLengthV6: 128},
		},
		{
			name: "an IPv6 aggregation shorter than a pool is invalid",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.IPPoolSelector = sel(map[string]string{"bgp": "yes"})
				s.AggregationLengthV6 = ptr(int32(48))
			}),
			problems: Problems{{Kind: "BGPAdvertisement", Name: "a", Field: "spec.aggregationLengthV6", Reason: "Invalid", Class: Invalid,
				Message: `aggregation length 48 would announce 2001:db8::/48, which covers addresses outside 2001:db8::/64 of IPPool "v6"; use a length that fits inside the pool's ranges`}},
		},
		{
			name: "a bad community leaves the advertisement out",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Communities = []seamarkv1alpha1.Community{"64512:100", "70000:1"}
			}),
			problems: Problems{{Kind: "BGPAdvertisement", Name: "a", Field: "spec.communities[1]", Reason: "Invalid", Class: Invalid,
				Message: `community "70000:1": each part of a standard community a:b is a number from 0 to 65535`}},
		},
		{
			name: "a bad node selector leaves the advertisement out",
			adv: bgpAdv("a", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.NodeSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}
			}),
			problems: Problems{{Kind: "BGPAdvertisement", Name: "a", Field: "spec.nodeSelector", Reason: "InvalidSelector", Class: Invalid,
				Message: `nodeSelector is not a valid label selector: key: Invalid value: "bad key!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, problems := Build(Resources{Pools: pools, Peers: peers, BGPAdvertisements: []seamarkv1alpha1.BGPAdvertisement{tt.adv}})
			if diff := cmp.Diff(tt.problems, problems, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			var got *BGPAdvertisement
			if len(cfg.BGPAdvertisements) == 1 {
				got = cfg.BGPAdvertisements[0]
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(BGPAdvertisement{})); diff != "" {
				t.Errorf("advertisement (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildL2Advertisements(t *testing.T) {
	good := seamarkv1alpha1.L2Advertisement{ObjectMeta: meta("good", 0, nil), Spec: seamarkv1alpha1.L2AdvertisementSpec{Interfaces: []seamarkv1alpha1.InterfaceName{"eth0", "bond[01]"}}}
	bad := seamarkv1alpha1.L2Advertisement{ObjectMeta: meta("bad", 0, nil), Spec: seamarkv1alpha1.L2AdvertisementSpec{Interfaces: []seamarkv1alpha1.InterfaceName{"bond["}}}
	cfg, problems := Build(Resources{L2Advertisements: []seamarkv1alpha1.L2Advertisement{good, bad}})
	want := Problems{{Kind: "L2Advertisement", Name: "bad", Field: "spec.interfaces[0]", Reason: "Invalid", Class: Invalid,
		Message: `"bond[" is not an interface name or a valid pattern (*, ?, [a-z])`}}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(cfg.L2Advertisements) != 1 || !cmp.Equal(cfg.L2Advertisements[0].Interfaces, []string{"eth0", "bond[01]"}) {
		t.Errorf("L2 advertisements: %+v", cfg.L2Advertisements)
	}
}

func TestBuildL2AdvertisementTimers(t *testing.T) {
	adv := func(name string, refresh *metav1.Duration, withdraw bool) seamarkv1alpha1.L2Advertisement {
		return seamarkv1alpha1.L2Advertisement{ObjectMeta: meta(name, 0, nil),
			Spec: seamarkv1alpha1.L2AdvertisementSpec{RefreshInterval: refresh, WithdrawWhenNoEndpoints: withdraw}}
	}
	cfg, problems := Build(Resources{L2Advertisements: []seamarkv1alpha1.L2Advertisement{
		adv("a-default", nil, false),
		adv("b-off", &metav1.Duration{}, true),
		adv("c-negative", &metav1.Duration{Duration: -time.Second}, false),
	}})
	want := Problems{{Kind: "L2Advertisement", Name: "c-negative", Field: "spec.refreshInterval", Reason: "Invalid", Class: Invalid,
		Message: "refreshInterval -1s must be between 0s and 24h"}}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	type got struct {
		Name     string
		Refresh  time.Duration
		Withdraw bool
	}
	var gotAdvs []got
	for _, a := range cfg.L2Advertisements {
		gotAdvs = append(gotAdvs, got{a.Name, a.Refresh, a.WithdrawWhenNoEndpoints})
	}
	if diff := cmp.Diff([]got{{"a-default", DefaultL2Refresh, false}, {"b-off", 0, true}}, gotAdvs); diff != "" {
		t.Errorf("L2 advertisements (-want +got):\n%s", diff)
	}
}

func TestBuildServiceCIDRs(t *testing.T) {
	cfg, problems := Build(Resources{ServiceCIDRs: []networkingv1.ServiceCIDR{
		serviceCIDR("kubernetes", true, "198.19.0.0/16", "2001:db8:5::/112"),
		serviceCIDR("extra", true, "198.18.128.0/20", "198.19.0.0/16"),
		serviceCIDR("deleting", false, "198.18.64.0/20"),
	}})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.18.128.0/20"), netip.MustParsePrefix("198.19.0.0/16"), netip.MustParsePrefix("2001:db8:5::/112")}
	if diff := cmp.Diff(want, cfg.ServiceCIDRs, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzPoolCIDR: a pool built from any text never panics Build; an accepted
// entry prints back as the text it was written as, and its first address
// belongs to the pool.
func FuzzPoolCIDR(f *testing.F) {
	for _, s := range []string{"203.0.113.0/24", "2001:db8::/64", "198.51.100.10-198.51.100.20", "203.0.113.1/24", "1.2.3.4-1.2.3.3", "::/0", "0.0.0.0/0", "2001:db8::-2001:db8::ffff", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, problems := Build(Resources{Pools: []seamarkv1alpha1.IPPool{pool("p", 0, s)}})
		p, ok := cfg.Pools["p"]
		if ok == (len(problems) > 0) {
			t.Fatalf("%q: pool kept %v with problems %v", s, ok, problems)
		}
		if !ok {
			return
		}
		r := p.Allocator.Ranges[0]
		if r.String() != s {
			t.Fatalf("%q was accepted but prints as %q", s, r.String())
		}
		if got := cfg.PoolOf(r.First); got != p {
			t.Fatalf("%q: PoolOf(%s) = %v", s, r.First, got)
		}
	})
}
