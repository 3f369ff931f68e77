package lab

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseNeighLine(t *testing.T) {
	at := time.Date(2026, 12, 1, 21, 0, 8, 886898000, time.UTC)
	for _, tc := range []struct {
		name string
		line string
		want NeighChange
		ok   bool
	}{
		{
			name: "a resolved IPv4 neighbour",
			line: "[2026-12-01T21:00:08.886898] 198.51.100.1 dev fabric lladdr 02:00:00:00:00:07 REACHABLE ",
			want: NeighChange{At: at, Addr: netip.MustParseAddr("198.51.100.1"), Dev: "fabric", LLAddr: "02:00:00:00:00:07", State: "REACHABLE"},
			ok:   true,
		},
		{
			name: "a deleted entry without link-layer address",
			line: "[2026-12-01T21:00:08.886898] Deleted 203.0.113.7 dev fabric FAILED",
			want: NeighChange{At: at, Addr: netip.MustParseAddr("203.0.113.7"), Dev: "fabric", State: "FAILED", Deleted: true},
			ok:   true,
		},
		{
			name: "an IPv6 router entry with two states",
			line: "[2026-12-01T21:00:08.886898] 2001:db8:18:1::1 dev fabric lladdr 02:00:00:00:00:01 router STALE PROBE",
			want: NeighChange{At: at, Addr: netip.MustParseAddr("2001:db8:18:1::1"), Dev: "fabric", LLAddr: "02:00:00:00:00:01", State: "STALE PROBE"},
			ok:   true,
		},
		{name: "a line without timestamp is not a change", line: "198.51.100.1 dev fabric REACHABLE"},
		{name: "a malformed address is not a change", line: "[2026-12-01T21:00:08.886898] not-an-address dev fabric"},
		{name: "an empty line is not a change", line: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseNeighLine(tc.line, time.UTC)
			if ok != tc.ok {
				t.Fatalf("parseNeighLine(%q) ok = %v, want %v", tc.line, ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); ok && diff != "" {
				t.Errorf("parseNeighLine(%q) (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}
