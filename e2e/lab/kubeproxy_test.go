package lab

import (
	"net/netip"
	"testing"
)

func TestUntranslated(t *testing.T) {
	table := `ipv4     2 tcp      6 119 SYN_SENT src=198.18.2.2 dst=198.51.100.1 sport=53172 dport=80 [UNREPLIED] src=198.51.100.1 dst=198.18.2.2 sport=80 dport=53172 mark=0 zone=0 use=2
ipv4     2 tcp      6 117 TIME_WAIT src=198.18.2.2 dst=198.51.100.1 sport=53180 dport=80 src=198.18.64.3 dst=198.18.1.12 sport=8080 dport=20144 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 110 SYN_SENT src=198.18.2.2 dst=198.51.100.2 sport=53190 dport=80 [UNREPLIED] src=198.51.100.2 dst=198.18.2.2 sport=80 dport=53190 mark=0 zone=0 use=2
ipv6     10 tcp      6 110 SYN_SENT src=2001:db8:2::2 dst=2001:db8:100::1 sport=53190 dport=80 [UNREPLIED] src=2001:db8:100::1 dst=2001:db8:2::2 sport=80 dport=53190 mark=0 zone=0 use=2
garbage src=198.51.100.1
`
	for addr, want := range map[string]int{"198.51.100.1": 1, "198.51.100.2": 1, "2001:db8:100::1": 1, "198.51.100.3": 0} {
		if got := untranslated(table, netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: got %d, want %d", addr, got, want)
		}
	}
}

func TestRulesHave(t *testing.T) {
	nft := `table ip kube-proxy {
	map service-ips {
		elements = { 198.51.100.15 . tcp . 80 : goto external-4SW47YFZ-e2e-hostile/web/tcp/http }
	}
	map no-endpoint-services {
		elements = { 198.51.100.20 . tcp . 80 comment "e2e-bad/none:http" : goto reject-chain }
	}
}
table ip6 kube-proxy {
	map service-ips {
		elements = { 2001:db8:100::11 . tcp . 80 : goto external-XYZ }
	}
}`
	ipt := `-A KUBE-SERVICES -d 198.51.100.15/32 -p tcp -m comment --comment "e2e-hostile/web:http loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-ABC
-A KUBE-SERVICES -d 2001:db8:100::11/128 -p tcp -m tcp --dport 80 -j KUBE-EXT-DEF`
	for _, tc := range []struct {
		mode, rules, addr string
		want              bool
	}{
		{"nftables", nft, "198.51.100.15", true},
		{"nftables", nft, "198.51.100.20", true}, // no endpoints: rejected, not looped
		{"nftables", nft, "198.51.100.1", false},
		{"nftables", nft, "2001:db8:100::11", true},
		{"nftables", nft, "2001:db8:100::1", false},
		{"iptables", ipt, "198.51.100.15", true},
		{"iptables", ipt, "198.51.100.1", false},
		{"iptables", ipt, "2001:db8:100::11", true},
		{"iptables", ipt, "2001:db8:100::1", false},
		{"iptables", nft, "198.51.100.15", false},
	} {
		if got := rulesHave(tc.mode, tc.rules, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("%s %s: got %v, want %v", tc.mode, tc.addr, got, tc.want)
		}
	}
}
