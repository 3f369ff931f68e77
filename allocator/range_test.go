package allocator

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		first   string
		last    string
		cidr    bool
		wantErr string
	}{
		{name: "an IPv4 CIDR", in: "203.0.113.0/24", first: "203.0.113.0", last: "203.0.113.255", cidr: true},
		{name: "an IPv6 CIDR", in: "2001:db8:1::/112", first: "2001:db8:1::", last: "2001:db8:1::ffff", cidr: true},
		{name: "a /32", in: "203.0.113.7/32", first: "203.0.113.7", last: "203.0.113.7", cidr: true},
		{name: "a /128", in: "2001:db8::7/128", first: "2001:db8::7", last: "2001:db8::7", cidr: true},
		{name: "a /0", in: "::/0", first: "::", last: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", cidr: true},
		{name: "an IPv6 /63 crosses the 64-bit boundary", in: "2001:db8::/63", first: "2001:db8::", last: "2001:db8:0:1:ffff:ffff:ffff:ffff", cidr: true},
		{name: "an IPv4 range", in: "203.0.113.10-203.0.113.20", first: "203.0.113.10", last: "203.0.113.20"},
		{name: "an IPv6 range", in: "2001:db8::10-2001:db8::1:0", first: "2001:db8::10", last: "2001:db8::1:0"},
		{name: "a one-address range", in: "203.0.113.5-203.0.113.5", first: "203.0.113.5", last: "203.0.113.5"},

		{name: "host bits set", in: "203.0.113.1/24", wantErr: "203.0.113.1/24 has host bits set; use 203.0.113.0/24"},
		{name: "IPv6 host bits set", in: "2001:db8::1/64", wantErr: "2001:db8::1/64 has host bits set; use 2001:db8::/64"},
		{name: "upper-case IPv6", in: "2001:DB8::/32", wantErr: "2001:DB8::/32 is not in canonical form; use 2001:db8::/32"},
		{name: "uncompressed IPv6", in: "2001:db8:0:0::/64", wantErr: "2001:db8:0:0::/64 is not in canonical form; use 2001:db8::/64"},
		{name: "prefix too long", in: "203.0.113.0/33", wantErr: `"203.0.113.0/33" is not a valid CIDR`},
		{name: "IPv4-mapped CIDR", in: "::ffff:203.0.113.0/120", wantErr: "::ffff:203.0.113.0/120 is an IPv4-mapped IPv6 CIDR; use 203.0.113.0/24"},
		{name: "short IPv4-mapped CIDR", in: "::ffff:0.0.0.0/90", wantErr: "use an IPv4 CIDR"},
		{name: "a CIDR that ends in the IPv4-mapped block", in: "::/80", wantErr: "::/80 ends at ::ffff:255.255.255.255, an IPv4-mapped IPv6 address"},
		{name: "a longer CIDR that ends in the IPv4-mapped block", in: "::ff00:0:0/88", wantErr: "::ff00:0:0/88 ends at ::ffff:255.255.255.255"},
		{name: "zone in a CIDR", in: "fe80::%eth0/64", wantErr: "is not a valid CIDR"},
		{name: "reversed range", in: "203.0.113.20-203.0.113.10", wantErr: "203.0.113.20-203.0.113.10 starts after it ends; use 203.0.113.10-203.0.113.20"},
		{name: "mixed families", in: "203.0.113.1-2001:db8::1", wantErr: "203.0.113.1-2001:db8::1 mixes IPv4 and IPv6"},
		{name: "spaces around the dash", in: "203.0.113.1 - 203.0.113.9", wantErr: "is not in canonical form; use 203.0.113.1-203.0.113.9"},
		{name: "non-canonical IPv6 end", in: "2001:db8::1-2001:DB8::2", wantErr: "use 2001:db8::1-2001:db8::2"},
		{name: "zone in a range", in: "fe80::1%eth0-fe80::2", wantErr: "fe80::1%eth0 has a zone"},
		{name: "IPv4-mapped range", in: "::ffff:203.0.113.1-::ffff:203.0.113.2", wantErr: "::ffff:203.0.113.1 is an IPv4-mapped IPv6 address; use 203.0.113.1"},
		{name: "garbage end", in: "203.0.113.1-x", wantErr: `"x" in "203.0.113.1-x" is not an IP address`},
		{name: "a single address", in: "203.0.113.5", wantErr: "203.0.113.5 is a single address; use 203.0.113.5/32"},
		{name: "a single IPv6 address", in: "2001:db8::5", wantErr: "use 2001:db8::5/128"},
		{name: "garbage", in: "pool", wantErr: `"pool" is neither a CIDR nor a range`},
		{name: "empty", in: "", wantErr: "empty range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRange(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseRange(%q) = %v, want error containing %q", tt.in, r, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidRange) {
					t.Errorf("error %q does not wrap ErrInvalidRange", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRange(%q): %v", tt.in, err)
			}
			got := struct {
				First, Last string
				CIDR        bool
				Text        string
			}{r.First.String(), r.Last.String(), false, r.String()}
			_, got.CIDR = r.Prefix()
			want := struct {
				First, Last string
				CIDR        bool
				Text        string
			}{tt.first, tt.last, tt.cidr, tt.in}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseRange(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestRangeMethods(t *testing.T) {
	r24 := MustParseRange("203.0.113.0/24")
	ab := MustParseRange("203.0.113.250-203.0.114.5")
	v6 := MustParseRange("2001:db8::/64")
	huge := MustParseRange("2001:db8::/48")
	addr := netip.MustParseAddr

	checks := []struct {
		name string
		got  any
		want any
	}{
		{"a /24 has 256 addresses", r24.Size(), uint64(256)},
		{"an a-b range counts both ends", ab.Size(), uint64(12)},
		{"a /64 has 2^64 addresses, saturated", v6.Size(), uint64(math.MaxUint64)},
		{"a /48 saturates", huge.Size(), uint64(math.MaxUint64)},
		{"a /65 does not saturate", MustParseRange("2001:db8::/65").Size(), uint64(1) << 63},
		{"the zero range is empty", Range{}.Size(), uint64(0)},
		{"the zero range is invalid", Range{}.IsValid(), false},
		{"the zero range prints as invalid", Range{}.String(), "invalid range"},
		{"a reversed literal is invalid", Range{First: addr("203.0.113.9"), Last: addr("203.0.113.1")}.IsValid(), false},
		{"a literal is an a-b range", Range{First: addr("203.0.113.0"), Last: addr("203.0.113.255")}.String(), "203.0.113.0-203.0.113.255"},
		{"family of a v4 range", r24.Family(), IPv4},
		{"family of a v6 range", v6.Family(), IPv6},
		{"family of the zero range", Range{}.Family(), Family(0)},
		{"contains its first address", r24.Contains(addr("203.0.113.0")), true},
		{"contains its last address", r24.Contains(addr("203.0.113.255")), true},
		{"does not contain the next address", r24.Contains(addr("203.0.114.0")), false},
		{"does not contain the mapped form", r24.Contains(addr("::ffff:203.0.113.1")), false},
		{"does not contain an IPv6 address", r24.Contains(addr("2001:db8::1")), false},
		{"does not contain a zoned address", v6.Contains(addr("2001:db8::1%eth0")), false},
		{"overlapping ranges overlap", r24.Overlaps(ab), true},
		{"overlap is symmetric", ab.Overlaps(r24), true},
		{"touching ranges do not overlap", r24.Overlaps(MustParseRange("203.0.114.0/24")), false},
		{"families never overlap", r24.Overlaps(v6), false},
		{"a CIDR and the a-b range of its network address overlap", r24.Overlaps(MustParseRange("203.0.113.0-203.0.113.0")), true},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestFamily(t *testing.T) {
	got := []string{IPv4.String(), IPv6.String(), Family(0).String(),
		FamilyOf(netip.MustParseAddr("203.0.113.1")).String(), FamilyOf(netip.MustParseAddr("2001:db8::1")).String(),
		FamilyOf(netip.Addr{}).String()}
	want := []string{"IPv4", "IPv6", "Family(0)", "IPv4", "IPv6", "Family(0)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"203.0.113.0/24", "2001:db8:1::/112", "203.0.113.10-203.0.113.20", "::/0", "0.0.0.0/0",
		"203.0.113.1/24", "2001:db8::1-2001:db8::", "::ffff:1.2.3.4-::ffff:1.2.3.5", "fe80::1%eth0-fe80::2",
		"1.2.3.4", "-", "1.2.3.4-", "/", "2001:db8::/63", "255.255.255.255/32",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRange(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("ParseRange(%q) error %q does not wrap ErrInvalidRange", s, err)
			}
			return
		}
		if !r.IsValid() {
			t.Fatalf("ParseRange(%q) = invalid %#v", s, r)
		}
		if got := r.String(); got != s {
			t.Fatalf("ParseRange(%q).String() = %q, want the input back", s, got)
		}
		again, err := ParseRange(r.String())
		if err != nil || again != r {
			t.Fatalf("reparsing %q: %v, %#v != %#v", s, err, again, r)
		}
		if !r.Contains(r.First) || !r.Contains(r.Last) || r.Size() == 0 || !r.Overlaps(r) {
			t.Fatalf("%q does not contain its ends or is empty", s)
		}
		if p, ok := r.Prefix(); ok {
			if p.Masked() != p || rangeOfPrefix(p) != r {
				t.Fatalf("%q: prefix %v does not span the range", s, p)
			}
		}
	})
}
