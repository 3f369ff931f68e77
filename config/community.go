package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Community is a BGP community: standard (RFC 1997, 32 bits, written a:b) or
// large (RFC 8092, three 32-bit parts, written a:b:c).
type Community struct {
	// Large is set for large communities.
	Large bool
	// Value is the standard community, high 16 bits a and low 16 bits b.
	Value uint32
	// Global, Local1, Local2 are the parts of a large community.
	Global, Local1, Local2 uint32
}

// Well-known standard communities by name (RFC 1997, RFC 3765, RFC 7999,
// RFC 8326, RFC 7611, RFC 9494).
var wellKnown = map[string]uint32{
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"no-peer":             0xFFFFFF04,
	"blackhole":           0xFFFF029A,
	"graceful-shutdown":   0xFFFF0000,
	"accept-own":          0xFFFF0001,
	"llgr-stale":          0xFFFF0006,
	"no-llgr":             0xFFFF0007,
}

// GracefulShutdown is the GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326).
var GracefulShutdown = Community{Value: 0xFFFF0000}

// ParseCommunity parses "a:b" (each part 0-65535), "a:b:c" (each part
// 0-4294967295) or a well-known name. Numbers are decimal without leading
// zeros or signs.
func ParseCommunity(s string) (Community, error) {
	if v, ok := wellKnown[s]; ok {
		return Community{Value: v}, nil
	}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 2:
		a, errA := parseUint(parts[0], 16)
		b, errB := parseUint(parts[1], 16)
		if errA != nil || errB != nil {
			return Community{}, fmt.Errorf("community %q: each part of a standard community a:b is a number from 0 to 65535", s)
		}
		return Community{Value: a<<16 | b}, nil
	case 3:
		var v [3]uint32
		for i, p := range parts {
			n, err := parseUint(p, 32)
			if err != nil {
				return Community{}, fmt.Errorf("community %q: each part of a large community a:b:c is a number from 0 to 4294967295", s)
			}
			v[i] = n
		}
		return Community{Large: true, Global: v[0], Local1: v[1], Local2: v[2]}, nil
	}
	return Community{}, fmt.Errorf("community %q is not a:b, a:b:c or a well-known name (no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr)", s)
}

func parseUint(s string, bits int) (uint32, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("not a canonical decimal number: %q", s)
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return uint32(n), err
}

// String returns the canonical text: "a:b" or "a:b:c". Well-known
// communities print as numbers, which ParseCommunity reads back to the same
// value.
func (c Community) String() string {
	if c.Large {
		return fmt.Sprintf("%d:%d:%d", c.Global, c.Local1, c.Local2)
	}
	return fmt.Sprintf("%d:%d", c.Value>>16, c.Value&0xFFFF)
}
