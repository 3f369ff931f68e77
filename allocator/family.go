package allocator

import (
	"net/netip"
	"strconv"
)

// Family is an address family. The zero value is no family; Assign rejects
// it, so a caller that forgets to set one finds out at once.
type Family int

// The address families. Their values are the IP version numbers so that
// they read naturally in logs and test failures.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a, or 0 for the zero Addr. An IPv4-mapped
// IPv6 address is IPv6 (and is never inside a pool).
func FamilyOf(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return 0
}

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

func (f Family) valid() bool { return f == IPv4 || f == IPv6 }

// index maps a valid family to 0 (IPv4) or 1 (IPv6) for per-family arrays.
func (f Family) index() int {
	if f == IPv4 {
		return 0
	}
	return 1
}

// families lists the families in the order results are reported.
var families = [2]Family{IPv4, IPv6}
