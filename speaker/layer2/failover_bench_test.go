package layer2

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

var failoverRuns = flag.Int("l2.runs", 20, "failovers per case in BenchmarkFailover")

// BenchmarkFailover measures failover from the client's side: three
// speakers on one segment, a client that has resolved the address, the
// owner killed (crash: gossip and sockets stop at once, as under SIGKILL)
// or stopped (graceful: the handover of a SIGTERM), or the Local-policy
// endpoint moves away from it (endpoint: every speaker is told at once that
// only the successor may own the address); the figure is the time
// from the fault to the netlink neighbour update that shows the client's
// entry on the new owner's MAC. The killed node is restarted between runs
// and takes the address back. Run with
//
//	go test -run '^$' -bench Failover -benchtime 1x ./speaker/layer2/
//
// It prints p50/p90/p99/max per profile and kind (with 20 runs p99 is the
// maximum); there is no pass/fail.
func BenchmarkFailover(b *testing.B) {
	for _, profile := range []Profile{ProfileFast, ProfileBalanced} {
		for _, kind := range []string{"crash", "graceful", "endpoint"} {
			b.Run(fmt.Sprintf("%s/%s", profile, kind), func(b *testing.B) {
				for range b.N {
					d := failovers(b, profile, kind, *failoverRuns)
					slices.Sort(d)
					p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
					r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond / 10) }
					_, _ = fmt.Fprintf(os.Stdout, "layer2 failover %-8s %-8s runs=%d p50=%-10s p90=%-10s p99=%-10s max=%s\n", profile, kind, len(d),
						r(p(0.5)), r(p(0.9)), r(p(0.99)), r(d[len(d)-1]))
					b.ReportMetric(float64(p(0.5).Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(d[len(d)-1].Microseconds())/1000, "max-ms")
				}
			})
		}
	}
}

func failovers(b *testing.B, profile Profile, kind string, runs int) []time.Duration {
	l := newLab(b, 3)
	vip := netip.MustParseAddr("198.18.210.77")
	addrs := []netip.Addr{vip}
	log := testLogger(b)
	for _, n := range l.nodes {
		l.start(n, profile, addrs, log)
	}
	all := l.nodeNames()
	owner := l.node(Elect(vip, all))
	rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == owner.name })
	successor := l.node(Elect(vip, rest))

	updates := make(chan netlink.NeighUpdate, 1024)
	done := make(chan struct{})
	defer close(done)
	ns := l.client
	if err := netlink.NeighSubscribeWithOptions(updates, done, netlink.NeighSubscribeOptions{Namespace: &ns}); err != nil {
		b.Fatal(err)
	}
	var out []time.Duration
	for range runs {
		l.converged(b, addrs, all)
		if got := l.resolve(b, vip); got != owner.mac.String() {
			// The previous run's takeback may still be in flight.
			eventually(b, "the client's entry back on the owner", func() (bool, string) {
				return l.clientNeigh(vip) == owner.mac.String(), l.clientNeigh(vip)
			})
		}
		// Let the members settle (the restarted node's incarnation
		// gossip) so each run starts from the same steady state.
		time.Sleep(time.Second)
		for drained := false; !drained; {
			select {
			case <-updates:
			default:
				drained = true
			}
		}
		// The fault runs beside the wait: a graceful stop returns only
		// after its linger, and the client may have moved long before.
		stopped := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(stopped)
			switch kind {
			case "crash":
				owner.crash()
			case "graceful":
				owner.stop()
			default:
				l.moveEndpoints(addrs, []string{successor.name})
			}
		}()
		deadline := time.After(30 * time.Second)
	wait:
		for {
			select {
			case u := <-updates:
				a, _ := netip.AddrFromSlice(u.IP)
				if a.Unmap() == vip && strings.EqualFold(u.HardwareAddr.String(), successor.mac.String()) {
					out = append(out, time.Since(start))
					break wait
				}
			case <-deadline:
				b.Fatalf("the client's entry for %s never moved to %s (%s)", vip, successor.name, successor.mac)
			}
		}
		<-stopped
		if kind == "endpoint" {
			l.moveEndpoints(addrs, all)
			continue
		}
		l.start(owner, profile, addrs, log)
	}
	return out
}
