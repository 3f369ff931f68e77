package layer2

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, last} }

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestCandidates(t *testing.T) {
	up := func(name, kind string, m byte, addrs ...string) link {
		return link{Name: name, Index: int(m), Kind: kind, MAC: mac(m), Up: true, Broadcast: true, Addrs: pfx(addrs...)}
	}
	with := func(l link, f func(*link)) link { f(&l); return l }
	links := []link{
		up("eth0", "device", 1, "198.18.1.11/24", "fe80::1/64", "2001:db8:1::11/64"),
		up("bond0", "bond", 2, "198.18.2.11/24"),
		with(up("eth1", "device", 3), func(l *link) { l.MasterKind = "bond" }),
		with(up("eth2", "device", 4), func(l *link) { l.MasterKind = "bridge" }),
		up("vlan100", "vlan", 5),
		with(up("lo", "device", 6, "127.0.0.1/8"), func(l *link) { l.Loopback = true; l.Broadcast = false }),
		with(up("eth3", "device", 7, "198.18.3.11/24"), func(l *link) { l.Up = false }),
		up("cni0", "bridge", 8, "198.18.128.1/24"),
		up("kube-ipvs0", "dummy", 9, "198.51.100.7/32"),
		up("vxlan.calico", "vxlan", 10, "198.18.200.1/32"),
		up("veth1234", "veth", 11),
		up("veth-lab", "veth", 12, "198.18.4.11/24"),
		with(up("tun0", "tuntap", 13), func(l *link) { l.MAC = nil }),
	}
	want := []Interface{
		{Name: "bond0", Index: 2, MAC: mac(2), Prefixes: pfx("198.18.2.11/24")},
		{Name: "eth0", Index: 1, MAC: mac(1), Prefixes: pfx("198.18.1.11/24", "2001:db8:1::11/64"), LinkLocal: netip.MustParseAddr("fe80::1")},
		{Name: "veth-lab", Index: 12, MAC: mac(12), Prefixes: pfx("198.18.4.11/24")},
		{Name: "vlan100", Index: 5, MAC: mac(5)},
	}
	if diff := cmp.Diff(want, candidates(links), cmpNetip); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
}

func TestSelect(t *testing.T) {
	ifaces := []Interface{
		{Name: "bond0", Prefixes: pfx("198.18.2.11/24")},
		{Name: "eth0", Prefixes: pfx("198.18.1.11/24", "2001:db8:1::11/64")},
		{Name: "vlan100"},
		{Name: "vlan200"},
	}
	a := netip.MustParseAddr
	tests := []struct {
		name     string
		addr     netip.Addr
		patterns []string
		want     []string
	}{
		{"without patterns, the interface whose subnet contains the address", a("198.18.1.50"), nil, []string{"eth0"}},
		{"the subnet's broadcast address counts", a("198.18.2.255"), nil, []string{"bond0"}},
		{"IPv6 by its subnet", a("2001:db8:1::50"), nil, []string{"eth0"}},
		{"an address outside every subnet has no interface", a("203.0.113.10"), nil, nil},
		{"a glob picks interfaces without addresses", a("203.0.113.10"), []string{"vlan*"}, []string{"vlan100", "vlan200"}},
		{"explicit names ignore the subnets", a("198.18.1.50"), []string{"bond0", "vlan200"}, []string{"bond0", "vlan200"}},
		{"a pattern that matches nothing leaves no interface", a("198.18.1.50"), []string{"eno*"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, i := range Select(ifaces, tt.addr, tt.patterns) {
				got = append(got, i.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Select(%s, %v) (-want +got):\n%s", tt.addr, tt.patterns, diff)
			}
		})
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{Ready: true, Instance: 0x0102030405060708, Interfaces: []Interface{
		{Name: "eth0", MAC: mac(1), Prefixes: pfx("198.18.1.11/24", "2001:db8:1::11/64")},
		{Name: "vlan100", MAC: mac(5)},
	}}
	b, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	// Index and LinkLocal are local facts and not sent.
	if diff := cmp.Diff(m, got, cmpNetip); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	var many Meta
	for i := range 40 {
		many.Interfaces = append(many.Interfaces, Interface{Name: "interface-name" + string(rune('a'+i%26)), MAC: mac(byte(i)), Prefixes: pfx("198.18.1.11/24")})
	}
	b, err = many.encode()
	if !errors.Is(err, errMetaTooLarge) || len(b) > MetaMaxSize {
		t.Fatalf("40 interfaces: %d bytes, error %v; want at most %d bytes and errMetaTooLarge", len(b), err, MetaMaxSize)
	}
	if got, err := decodeMeta(b); err != nil || len(got.Interfaces) == 0 || len(got.Interfaces) == 40 {
		t.Errorf("the truncated form decodes to %d interfaces, %v", len(got.Interfaces), err)
	}
}

// FuzzDecodeMeta: metadata from the network never panics the decoder, and
// what decodes encodes back to the same bytes.
func FuzzDecodeMeta(f *testing.F) {
	seed, _ := Meta{Ready: true, Interfaces: []Interface{{Name: "eth0", MAC: mac(1), Prefixes: pfx("198.18.1.11/24", "2001:db8:1::11/64")}}}.encode()
	f.Add(seed)
	f.Add([]byte{metaVersion, 0, 0})
	f.Add([]byte{metaVersion, 1, 1, 3, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		again, err := m.encode()
		if err != nil {
			return // more than fits: possible for hand-made input
		}
		// Flags other than ready and non-canonical prefix bits are not
		// kept; compare what survives.
		m2, err := decodeMeta(again)
		if err != nil {
			t.Fatalf("re-encoded %+v does not decode: %v", m, err)
		}
		if diff := cmp.Diff(m, m2, cmpNetip); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func TestElectLocal(t *testing.T) {
	self := []Interface{{Name: "eth0", MAC: mac(1), Prefixes: pfx("198.18.1.11/24")}}
	peer := func(name string, ready bool) member {
		return member{name: name, meta: Meta{Ready: ready, Interfaces: []Interface{{Name: "eth0", MAC: mac(2), Prefixes: pfx("198.18.1.12/24")}}}}
	}
	noIface := func(name string) member {
		return member{name: name, meta: Meta{Ready: true, Interfaces: []Interface{{Name: "eth0", Prefixes: pfx("203.0.113.1/24")}}}}
	}
	vip := netip.MustParseAddr("198.18.1.50")
	// Scores for 198.18.1.50: which of sm1..sm3 wins decides the rows.
	winner := Elect(vip, []string{"sm1", "sm2", "sm3"})
	addr := func(nodes ...string) []Address {
		return []Address{{Addr: vip, Key: vip, Rules: []Rule{{Nodes: nodes, Refresh: time.Minute}}}}
	}
	tests := []struct {
		name   string
		self   string
		others []member
		addrs  []Address
		want   bool
	}{
		{"alone and eligible: owns it", "sm1", nil, addr("sm1"), true},
		{"not in the rule's nodes: does not own it", "sm1", nil, addr("sm2"), false},
		{"the election among ready peers decides", winner, []member{peer(other(winner, 0), true), peer(other(winner, 1), true)}, addr("sm1", "sm2", "sm3"), true},
		{"a better peer that is not ready does not count", other(winner, 0), []member{peer(winner, false)}, addr("sm1", "sm2", "sm3"), true},
		{"a better peer without an interface for the address does not count", other(winner, 0), []member{noIface(winner)}, addr("sm1", "sm2", "sm3"), true},
		{"a better ready peer wins", other(winner, 0), []member{peer(winner, true)}, addr("sm1", "sm2", "sm3"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := elect(tt.self, self, tt.others, tt.addrs)
			if _, owns := got[vip]; owns != tt.want {
				t.Errorf("%s owns %s: %v, want %v (winner of all three: %s)", tt.self, vip, owns, tt.want, winner)
			}
		})
	}
}

// other returns the i-th of sm1..sm3 that is not n.
func other(n string, i int) string {
	var out []string
	for _, c := range []string{"sm1", "sm2", "sm3"} {
		if c != n {
			out = append(out, c)
		}
	}
	return out[i]
}

func TestElectReportsMissingInterfaces(t *testing.T) {
	self := []Interface{{Name: "eth0", MAC: mac(1), Prefixes: pfx("198.18.1.11/24")}}
	a := netip.MustParseAddr
	addrs := []Address{
		{Addr: a("198.18.1.50"), Key: a("198.18.1.50"), Rules: []Rule{{Nodes: []string{"sm1"}}}},
		{Addr: a("203.0.113.7"), Key: a("203.0.113.7"), Rules: []Rule{{Nodes: []string{"sm1"}}}},
		{Addr: a("198.18.1.51"), Key: a("198.18.1.51"), Rules: []Rule{{Nodes: []string{"sm1"}, Interfaces: []string{"eno*"}}}},
		{Addr: a("198.18.1.52"), Key: a("198.18.1.52"), Rules: []Rule{{Nodes: []string{"sm2"}}}},
	}
	owned, missing := elect("sm1", self, nil, addrs)
	if _, ok := owned[a("198.18.1.50")]; !ok || len(owned) != 1 {
		t.Errorf("owned %v, want only 198.18.1.50", owned)
	}
	if diff := cmp.Diff([]netip.Addr{a("203.0.113.7"), a("198.18.1.51")}, missing, cmpNetip); diff != "" {
		t.Errorf("addresses without an interface (-want +got):\n%s", diff)
	}
}
