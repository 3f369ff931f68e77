package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidRange is wrapped by every error of ParseRange, so that callers
// can tell a user's typo from anything else.
var ErrInvalidRange = errors.New("invalid range")

// Range is an inclusive range of addresses of one family, written either as
// a CIDR ("203.0.113.0/24", "2001:db8:1::/112") or as an explicit range
// ("203.0.113.10-203.0.113.20").
//
// A Range remembers which of the two it was parsed from, because the
// reserved-address rules of Pool apply to CIDRs only and because String must
// give back the text the user wrote. A Range built as a literal
// (Range{First: a, Last: b}) is an explicit range.
//
// Range is a comparable value type; the zero Range is invalid.
type Range struct {
	First, Last netip.Addr

	// bits is the prefix length plus one for a CIDR, 0 for an a-b range.
	bits int16
}

type rangeError struct{ msg string }

func (e *rangeError) Error() string { return e.msg }
func (e *rangeError) Unwrap() error { return ErrInvalidRange }

func invalidRange(format string, args ...any) error {
	return &rangeError{fmt.Sprintf(format, args...)}
}

// ParseRange parses a CIDR or an a-b range in canonical form: a CIDR without
// host bits, addresses as netip prints them, no zones, no IPv4-mapped IPv6
// addresses, both ends of the same family and the first not after the last.
// Errors wrap ErrInvalidRange and say how to fix the text.
func ParseRange(s string) (Range, error) {
	const want = "use a CIDR such as 203.0.113.0/24 or a range such as 203.0.113.10-203.0.113.20"
	if s == "" {
		return Range{}, invalidRange("empty range; %s", want)
	}
	if strings.Contains(s, "/") {
		return parseCIDR(s)
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" && !a.Is4In6() {
			return Range{}, invalidRange("%s is a single address; use %s/%d", s, s, a.BitLen())
		}
		return Range{}, invalidRange("%q is neither a CIDR nor a range; %s", s, want)
	}
	first, err := parseEnd(s, strings.TrimSpace(from))
	if err != nil {
		return Range{}, err
	}
	last, err := parseEnd(s, strings.TrimSpace(to))
	if err != nil {
		return Range{}, err
	}
	if first.Is4() != last.Is4() {
		return Range{}, invalidRange("%s mixes IPv4 and IPv6; use one family per range", s)
	}
	if last.Less(first) {
		return Range{}, invalidRange("%s starts after it ends; use %s-%s", s, last, first)
	}
	r := Range{First: first, Last: last}
	if c := r.String(); c != s {
		return Range{}, invalidRange("%s is not in canonical form; use %s", s, c)
	}
	return r, nil
}

func parseEnd(s, a string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(a)
	switch {
	case err != nil:
		return netip.Addr{}, invalidRange("%q in %q is not an IP address", a, s)
	case addr.Zone() != "":
		return netip.Addr{}, invalidRange("%s has a zone; zones are not allowed in a range", a)
	case addr.Is4In6():
		return netip.Addr{}, invalidRange("%s is an IPv4-mapped IPv6 address; use %s", a, addr.Unmap())
	}
	return addr, nil
}

func parseCIDR(s string) (Range, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return Range{}, invalidRange("%q is not a valid CIDR: %v", s, err)
	}
	if p.Addr().Is4In6() {
		if p.Bits() >= 96 {
			return Range{}, invalidRange("%s is an IPv4-mapped IPv6 CIDR; use %s",
				s, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked())
		}
		return Range{}, invalidRange("%s is an IPv4-mapped IPv6 CIDR; use an IPv4 CIDR", s)
	}
	if m := p.Masked(); m != p {
		return Range{}, invalidRange("%s has host bits set; use %s", s, m)
	}
	if c := p.String(); c != s {
		return Range{}, invalidRange("%s is not in canonical form; use %s", s, c)
	}
	r := rangeOfPrefix(p)
	if !r.IsValid() {
		// A CIDR below the IPv4-mapped block that runs into it (::/80,
		// ::ff00:0:0/88): no range may end on an IPv4-mapped address
		// (parseEnd, IsValid). The fuzz target found ::/80.
		return Range{}, invalidRange("%s ends at %s, an IPv4-mapped IPv6 address; use a range that ends before ::ffff:0:0", s, netip.AddrFrom16(r.Last.As16()))
	}
	return r, nil
}

// rangeOfPrefix returns the range of a masked prefix.
func rangeOfPrefix(p netip.Prefix) Range {
	first := keyOf(p.Addr())
	host := 128 - p.Bits()
	if p.Addr().Is4() {
		host = 32 - p.Bits()
	}
	last := first
	switch {
	case host >= 64:
		last.lo = ^uint64(0)
		last.hi |= ^uint64(0) >> (128 - host)
	case host > 0:
		last.lo |= ^uint64(0) >> (64 - host)
	}
	return Range{First: p.Addr(), Last: last.addr(), bits: int16(p.Bits()) + 1}
}

// MustParseRange is ParseRange for tests and constants: it panics on error.
func MustParseRange(s string) Range {
	r, err := ParseRange(s)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns the canonical text: the CIDR or "first-last" the range was
// parsed from, so that ParseRange(r.String()) == r.
func (r Range) String() string {
	if !r.IsValid() {
		return "invalid range"
	}
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// IsValid reports whether r holds two addresses of one family, without
// zones or IPv4-mapped IPv6 addresses, the first not after the last.
func (r Range) IsValid() bool {
	ok := func(a netip.Addr) bool { return a.IsValid() && a.Zone() == "" && !a.Is4In6() }
	return ok(r.First) && ok(r.Last) && r.First.Is4() == r.Last.Is4() && !r.Last.Less(r.First)
}

// Prefix returns the CIDR r was parsed from, if it was parsed from one.
func (r Range) Prefix() (netip.Prefix, bool) {
	if r.bits == 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(r.First, int(r.bits)-1), true
}

// Family returns the family of the range, or 0 for an invalid range.
func (r Range) Family() Family {
	if !r.IsValid() {
		return 0
	}
	return FamilyOf(r.First)
}

// Contains reports whether a lies in r, ignoring reserved addresses (see
// Pool.Contains for those). Addresses with a zone and IPv4-mapped IPv6
// addresses are never contained.
func (r Range) Contains(a netip.Addr) bool {
	if !r.IsValid() || !a.IsValid() || a.Zone() != "" || a.Is4In6() || a.Is4() != r.First.Is4() {
		return false
	}
	return !a.Less(r.First) && !r.Last.Less(a)
}

// Size returns the number of addresses in r, reserved ones included,
// saturating at math.MaxUint64 (a /64 and larger). It is 0 for an invalid
// range.
func (r Range) Size() uint64 {
	if !r.IsValid() {
		return 0
	}
	return r.span().size()
}

// Overlaps reports whether r and o share at least one address (reserved
// addresses included). config uses it to find pools that overlap.
func (r Range) Overlaps(o Range) bool {
	if !r.IsValid() || !o.IsValid() || r.First.Is4() != o.First.Is4() {
		return false
	}
	return !o.Last.Less(r.First) && !r.Last.Less(o.First)
}

func (r Range) span() span { return span{keyOf(r.First), keyOf(r.Last)} }

// usable returns the addresses of r that may be granted: a CIDR drops the
// addresses the ServiceCIDR rules reserve unless allowFirstLast is set; an
// explicit range is literal. The result is never empty, because the rules
// only reserve addresses of CIDRs large enough to keep some.
func (r Range) usable(allowFirstLast bool) span {
	s := r.span()
	if r.bits == 0 || allowFirstLast {
		return s
	}
	bits := int(r.bits) - 1
	if r.First.Is4() {
		if bits < 31 { // network and broadcast address
			s.first, s.last = s.first.next(), s.last.prev()
		}
	} else if bits < 127 { // subnet-router anycast address
		s.first = s.first.next()
	}
	return s
}
