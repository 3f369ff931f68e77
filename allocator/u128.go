package allocator

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// u128 is an address as a 128-bit unsigned integer: the big-endian bytes of
// netip.Addr.As16, so IPv4 addresses live in ::ffff:0:0/96. Comparing two
// uint64 is much cheaper than netip.Addr.Compare on the hot paths, and the
// mapped IPv4 space is unambiguous because IPv4-mapped IPv6 addresses are
// rejected everywhere in this package.
type u128 struct{ hi, lo uint64 }

// maxU128 is the highest IPv6 address.
var maxU128 = u128{math.MaxUint64, math.MaxUint64}

func keyOf(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// isV4 reports whether k lies in the IPv4-mapped block.
func (k u128) isV4() bool { return k.hi == 0 && k.lo>>32 == 0xffff }

func (k u128) family() Family {
	if k.isV4() {
		return IPv4
	}
	return IPv6
}

func (k u128) addr() netip.Addr {
	if k.isV4() {
		return netip.AddrFrom4([4]byte{byte(k.lo >> 24), byte(k.lo >> 16), byte(k.lo >> 8), byte(k.lo)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k.hi)
	binary.BigEndian.PutUint64(b[8:], k.lo)
	return netip.AddrFrom16(b)
}

func (k u128) less(o u128) bool { return k.hi < o.hi || (k.hi == o.hi && k.lo < o.lo) }

func (k u128) cmp(o u128) int {
	switch {
	case k.less(o):
		return -1
	case o.less(k):
		return 1
	}
	return 0
}

// next returns k+1; callers never ask for the successor of maxU128.
func (k u128) next() u128 {
	if k.lo == math.MaxUint64 {
		return u128{k.hi + 1, 0}
	}
	return u128{k.hi, k.lo + 1}
}

// prev returns k-1; callers never ask for the predecessor of zero.
func (k u128) prev() u128 {
	if k.lo == 0 {
		return u128{k.hi - 1, math.MaxUint64}
	}
	return u128{k.hi, k.lo - 1}
}

// span is an inclusive interval of addresses of one family.
type span struct{ first, last u128 }

func (s span) contains(k u128) bool { return !k.less(s.first) && !s.last.less(k) }

// size is the number of addresses in s, saturating at math.MaxUint64.
func (s span) size() uint64 {
	hi := s.last.hi - s.first.hi
	if s.last.lo < s.first.lo {
		hi--
	}
	lo := s.last.lo - s.first.lo
	if hi != 0 || lo == math.MaxUint64 {
		return math.MaxUint64
	}
	return lo + 1
}

// satAdd adds without wrapping: IPv6 sizes beyond 2^64-1 are reported as
// math.MaxUint64 rather than as a small wrong number.
func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
