package bgp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// family is the one address family a session carries.
type family uint8

const (
	familyIPv4 family = iota + 1
	familyIPv6
)

func familyOf(a netip.Addr) family {
	if a.Is4() {
		return familyIPv4
	}
	return familyIPv6
}

// String names the family as logs and GoBGP do ("ipv4-unicast", "ipv6-unicast").
func (f family) String() string {
	if f == familyIPv4 {
		return "ipv4-unicast"
	}
	return "ipv6-unicast"
}

func (f family) api() *gobgpapi.Family {
	if f == familyIPv4 {
		return &gobgpapi.Family{Afi: gobgpapi.Family_AFI_IP, Safi: gobgpapi.Family_SAFI_UNICAST}
	}
	return &gobgpapi.Family{Afi: gobgpapi.Family_AFI_IP6, Safi: gobgpapi.Family_SAFI_UNICAST}
}

// normalize returns p in the canonical form the diff compares: masked prefix, sorted and
// de-duplicated communities, and no LOCAL_PREF on eBGP. It copies the slices only when they are not
// canonical already, so an unchanged desired set costs no allocation per path.
func normalize(p Path, ibgp bool) (Path, error) {
	if !p.Prefix.IsValid() {
		return Path{}, fmt.Errorf("%w: prefix %q is not valid", ErrInvalidPath, p.Prefix)
	}
	if p.Prefix.Addr().Is4In6() {
		return Path{}, fmt.Errorf("%w: prefix %s is IPv4-mapped; use the IPv4 form", ErrInvalidPath, p.Prefix)
	}
	p.Prefix = p.Prefix.Masked()
	if !sortedUnique(p.Communities, cmp.Compare[uint32]) {
		p.Communities = slices.Compact(slices.Sorted(slices.Values(p.Communities)))
	}
	if !sortedUnique(p.LargeCommunities, compareLarge) {
		l := slices.Clone(p.LargeCommunities)
		slices.SortFunc(l, compareLarge)
		p.LargeCommunities = slices.Compact(l)
	}
	if len(p.Communities) == 0 {
		p.Communities = nil
	}
	if len(p.LargeCommunities) == 0 {
		p.LargeCommunities = nil
	}
	if !ibgp {
		p.LocalPref = 0
	}
	return p, nil
}

func sortedUnique[T any](s []T, cmp func(a, b T) int) bool {
	for i := 1; i < len(s); i++ {
		if cmp(s[i-1], s[i]) >= 0 {
			return false
		}
	}
	return true
}

// desiredPaths turns a peer's desired paths into the normalized set the session carries, keyed by
// prefix. Paths of the other family are counted in skipped, not returned; invalid and duplicate
// paths are reported in the error and left out.
func desiredPaths(paths []Path, fam family, ibgp bool) (want map[netip.Prefix]Path, skipped int, err error) {
	want = make(map[netip.Prefix]Path, len(paths))
	var errs errorList
	for _, p := range paths {
		n, err := normalize(p, ibgp)
		if err != nil {
			errs.add(err)
			continue
		}
		if familyOf(n.Prefix.Addr()) != fam {
			skipped++
			continue
		}
		if _, dup := want[n.Prefix]; dup {
			errs.add(fmt.Errorf("%w: prefix %s appears more than once; the first one is announced", ErrInvalidPath, n.Prefix))
			continue
		}
		want[n.Prefix] = n
	}
	return want, skipped, errs.err("checking paths")
}

// apiPath builds the GoBGP path for p. The next hop is left unspecified (0.0.0.0 or ::) on purpose:
// GoBGP then fills in the session's local address when it sends the path, for eBGP and iBGP alike.
// IPv6 prefixes go in MP_REACH_NLRI (RFC 4760); IPv4 prefixes in the classic NLRI with NEXT_HOP.
// extra communities (GRACEFUL_SHUTDOWN at shutdown) are added to p's.
func apiPath(p Path, extra ...uint32) (*gobgpapi.Path, error) {
	addr := p.Prefix.Addr()
	bits := uint8(p.Prefix.Bits())
	attrs := make([]bgp.PathAttributeInterface, 0, 5)
	attrs = append(attrs, bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP))

	var nlri bgp.AddrPrefixInterface
	if addr.Is4() {
		nlri = bgp.NewIPAddrPrefix(bits, addr.String())
		attrs = append(attrs, bgp.NewPathAttributeNextHop("0.0.0.0"))
	} else {
		nlri = bgp.NewIPv6AddrPrefix(bits, addr.String())
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("::", []bgp.AddrPrefixInterface{nlri}))
	}

	communities := p.Communities
	if len(extra) > 0 {
		communities = slices.Concat(communities, extra)
	}
	if len(communities) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeCommunities(communities))
	}
	if len(p.LargeCommunities) > 0 {
		l := make([]*bgp.LargeCommunity, 0, len(p.LargeCommunities))
		for _, c := range p.LargeCommunities {
			l = append(l, bgp.NewLargeCommunity(c.Global, c.Local1, c.Local2))
		}
		attrs = append(attrs, bgp.NewPathAttributeLargeCommunities(l))
	}
	if p.LocalPref != 0 {
		attrs = append(attrs, bgp.NewPathAttributeLocalPref(p.LocalPref))
	}

	path, err := apiutil.NewPath(nlri, false, attrs, time.Now())
	if err != nil {
		return nil, fmt.Errorf("encoding path %s: %w", p.Prefix, err)
	}
	return path, nil
}

// errorList collects errors of a bulk operation while keeping the message short: the count and the
// first few.
type errorList struct {
	n     int
	first []error
}

const errorListKeep = 3

func (l *errorList) add(err error) {
	if err == nil {
		return
	}
	l.n++
	if len(l.first) < errorListKeep {
		l.first = append(l.first, err)
	}
}

// err wraps the collected errors as "doing: ..." (nil when none), keeping them reachable with
// errors.Is.
func (l *errorList) err(doing string) error {
	switch l.n {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s: %w", doing, l.first[0])
	}
	args := make([]any, 0, len(l.first))
	format := fmt.Sprintf("%s: %d errors, first ", doing, l.n)
	for i, e := range l.first {
		if i > 0 {
			format += "; "
		}
		format += "%w"
		args = append(args, e)
	}
	return fmt.Errorf(format, args...)
}
