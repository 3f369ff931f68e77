package allocator

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewPool(t *testing.T) {
	tests := []struct {
		name    string
		pool    string
		cidrs   []string
		wantErr string
	}{
		{name: "ranges of both families in the order given", pool: "a", cidrs: []string{"2001:db8::/120", "203.0.113.0/24", "198.51.100.1-198.51.100.9"}},
		{name: "empty name", pool: "", cidrs: []string{"203.0.113.0/24"}, wantErr: "empty name"},
		{name: "no ranges", pool: "a", wantErr: `creating pool "a": no ranges`},
		{name: "a bad range names the pool", pool: "a", cidrs: []string{"203.0.113.1/24"}, wantErr: `creating pool "a": 203.0.113.1/24 has host bits set`},
		{name: "overlapping ranges", pool: "a", cidrs: []string{"203.0.113.0/24", "198.51.100.0/24", "203.0.113.10-203.0.113.20"},
			wantErr: `creating pool "a": range 203.0.113.0/24 overlaps 203.0.113.10-203.0.113.20`},
		{name: "the same range twice", pool: "a", cidrs: []string{"2001:db8::/64", "2001:db8::/64"}, wantErr: "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPool(tt.pool, tt.cidrs, true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewPool error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range p.Ranges {
				got = append(got, r.String())
			}
			if diff := cmp.Diff(tt.cidrs, got); diff != "" || p.Name != tt.pool || !p.AllowFirstLast {
				t.Errorf("NewPool = %+v (-want +got ranges):\n%s", p, diff)
			}
		})
	}
}

func TestPoolContainsAppliesReservedRules(t *testing.T) {
	pool := func(allow bool, cidrs ...string) Pool {
		t.Helper()
		p, err := NewPool("p", cidrs, allow)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		pool Pool
		addr string
		want bool
	}{
		{"the network address of a /24 is reserved", pool(false, "203.0.113.0/24"), "203.0.113.0", false},
		{"the broadcast address of a /24 is reserved", pool(false, "203.0.113.0/24"), "203.0.113.255", false},
		{"the first host of a /24 is usable", pool(false, "203.0.113.0/24"), "203.0.113.1", true},
		{"the last host of a /24 is usable", pool(false, "203.0.113.0/24"), "203.0.113.254", true},
		{"allowFirstLast makes the network address usable", pool(true, "203.0.113.0/24"), "203.0.113.0", true},
		{"allowFirstLast makes the broadcast address usable", pool(true, "203.0.113.0/24"), "203.0.113.255", true},
		{"a /30 reserves its ends", pool(false, "203.0.113.4/30"), "203.0.113.7", false},
		{"a /31 keeps its first address", pool(false, "203.0.113.4/31"), "203.0.113.4", true},
		{"a /31 keeps its second address", pool(false, "203.0.113.4/31"), "203.0.113.5", true},
		{"a /32 keeps its address", pool(false, "203.0.113.4/32"), "203.0.113.4", true},
		{"an a-b range is literal at its start", pool(false, "203.0.113.0-203.0.113.255"), "203.0.113.0", true},
		{"an a-b range is literal at its end", pool(false, "203.0.113.0-203.0.113.255"), "203.0.113.255", true},
		{"an IPv6 /64 reserves its first address", pool(false, "2001:db8::/64"), "2001:db8::", false},
		{"an IPv6 /64 keeps its last address", pool(false, "2001:db8::/64"), "2001:db8::ffff:ffff:ffff:ffff", true},
		{"an IPv6 /126 reserves its first address", pool(false, "2001:db8::/126"), "2001:db8::", false},
		{"an IPv6 /127 keeps its first address", pool(false, "2001:db8::/127"), "2001:db8::", true},
		{"an IPv6 /128 keeps its address", pool(false, "2001:db8::1/128"), "2001:db8::1", true},
		{"allowFirstLast makes the IPv6 first address usable", pool(true, "2001:db8::/64"), "2001:db8::", true},
		{"an IPv6 a-b range is literal", pool(false, "2001:db8::-2001:db8::ff"), "2001:db8::", true},
		{"an address outside", pool(false, "203.0.113.0/24"), "198.51.100.1", false},
		{"the mapped form of an inside address", pool(false, "203.0.113.0/24"), "::ffff:203.0.113.1", false},
		{"a zoned address", pool(false, "2001:db8::/64"), "2001:db8::1%eth0", false},
		{"the second range of a pool", pool(false, "203.0.113.0/24", "2001:db8::/64"), "2001:db8::1", true},
		{"an IPv4 /0 reserves 0.0.0.0", pool(false, "0.0.0.0/0"), "0.0.0.0", false},
		{"an IPv4 /0 keeps 1.2.3.4", pool(false, "0.0.0.0/0"), "1.2.3.4", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pool.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("%v.Contains(%s) = %v, want %v", tt.pool.Ranges, tt.addr, got, tt.want)
			}
		})
	}
	if (Pool{Ranges: []Range{MustParseRange("203.0.113.0/24")}}).Contains(netip.Addr{}) {
		t.Error("the zero Addr is contained")
	}
}

func TestSpanSetOperations(t *testing.T) {
	s := func(a, b uint64) span { return span{u128{0, a}, u128{0, b}} }
	tests := []struct {
		name string
		got  []span
		want []span
	}{
		{"merge joins overlapping and adjacent spans", mergeSpans([]span{s(1, 3), s(2, 5), s(6, 6), s(8, 9)}), []span{s(1, 6), s(8, 9)}},
		{"merge keeps a contained span's outer bounds", mergeSpans([]span{s(1, 9), s(2, 3)}), []span{s(1, 9)}},
		{"subtract cuts holes and ends", subtractSpans([]span{s(1, 10), s(20, 30)}, []span{s(0, 1), s(4, 5), s(9, 21), s(30, 40)}),
			[]span{s(2, 3), s(6, 8), s(22, 29)}},
		{"subtract of nothing", subtractSpans([]span{s(1, 10)}, nil), []span{s(1, 10)}},
		{"subtract of everything", subtractSpans([]span{s(1, 10)}, []span{s(0, 11)}), nil},
		{"union merges", unionSpans([]span{s(1, 2), s(10, 12)}, []span{s(3, 4)}), []span{s(1, 4), s(10, 12)}},
		{"merge at the top of the address space", mergeSpans([]span{{u128{1, 0}, maxU128}, {maxU128, maxU128}}), []span{{u128{1, 0}, maxU128}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got, cmp.AllowUnexported(span{}, u128{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
