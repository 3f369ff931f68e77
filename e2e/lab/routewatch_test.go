package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadRoutes(t *testing.T) {
	out := strings.Join([]string{
		"198.51.100.1 proto bgp metric 20 ",
		"\tnexthop via 198.18.1.11 dev fabric weight 1 ",
		"\tnexthop via 198.18.1.12 dev fabric weight 1 ",
		"2001:db8:100::1 nhid 12 via 2001:db8:18:1::11 dev fabric proto bgp metric 20 pref medium",
		"Deleted 198.51.100.2 nhid 5 via 198.18.1.11 dev fabric proto bgp metric 20 ",
		"not a route",
		"198.18.64.0/24 via 198.18.1.13 dev fabric proto bgp metric 20 ",
	}, "\n") + "\n"
	type change struct {
		Prefix netip.Prefix
		Hops   []string
	}
	var got []change
	readRoutes(strings.NewReader(out), func(c RouteChange) { got = append(got, change{c.Prefix, c.Hops}) })
	want := []change{
		{netip.MustParsePrefix("198.51.100.1/32"), []string{"198.18.1.11", "198.18.1.12"}},
		{netip.MustParsePrefix("2001:db8:100::1/128"), []string{"2001:db8:18:1::11"}},
		{netip.MustParsePrefix("198.51.100.2/32"), []string{}},
		{netip.MustParsePrefix("198.18.64.0/24"), []string{"198.18.1.13"}},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("readRoutes (-want +got):\n%s", diff)
	}
}
