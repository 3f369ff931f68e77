package config

import (
	"math/big"
	"strconv"
	"strings"
	"testing"
)

// referenceCommunity is a deliberately naive second reading of the community syntax, written from
// the documented rules rather than from ParseCommunity: split on ':', every part a run of ASCII
// digits without a leading zero (except "0" itself), compared as a big integer against the bound of
// its kind. ok is false when the text is not a community.
func referenceCommunity(s string) (c Community, ok bool) {
	names := map[string]uint32{
		"no-export": 65535<<16 | 65281, "no-advertise": 65535<<16 | 65282, "no-export-subconfed": 65535<<16 | 65283,
		"no-peer": 65535<<16 | 65284, "blackhole": 65535<<16 | 666, "graceful-shutdown": 65535 << 16,
		"accept-own": 65535<<16 | 1, "llgr-stale": 65535<<16 | 6, "no-llgr": 65535<<16 | 7,
	}
	if v, found := names[s]; found {
		return Community{Value: v}, true
	}
	parts := strings.Split(s, ":")
	var limit *big.Int
	switch len(parts) {
	case 2:
		limit = big.NewInt(65535)
	case 3:
		limit = big.NewInt(4294967295)
	default:
		return Community{}, false
	}
	nums := make([]uint32, len(parts))
	for i, p := range parts {
		if p == "" || (len(p) > 1 && p[0] == '0') {
			return Community{}, false
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return Community{}, false
			}
		}
		n, _ := new(big.Int).SetString(p, 10)
		if n.Cmp(limit) > 0 {
			return Community{}, false
		}
		nums[i] = uint32(n.Uint64())
	}
	if len(nums) == 2 {
		return Community{Value: nums[0]<<16 | nums[1]}, true
	}
	return Community{Large: true, Global: nums[0], Local1: nums[1], Local2: nums[2]}, true
}

// FuzzCommunity checks ParseCommunity against three properties:
//
//   - never panics, on any text;
//   - differential: it accepts exactly what referenceCommunity accepts, with the same value, and its
//     error names the offending text;
//   - round trip from the value side: any community built from (a, b, c) prints as text that parses
//     back to the same community, and that text is what the reference reads too.
//
// Seeds are in testdata/fuzz/FuzzCommunity.
func FuzzCommunity(f *testing.F) {
	f.Add("65000:100", uint32(65000), uint32(100), uint32(0), false)
	f.Add("4294967295:4294967295:4294967295", uint32(4294967295), uint32(4294967295), uint32(4294967295), true)
	f.Add("no-export", uint32(0), uint32(0), uint32(0), false)
	f.Fuzz(func(t *testing.T, s string, a, b, c uint32, large bool) {
		got, err := ParseCommunity(s)
		want, ok := referenceCommunity(s)
		switch {
		case ok && err != nil:
			t.Fatalf("ParseCommunity(%q): %v; the reference reads %v", s, err, want)
		case !ok && err == nil:
			t.Fatalf("ParseCommunity(%q) = %+v; the reference rejects it", s, got)
		case ok && got != want:
			t.Fatalf("ParseCommunity(%q) = %+v, the reference reads %+v", s, got, want)
		case err != nil && !strings.Contains(err.Error(), strconv.Quote(s)):
			t.Fatalf("ParseCommunity(%q) error %q does not say which text was wrong", s, err)
		}

		built := Community{Value: a<<16 | b&0xFFFF}
		if large {
			built = Community{Large: true, Global: a, Local1: b, Local2: c}
		}
		text := built.String()
		back, err := ParseCommunity(text)
		if err != nil {
			t.Fatalf("%+v prints as %q, which does not parse: %v", built, text, err)
		}
		if back != built {
			t.Fatalf("%+v prints as %q, which parses as %+v", built, text, back)
		}
		if ref, ok := referenceCommunity(text); !ok || ref != built {
			t.Fatalf("%+v prints as %q, which the reference reads as %+v (ok %v)", built, text, ref, ok)
		}
	})
}
