package speaker

import (
	"fmt"
	"net/netip"
	"testing"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// benchInput is n Services, each with one IPv4 address from 198.18.0.0/15
// (every tenth also an IPv6 one), every other one with policy Local and an
// EndpointSlice of three endpoints (on this node for half of those), two
// advertisements (one with communities and local preference, one for
// Services labelled tier=gold), three peers (IPv4 eBGP, IPv4 iBGP, IPv6).
func benchInput(tb testing.TB, n int) Input {
	tb.Helper()
	res := config.Resources{
		Pools: []seamarkv1alpha1.IPPool{ipPool("bench", nil, "198.18.0.0/15", "2001:db8:1::/112")},
		Peers: []seamarkv1alpha1.BGPPeer{peerE4, peerI4, peerE6},
		BGPAdvertisements: []seamarkv1alpha1.BGPAdvertisement{
			bgpAdv("all", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.Communities = []seamarkv1alpha1.Community{"65000:100", "no-export"}
				s.LocalPreference = ptr(int64(200))
			}),
			bgpAdv("gold", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.ServiceSelector = sel(map[string]string{"tier": "gold"})
				s.Communities = []seamarkv1alpha1.Community{"64512:1:2"}
			}),
		},
	}
	in := Input{Config: buildConfig(tb, res), Node: node(thisNode, nil), DefaultClass: true}
	base := netip.MustParseAddr("198.18.0.0").As4()
	for i := range n {
		ip := netip.AddrFrom4([4]byte{base[0], base[1] + byte(i>>16), byte(i >> 8), byte(i)})
		ips := []string{ip.String()}
		if i%10 == 0 {
			ips = append(ips, fmt.Sprintf("2001:db8:1::%x", i+1))
		}
		name := fmt.Sprintf("svc-%d", i)
		svc := lbService(name, ips...)
		if i%3 == 0 {
			svc.Labels = map[string]string{"tier": "gold"}
		}
		if i%2 == 1 {
			local(&svc)
			where := "node-b"
			if i%4 == 1 {
				where = thisNode
			}
			in.EndpointSlices = append(in.EndpointSlices, endpointSlice(name, readyOn(where), readyOn("node-c"), servingTerminatingOn("node-d")))
		}
		in.Services = append(in.Services, svc)
	}
	return in
}

// BenchmarkPlan10kServices3Peers is the plan for 10,000 Services and three
// peers; the target is under 50 ms/op.
func BenchmarkPlan10kServices3Peers(b *testing.B) {
	in := benchInput(b, 10_000)
	var plan Plan
	b.ReportAllocs()
	for b.Loop() {
		plan = Compute(in)
	}
	paths := 0
	for _, p := range plan.Peers {
		paths += len(p.Paths)
	}
	b.ReportMetric(float64(paths), "paths")
}

// TestBenchInputAnnouncesWhatItShould keeps the benchmark honest: the
// input really announces thousands of paths to each peer.
func TestBenchInputAnnouncesWhatItShould(t *testing.T) {
	plan := Compute(benchInput(t, 10_000))
	// 5,000 Cluster + 2,500 Local with an endpoint here; the 1,000 with an
	// IPv6 address too all have policy Cluster.
	want := map[string]int{"r4e": 7500, "r4i": 7500, "r6e": 1000}
	for name, n := range want {
		if got := len(plan.Peers[name].Paths); got != n {
			t.Errorf("peer %s: %d paths, want %d", name, got, n)
		}
	}
}
