package v1alpha1

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// AllocationName is the metadata.name of the IPAllocation for addr: an IPv4
// address as is ("203.0.113.10"), an IPv6 address fully expanded, its eight
// groups of four lowercase hex digits joined by "-"
// ("2001-0db8-0000-0000-0000-0000-0000-0010"). The compressed IPv6 form with
// ":" replaced would not be a valid object name for addresses that start or
// end with "::".
func AllocationName(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	b := addr.As16()
	var sb strings.Builder
	sb.Grow(39)
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(hex.EncodeToString(b[i : i+2]))
	}
	return sb.String()
}

// AddressFromAllocationName is the inverse of AllocationName. It accepts
// only the exact form AllocationName produces.
func AddressFromAllocationName(name string) (netip.Addr, error) {
	if !strings.Contains(name, "-") {
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is4() || a.String() != name {
			return netip.Addr{}, fmt.Errorf("IPAllocation name %q is not an IPv4 address in canonical form", name)
		}
		return a, nil
	}
	groups := strings.Split(name, "-")
	if len(groups) != 8 {
		return netip.Addr{}, fmt.Errorf("IPAllocation name %q is not an IPv6 address as 8 groups of 4 hex digits joined by -", name)
	}
	var b [16]byte
	for i, g := range groups {
		if len(g) != 4 || strings.ToLower(g) != g {
			return netip.Addr{}, fmt.Errorf("IPAllocation name %q has group %q that is not 4 lowercase hex digits", name, g)
		}
		if _, err := hex.Decode(b[2*i:2*i+2], []byte(g)); err != nil {
			return netip.Addr{}, fmt.Errorf("IPAllocation name %q has group %q that is not 4 lowercase hex digits", name, g)
		}
	}
	return netip.AddrFrom16(b), nil
}
