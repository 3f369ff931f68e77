package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Pool is a named set of address ranges, like an IPPool's spec. Ranges keep
// the order they were given in (the order the user wrote, for status and
// messages); the allocator sorts internally.
//
// Reserved addresses follow the ServiceCIDR rules, applied per range:
//   - an IPv4 CIDR shorter than /31 excludes its network and broadcast
//     addresses; /31 and /32 keep every address;
//   - an IPv6 CIDR shorter than /127 excludes its first (subnet-router
//     anycast) address; /127 and /128 keep every address;
//   - an explicit a-b range is literal: every address in it is usable;
//   - AllowFirstLast turns the exclusions off.
type Pool struct {
	// Name identifies the pool: an edited pool is the pool with the same name.
	Name string
	// Ranges of either family, in the order given.
	Ranges []Range
	// AllowFirstLast makes the reserved addresses of CIDRs usable.
	AllowFirstLast bool
}

// NewPool parses cidrs (CIDRs or a-b ranges, see ParseRange) into a Pool and
// rejects an empty name, an empty list and ranges that overlap each other.
func NewPool(name string, cidrs []string, allowFirstLast bool) (Pool, error) {
	if name == "" {
		return Pool{}, errors.New("creating pool: empty name")
	}
	if len(cidrs) == 0 {
		return Pool{}, fmt.Errorf("creating pool %q: no ranges", name)
	}
	p := Pool{Name: name, Ranges: make([]Range, 0, len(cidrs)), AllowFirstLast: allowFirstLast}
	for _, s := range cidrs {
		r, err := ParseRange(s)
		if err != nil {
			return Pool{}, fmt.Errorf("creating pool %q: %w", name, err)
		}
		p.Ranges = append(p.Ranges, r)
	}
	// Sorting a copy finds every overlap among neighbours in O(n log n).
	sorted := slices.Clone(p.Ranges)
	slices.SortFunc(sorted, func(a, b Range) int { return keyOf(a.First).cmp(keyOf(b.First)) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i-1].Overlaps(sorted[i]) {
			return Pool{}, fmt.Errorf("creating pool %q: range %s overlaps %s", name, sorted[i-1], sorted[i])
		}
	}
	return p, nil
}

// Contains reports whether a is a usable address of the pool: inside one of
// its ranges and not reserved. The network address of a /24 is not
// contained. It is O(number of ranges).
func (p Pool) Contains(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
		return false
	}
	k := keyOf(a)
	for _, r := range p.Ranges {
		if r.IsValid() && r.First.Is4() == a.Is4() && r.usable(p.AllowFirstLast).contains(k) {
			return true
		}
	}
	return false
}

// usable returns the pool's usable addresses of family f, sorted, with
// overlapping and adjacent spans merged. Invalid ranges are skipped.
func (p Pool) usable(f Family) []span {
	var out []span
	for _, r := range p.Ranges {
		if r.Family() == f {
			out = append(out, r.usable(p.AllowFirstLast))
		}
	}
	slices.SortFunc(out, func(a, b span) int { return a.first.cmp(b.first) })
	return mergeSpans(out)
}

// mergeSpans merges overlapping and adjacent spans of a sorted slice in place.
func mergeSpans(s []span) []span {
	if len(s) == 0 {
		return s
	}
	out := s[:1]
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if last.last == maxU128 || !last.last.next().less(x.first) {
			if last.last.less(x.last) {
				last.last = x.last
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// subtractSpans returns the parts of a (sorted, disjoint) not in b (sorted,
// disjoint), in O(len(a)+len(b)).
func subtractSpans(a, b []span) []span {
	var out []span
	j := 0
	for _, s := range a {
		for j < len(b) && b[j].last.less(s.first) {
			j++
		}
		cur := s
		live := true
		for k := j; live && k < len(b) && !cur.last.less(b[k].first); k++ {
			if cur.first.less(b[k].first) {
				out = append(out, span{cur.first, b[k].first.prev()})
			}
			if b[k].last.less(cur.last) {
				cur.first = b[k].last.next()
			} else {
				live = false
			}
		}
		if live {
			out = append(out, cur)
		}
	}
	return out
}

// unionSpans returns the union of two sorted, disjoint slices, merged, in
// O(len(a)+len(b)).
func unionSpans(a, b []span) []span {
	out := make([]span, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].first.less(b[0].first)) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return mergeSpans(out)
}
