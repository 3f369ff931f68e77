//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/e2e/lab"
)

// Sizes of the lab's convergence benchmark.
const (
	benchCreates = 100
	benchFlips   = 50
	benchMovesN  = 20
	// A request that lost its SYN waits for the retransmission (1 s)
	// and keeps its worker from sending; a short timeout and several
	// workers keep the client's view dense.
	benchMoveWorkers = 8
	benchMoveTimeout = 300 * time.Millisecond
	benchServices    = 1000
	// benchPoolV6 holds the 1,000 Services: IPv4 documentation ranges
	// have 508 usable addresses.
	benchPoolV6 = "2001:db8:1000::/118"
)

// BenchmarkConvergence measures, at the router's kernel routing table
// (`ip monitor route` in sm-router, the data plane the client's traffic
// follows), how long seamark takes from a change in Kubernetes to the
// route: Service create → route with every node as next hop, one Service
// at a time; endpoint readiness flip → next-hop change; and 1,000
// Services created at once → all routed. One figure is taken at the client
// instead, over the whole data path (seamark, FRR, kube-proxy, the pods):
// a Local Service's endpoint moves between nodes → the first reply from
// the new node's pod, with the requests lost meanwhile. It prints a
// table; run it with
// `make bench` (root, like the e2e suite).
func BenchmarkConvergence(b *testing.B) {
	labBench(b, "LAB CONVERGENCE (routes: sm-router's kernel table; replies: sm-client)", benchConvergence)
}

func benchConvergence(b *testing.B, l *lab.Lab, ctx context.Context) []string {
	b.Helper()
	for _, ns := range []string{"bench-create", "bench-flip", "bench-move", "bench-scale"} {
		if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
	}
	w, err := l.WatchRoutes()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	nodes := len(l.NodeList)
	var rows []string

	// Service create → route, one at a time.
	pool := netip.MustParsePrefix(lab.PoolCIDR)
	var created []time.Duration
	for i := range benchCreates {
		start := time.Now()
		if _, err := l.CreateService(ctx, "bench-create", fmt.Sprintf("s%03d", i), "none", lab.ServiceOptions{}); err != nil {
			b.Fatal(err)
		}
		c, err := w.Wait(start, 30*time.Second, func(c lab.RouteChange) bool {
			return pool.Contains(c.Prefix.Addr()) && len(c.Hops) == nodes
		})
		if err != nil {
			b.Fatalf("Service %d: %v", i, err)
		}
		created = append(created, c.At.Sub(start))
	}
	rows = append(rows, row(fmt.Sprintf("Service create → route via all %d nodes", nodes), created))

	// Readiness flip → next-hop change: a Local Service with a ready
	// endpoint on every node; the last node's endpoint goes unready and
	// ready again.
	if err := l.CreateBackends(ctx, "bench-flip", "flip", l.NodeList); err != nil {
		b.Fatal(err)
	}
	if _, err := l.CreateService(ctx, "bench-flip", "flip", "flip", lab.ServiceOptions{Local: true}); err != nil {
		b.Fatal(err)
	}
	got, err := l.WaitIngress(ctx, "bench-flip", "flip", time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	flipPrefix := netip.PrefixFrom(got[0], 32)
	if _, err := w.Wait(time.Time{}, time.Minute, func(c lab.RouteChange) bool { return c.Prefix == flipPrefix && len(c.Hops) == nodes }); err != nil {
		b.Fatal(err)
	}
	last := l.NodeList[nodes-1]
	var flipped []time.Duration
	for i := range benchFlips {
		ready := i%2 == 1
		want := nodes - 1
		if ready {
			want = nodes
		}
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if err := l.SetPodReady(ctx, "bench-flip", lab.BackendPod("flip", last), ready); err != nil {
			b.Fatal(err)
		}
		c, err := w.Wait(start, 30*time.Second, func(c lab.RouteChange) bool {
			return c.Prefix == flipPrefix && len(c.Hops) == want && slices.Contains(c.Hops, last.Addr.String()) == ready
		})
		if err != nil {
			b.Fatalf("flip %d (ready %v): %v", i, ready, err)
		}
		flipped = append(flipped, c.At.Sub(start))
	}
	rows = append(rows, row("Endpoint readiness flip → next-hop change", flipped))

	// The data path, at the client: a Local Service's one ready endpoint
	// moves between two nodes' pods while sm-client sends requests
	// (benchMoveWorkers in parallel, one every 20 ms each, unanswered after
	// benchMoveTimeout: lost); each move is timed to the first reply from
	// the new node's pod, and the lost requests are counted.
	moved, lost, sent := benchMoves(b, l, ctx, w)
	rows = append(rows, row("Local endpoint move → first reply from the new node's pod at sm-client", moved))
	rows = append(rows, fmt.Sprintf("Requests unanswered within %s during the %d moves\t%d\t%d of %d",
		benchMoveTimeout, len(moved), len(moved), lost, sent))

	// 1,000 Services at once, IPv6 (the pool and an IPv6 session).
	if err := l.SetRouterIPv6(true); err != nil {
		b.Fatal(err)
	}
	for _, o := range []client.Object{
		&seamarkv1alpha1.IPPool{
			ObjectMeta: metav1.ObjectMeta{Name: "bench-v6"},
			Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{benchPoolV6}, AutoAssign: new(false)},
		},
		l.Peer("bench-v6", lab.RouterFabricV6),
	} {
		if err := l.Client.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	if err := waitV6Sessions(l, time.Minute); err != nil {
		b.Fatal(err)
	}
	v6pool := netip.MustParsePrefix(benchPoolV6)
	start := time.Now()
	if err := createIPv6Services(ctx, l, "bench-scale", "bench-v6", benchServices); err != nil {
		b.Fatal(err)
	}
	createdAll := time.Since(start)
	routed := map[netip.Prefix]bool{}
	var lastAt time.Time
	_, err = w.Wait(start, 5*time.Minute, func(c lab.RouteChange) bool {
		if v6pool.Contains(c.Prefix.Addr()) && len(c.Hops) == nodes && !routed[c.Prefix] {
			routed[c.Prefix] = true
			lastAt = c.At
		}
		return len(routed) == benchServices
	})
	if err != nil {
		b.Fatalf("%d of %d Services routed: %v", len(routed), benchServices, err)
	}
	all := lastAt.Sub(start)
	rows = append(rows, fmt.Sprintf("%d IPv6 Services created at once → all routed via all %d nodes\t%d\t\t\t%s (creates took %s)",
		benchServices, nodes, benchServices, all.Round(time.Millisecond), createdAll.Round(time.Millisecond)))
	b.ReportMetric(float64(percentile(created, 50).Milliseconds()), "create-p50-ms")
	b.ReportMetric(float64(percentile(created, 99).Milliseconds()), "create-p99-ms")
	b.ReportMetric(float64(percentile(flipped, 50).Milliseconds()), "flip-p50-ms")
	b.ReportMetric(float64(percentile(flipped, 99).Milliseconds()), "flip-p99-ms")
	b.ReportMetric(all.Seconds(), "1000-routed-s")
	b.ReportMetric(float64(percentile(moved, 50).Milliseconds()), "move-p50-ms")
	b.ReportMetric(float64(lost), "move-lost-requests")
	return rows
}

// benchMoves moves a Local Service's ready endpoint between the first two
// nodes benchMovesN times under continuous requests from sm-client and
// returns, per move, the time from the readiness change to the first
// reply from the new node's pod, and the requests lost and sent.
func benchMoves(b *testing.B, l *lab.Lab, ctx context.Context, w *lab.RouteWatch) ([]time.Duration, int, int) {
	b.Helper()
	const ns, app = "bench-move", "move"
	n1, n2 := l.NodeList[0], l.NodeList[1]
	if err := l.CreateBackends(ctx, ns, app, []lab.Node{n1, n2}); err != nil {
		b.Fatal(err)
	}
	if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n2), false); err != nil {
		b.Fatal(err)
	}
	if _, err := l.CreateService(ctx, ns, app, app, lab.ServiceOptions{Local: true}); err != nil {
		b.Fatal(err)
	}
	got := waitIngress(b, l, ctx, ns, app)
	prefix := netip.PrefixFrom(got[0], 32)
	only := func(n lab.Node) func(lab.RouteChange) bool {
		return func(c lab.RouteChange) bool {
			return c.Prefix == prefix && slices.Equal(c.Hops, []string{n.Addr.String()})
		}
	}
	if _, err := w.Wait(time.Time{}, time.Minute, only(n1)); err != nil {
		b.Fatal(err)
	}
	f, err := l.StartFetchTimeline(lab.URL(got[0]), 20*time.Millisecond, benchMoveTimeout, benchMoveWorkers)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _, _ = f.Stop() }()
	time.Sleep(time.Second)
	type move struct {
		at time.Time
		to string
	}
	var moves []move
	from, to := n1, n2
	for range benchMovesN {
		start := time.Now()
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, to), true); err != nil {
			b.Fatal(err)
		}
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, from), false); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Wait(start, 30*time.Second, only(to)); err != nil {
			b.Fatalf("move to %s: %v", to.Name, err)
		}
		moves = append(moves, move{start, to.Name})
		time.Sleep(2 * time.Second) // requests after the move settle
		from, to = to, from
	}
	res, err := f.Stop()
	if err != nil {
		b.Fatal(err)
	}
	var moved []time.Duration
	for i, m := range moves {
		end := time.Now()
		if i+1 < len(moves) {
			end = moves[i+1].at
		}
		for _, s := range res.Timeline {
			if !s.At.Before(m.at) && s.At.Before(end) && s.Node == m.to {
				moved = append(moved, s.At.Sub(m.at))
				break
			}
		}
	}
	if len(moved) != len(moves) {
		for i, m := range moves {
			end := time.Now()
			if i+1 < len(moves) {
				end = moves[i+1].at
			}
			seen := map[string]int{}
			for _, s := range res.Timeline {
				if !s.At.Before(m.at) && s.At.Before(end) {
					seen[s.Node]++
				}
			}
			b.Logf("move %d to %s at %s: replies by node until the next move %v (\"\": failed)", i, m.to, m.at.Format(time.StampMilli), seen)
		}
		b.Fatalf("%d of %d moves saw a reply from the new node's pod before the next move", len(moved), len(moves))
	}
	return moved, res.Errors, res.Requests
}

// waitV6Sessions waits until the router's IPv6 sessions with every node
// are established.
func waitV6Sessions(l *lab.Lab, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := l.SessionStates()
		if err != nil {
			return err
		}
		{
			up := 0
			for _, n := range l.NodeList {
				if st[n.AddrV6.String()] == "Established" {
					up++
				}
			}
			if up == len(l.NodeList) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("IPv6 sessions not all established after %s: %v", timeout, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// labBench runs a lab benchmark b.N times and prints the rows of each run
// under title.
func labBench(b *testing.B, title string, run func(*testing.B, *lab.Lab, context.Context) []string) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	for range b.N {
		printTable(title, run(b, theLab, context.Background()))
	}
}

// printTable prints a benchmark's rows (tab-separated, as row makes them)
// under title, aligned.
func printTable(title string, rows []string) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "\n"+title+"\tSAMPLES\tP50\tP99\tMAX")
	for _, r := range rows {
		_, _ = fmt.Fprintln(tw, r)
	}
	_ = tw.Flush()
}

func row(what string, d []time.Duration) string {
	return fmt.Sprintf("%s\t%d\t%s\t%s\t%s", what, len(d), ms(percentile(d, 50)), ms(percentile(d, 99)), ms(percentile(d, 100)))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

// percentile is the nearest-rank percentile p of d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(i, 0)]
}

// benchBFDCuts is how many times BenchmarkBFDFailover pulls the cable per
// timer setting.
const benchBFDCuts = 20

// BenchmarkBFDFailover measures, at the router's kernel routing table, how
// long a node whose fabric cable is pulled (carrier loss: no FIN, no
// NOTIFICATION) stays in a Service's ECMP route with BFD on the BGPPeer,
// at 300 ms × 3 and at 100 ms × 3 (the router's BFD profile set to the
// same timers: its detection time bounds the figure), benchBFDCuts cuts
// each, and how long after the replug the node is back in the route. The
// floor is FRR's detection time (multiplier × interval) plus its route
// reprogramming. It prints a table; run it with `make bench` (root).
func BenchmarkBFDFailover(b *testing.B) {
	labBench(b, "LAB BFD FAILOVER (sm-router's kernel table; timed from before the `ip link set`)", benchBFDFailover)
}

func benchBFDFailover(b *testing.B, l *lab.Lab, ctx context.Context) []string {
	b.Helper()
	const ns, app = "bench-bfd", "web"
	if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	n1 := l.NodeList[0]
	// Local policy with a pod on every node: each node announces.
	prefix := hostPrefix(serviceAddr(b, l, ctx, ns, app, l.NodeList, lab.ServiceOptions{Local: true}))
	all := addrs(l.NodeList...)
	wantNextHops(b, l, prefix, all)
	w, err := l.WatchRoutes()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	rig := cableRig{w: w, n: n1, prefix: prefix, all: all}
	defer func() {
		_ = lab.SetCable(n1, true)
		if err := l.SetBFDProfile(300, 300, 3); err != nil {
			b.Error(err)
		}
		if err := setPeerBFD(l, ctx, nil); err != nil {
			b.Error(err)
		}
		wantBFDNotUp(b, l, l.NodeList)
		wantSessions(b, l)
		wantNextHops(b, l, prefix, all)
	}()

	var rows []string
	for _, iv := range []int{300, 100} {
		interval := &metav1.Duration{Duration: time.Duration(iv) * time.Millisecond}
		if err := l.SetBFDProfile(iv, iv, 3); err != nil {
			b.Fatal(err)
		}
		if err := setPeerBFD(l, ctx, &seamarkv1alpha1.BFD{Enabled: true, ReceiveInterval: interval, TransmitInterval: interval}); err != nil {
			b.Fatal(err)
		}
		wantBFDUpWith(b, l, l.NodeList, iv, iv, 3, iv, 3*time.Second)
		wantSessions(b, l)
		wantNextHops(b, l, prefix, all)
		var left, back []time.Duration
		for i := range benchBFDCuts {
			took, ok := rig.cut(b, 10*time.Second)
			if !ok {
				b.Fatalf("BFD %dms×3, cut %d: %s's next hop still in the router's route for %s 10s after its cable was pulled", iv, i, n1.Name, prefix)
			}
			left = append(left, took)
			back = append(back, rig.plug(b))
			// The next cut starts with BFD up again for the node.
			wantBFDUpWith(b, l, []lab.Node{n1}, iv, iv, 3, iv, 0)
		}
		rows = append(rows,
			row(fmt.Sprintf("BFD %dms×3: cable pulled → next hop out of the route (FRR detects in %d–%dms, then reprograms)", iv, 2*iv, 3*iv), left),
			row(fmt.Sprintf("BFD %dms×3: cable plugged back → next hop back in the route", iv), back))
		b.ReportMetric(float64(percentile(left, 50).Milliseconds()), fmt.Sprintf("cut%d-p50-ms", iv))
		b.ReportMetric(float64(percentile(left, 99).Milliseconds()), fmt.Sprintf("cut%d-p99-ms", iv))
	}
	return rows
}

// createIPv6Services creates n single-stack IPv6 LoadBalancer Services
// s0000... in ns from pool, without endpoints, from 16 clients at once.
func createIPv6Services(ctx context.Context, l *lab.Lab, ns, pool string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for k := range 16 {
		wg.Go(func() {
			for i := k; i < n; i += 16 {
				svc := &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s%04d", i),
						Annotations: map[string]string{seamarkv1alpha1.AnnotationPool: pool}},
					Spec: corev1.ServiceSpec{
						Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "none"},
						IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol},
						Ports:      []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(80), Protocol: corev1.ProtocolTCP}},
					},
				}
				if err := l.Client.Create(ctx, svc); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
