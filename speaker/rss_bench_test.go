package speaker

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/speaker/bgp"
)

// BenchmarkSpeakerRSS10kServices announces 10,000 Services (one IPv4
// address each, policy Cluster) to one router and reports the process's
// memory once the router holds all 10,000 paths. The router runs in a child
// process, so the figures are the speaker's alone: the plan's inputs (the
// Service objects an informer would hold), the plan, and speaker/bgp's
// GoBGP server with its RIB. The timed loop is an unchanged Reconcile,
// which is what every event that does not change the paths costs.
//
// Reported: RSS-MB (VmRSS), RSS-delta-MB (VmRSS growth from starting the
// speaker and announcing), heap-MB (live Go heap after GC).
func BenchmarkSpeakerRSS10kServices(b *testing.B) {
	const (
		n          = 10_000
		routerAddr = "127.0.0.40"
		sourceAddr = "127.0.0.41"
		port       = 18190
	)
	router := startChildRouter(b, helperSpec{Router: routerSpec{
		Addr: routerAddr, Port: port, ASN: 64512, Neighbors: []string{sourceAddr}, PeerASN: 64513,
	}, Expect: n})

	cfg := buildConfig(b, config.Resources{
		Pools: []seamarkv1alpha1.IPPool{ipPool("bench", nil, "198.18.0.0/15")},
		Peers: []seamarkv1alpha1.BGPPeer{bgpPeer("router", 0, routerAddr, 64512, 64513, func(s *seamarkv1alpha1.BGPPeerSpec) {
			s.Port = port
			s.SourceAddress = ptr(seamarkv1alpha1.IPAddress(sourceAddr))
		})},
		BGPAdvertisements: []seamarkv1alpha1.BGPAdvertisement{bgpAdv("all", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
			s.Communities = []seamarkv1alpha1.Community{"65000:100"}
		})},
	})
	in := Input{Config: cfg, Node: node(thisNode, nil), DefaultClass: true}
	base := netip.MustParseAddr("198.18.0.0").As4()
	for i := range n {
		ip := netip.AddrFrom4([4]byte{base[0], base[1] + byte(i>>16), byte(i >> 8), byte(i)})
		in.Services = append(in.Services, lbService(fmt.Sprintf("svc-%d", i), ip.String()))
	}
	plan := Compute(in)
	if got := len(plan.Peers["router"].Paths); got != n {
		b.Fatalf("plan has %d paths, want %d", got, n)
	}
	rssBefore := vmRSS(b)

	s := bgp.New(bgp.Options{})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx, 0)
	})
	start := time.Now()
	if err := s.Reconcile(b.Context(), plan.Peers); err != nil {
		b.Fatalf("Reconcile: %v", err)
	}
	got := router.waitLine(b, "received", 5*time.Minute)
	converged := time.Since(start)

	runtime.GC()
	rss := vmRSS(b)
	heap := heapBytes()
	b.Logf("router %s after %s; VmRSS %.1f MB (%.1f MB before the speaker started)", got, converged.Round(time.Millisecond),
		float64(rss)/(1<<20), float64(rssBefore)/(1<<20))

	for b.Loop() {
		if err := s.Reconcile(b.Context(), plan.Peers); err != nil {
			b.Fatalf("Reconcile: %v", err)
		}
	}
	// After the loop: b.Loop's first call deletes metrics reported before it.
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MB")
	b.ReportMetric(float64(rss-rssBefore)/(1<<20), "RSS-delta-MB")
	b.ReportMetric(heap/(1<<20), "heap-MB")
	b.ReportMetric(converged.Seconds(), "announce-s")
}

// vmRSS reads the process's resident set size from /proc/self/status.
func vmRSS(tb testing.TB) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatalf("reading VmRSS: %v", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatalf("parsing VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// heapBytes is the memory of live and not yet swept heap objects.
func heapBytes() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64())
}
