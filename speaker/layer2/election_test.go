package layer2

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestElect(t *testing.T) {
	v4 := netip.MustParseAddr("198.51.100.10")
	tests := []struct {
		name       string
		key        netip.Addr
		candidates []string
		want       string
	}{
		{"no candidate has no owner", v4, nil, ""},
		{"a single candidate wins", v4, []string{"node-a"}, "node-a"},
		// Pinned values: the score is part of the contract between speakers
		// of different versions, so it must never change.
		// (sha256sum: node-a 17cc…, node-b 530f…, node-c 9257…; n1 4cf8…,
		// n2 a43b…, n3 fa3f…)
		{"lowest sha256 of node#address wins", v4, []string{"node-b", "node-c", "node-a"}, "node-a"},
		{"order does not matter", v4, []string{"node-c", "node-b"}, "node-b"},
		{"duplicates count once", v4, []string{"node-c", "node-c", "node-b"}, "node-b"},
		{"IPv6 keys use the canonical text form", netip.MustParseAddr("2001:0db8::0010"), []string{"n3", "n2", "n1"}, "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Elect(tt.key, tt.candidates); got != tt.want {
				t.Errorf("Elect(%s, %v) = %q, want %q", tt.key, tt.candidates, got, tt.want)
			}
		})
	}
}

// pinned is the naive reference: sort by the hex of the hash.
func pinned(key netip.Addr, nodes ...string) string {
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b string) int {
		sa, sb := Score(a, key), Score(b, key)
		return slices.Compare(sa[:], sb[:])
	})
	return nodes[0]
}

func TestScoreIsSHA256OfNodeHashAddress(t *testing.T) {
	// printf 'node-a#198.51.100.10' | sha256sum
	got := fmt.Sprintf("%x", Score("node-a", netip.MustParseAddr("198.51.100.10")))
	if want := "17cc5af78a8b2b3bdc4699970fa1ee457e9f3f4322f2c811d85220dd944bf72e"; got != want {
		t.Errorf("Score = %s, want %s", got, want)
	}
}

func TestElectionKey(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name  string
		addrs []netip.Addr
		want  netip.Addr
	}{
		{"no address has no key", nil, netip.Addr{}},
		{"a single-stack address is its own key", []netip.Addr{a("2001:db8::5")}, a("2001:db8::5")},
		{"dual-stack keys on the IPv4 address", []netip.Addr{a("2001:db8::5"), a("198.51.100.7")}, a("198.51.100.7")},
		{"the lowest IPv4 address wins", []netip.Addr{a("198.51.100.9"), a("2001:db8::1"), a("198.51.100.7")}, a("198.51.100.7")},
		{"without IPv4 the lowest IPv6 address", []netip.Addr{a("2001:db8::9"), a("2001:db8::5")}, a("2001:db8::5")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ElectionKey(tt.addrs), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Errorf("ElectionKey(%v) (-want +got):\n%s", tt.addrs, diff)
			}
		})
	}
}

func TestElectionSpreads(t *testing.T) {
	// 300 addresses over 3 nodes: each gets a fair share (±40%), which
	// is what "no node holds more than 8 of 12" means at scale.
	nodes := []string{"sm1", "sm2", "sm3"}
	count := map[string]int{}
	base := netip.MustParseAddr("198.51.100.0")
	for i := range 300 {
		key := addN(base, i)
		count[Elect(key, nodes)]++
	}
	for _, n := range nodes {
		if count[n] < 60 || count[n] > 140 {
			t.Errorf("node %s owns %d of 300 addresses, want about 100: %v", n, count[n], count)
		}
	}
}

func addN(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

// FuzzElect checks the properties failover relies on, against the naive
// reference (sort by score): the same answer whatever the order; removing
// a node that does not own the key never moves it; removing the owner
// moves it to the runner-up; adding a node moves it only to that node.
func FuzzElect(f *testing.F) {
	f.Add([]byte{198, 51, 100, 10}, "sm1,sm2,sm3", "sm4")
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}, "a,b", "c")
	f.Add([]byte{203, 0, 113, 1}, "", "x")
	f.Fuzz(func(t *testing.T, raw []byte, list, extra string) {
		key, ok := netip.AddrFromSlice(raw)
		if !ok {
			return
		}
		var nodes []string
		for _, n := range splitComma(list) {
			if n != "" && !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			if got := Elect(key, nodes); got != "" {
				t.Fatalf("Elect with no candidates = %q", got)
			}
			return
		}
		owner := Elect(key, nodes)
		if want := pinned(key, nodes...); owner != want {
			t.Fatalf("Elect(%s, %v) = %q, reference %q", key, nodes, owner, want)
		}
		rev := slices.Clone(nodes)
		slices.Reverse(rev)
		if got := Elect(key, rev); got != owner {
			t.Fatalf("Elect depends on order: %v → %q, %v → %q", nodes, owner, rev, got)
		}
		for i, n := range nodes {
			rest := slices.Delete(slices.Clone(nodes), i, i+1)
			got := Elect(key, rest)
			switch {
			case n != owner && got != owner:
				t.Fatalf("removing non-owner %q moved %s from %q to %q", n, key, owner, got)
			case n == owner && len(rest) > 0 && got != pinned(key, rest...):
				t.Fatalf("removing owner %q moved %s to %q, not the runner-up", n, key, got)
			}
		}
		if extra != "" && !slices.Contains(nodes, extra) {
			got := Elect(key, append(slices.Clone(nodes), extra))
			if got != owner && got != extra {
				t.Fatalf("adding %q moved %s from %q to %q", extra, key, owner, got)
			}
		}
	})
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
