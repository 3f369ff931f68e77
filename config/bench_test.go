package config

import (
	"fmt"
	"net/netip"
	"testing"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// BenchmarkBuild builds from 1,000 pools, 1,000 peers and 1,000 BGP
// advertisements (target: under 50 ms per build).
func BenchmarkBuild(b *testing.B) {
	var res Resources
	for i := range 1000 {
		p := pool(fmt.Sprintf("pool-%04d", i), i, fmt.Sprintf("2001:db8:%x:1::/112", i), fmt.Sprintf("198.%d.%d.0/24", 18+i/256, i%256))
		p.Labels = map[string]string{"group": fmt.Sprint(i % 10)}
		res.Pools = append(res.Pools, p)
		res.Peers = append(res.Peers, withPeer(peer(fmt.Sprintf("peer-%04d", i), i, fmt.Sprintf("198.51.%d.%d", i/256, i%256), 64512, 64513),
			func(s *seamarkv1alpha1.BGPPeerSpec) {
				s.NodeSelector = sel(map[string]string{"rack": fmt.Sprint(i % 20)})
				s.PasswordSecretRef = &seamarkv1alpha1.SecretKeyReference{Name: "bgp", Key: "password"}
			}))
		res.BGPAdvertisements = append(res.BGPAdvertisements, bgpAdv(fmt.Sprintf("adv-%04d", i), func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
			s.IPPoolSelector = sel(map[string]string{"group": fmt.Sprint(i % 10)})
			s.Peers = []seamarkv1alpha1.ObjectName{seamarkv1alpha1.ObjectName(fmt.Sprintf("peer-%04d", i))}
			s.Communities = []seamarkv1alpha1.Community{"64512:100", "no-export"}
		}))
	}
	res.Secrets = append(res.Secrets, secret("bgp", map[string]string{"password": "s3cret"}))
	cfg, problems := Build(res)
	if len(problems) != 0 || len(cfg.Pools) != 1000 || len(cfg.Peers) != 1000 || len(cfg.BGPAdvertisements) != 1000 {
		b.Fatalf("unexpected result: %d pools, %d peers, %d advertisements, problems %v", len(cfg.Pools), len(cfg.Peers), len(cfg.BGPAdvertisements), problems)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Build(res)
	}
}

// BenchmarkPoolOf looks up the pool of an address among 1,000 pools.
func BenchmarkPoolOf(b *testing.B) {
	var res Resources
	for i := range 1000 {
		res.Pools = append(res.Pools, pool(fmt.Sprintf("pool-%04d", i), i, fmt.Sprintf("198.%d.%d.0/24", 18+i/256, i%256)))
	}
	cfg, _ := Build(res)
	addr := netip.MustParseAddr("198.19.200.7")
	for b.Loop() {
		if cfg.PoolOf(addr) == nil {
			b.Fatal("not found")
		}
	}
}
