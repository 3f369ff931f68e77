//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seamark-io/seamark/e2e/lab"
)

// The chaos scenario's knobs: SEAMARK_CHAOS_DURATION (default 3m) and
// SEAMARK_CHAOS_SEED (default: from the clock; the test prints it, and the
// same seed replays the same faults in the same order at the same times).
const (
	chaosServices = 20
	// A fault every chaosFaultMin to chaosFaultMax: a bounded rate, and
	// time for each fault's loss to end before the next one.
	chaosFaultMin = 15 * time.Second
	chaosFaultMax = 25 * time.Second
	// chaosAPIServerDown is how long a killed apiserver stays down.
	chaosAPIServerDown = 10 * time.Second
	chaosInterval      = 100 * time.Millisecond
	chaosTimeout       = time.Second
	// The lab's BGPPeer hold time: a crashed speaker's node leaves the
	// router's ECMP set by then at the latest.
	chaosHoldTime = 9 * time.Second
)

// A fault kind the chaos scenario injects.
type faultKind string

const (
	faultControllerKill faultKind = "controller SIGKILL"
	faultControllerTerm faultKind = "controller SIGTERM"
	faultSpeakerKill    faultKind = "speaker SIGKILL"
	faultSpeakerTerm    faultKind = "speaker SIGTERM"
	faultRouterKill     faultKind = "FRR bgpd SIGKILL"
	faultAPIServerKill  faultKind = "kube-apiserver SIGKILL"
)

var faultKinds = []faultKind{faultControllerKill, faultControllerTerm, faultSpeakerKill, faultSpeakerTerm, faultRouterKill, faultAPIServerKill}

// lossBound is the longest a fault of each kind may cost requests, from
// the fault to the last failed request it caused: none for what the data
// path does not depend on or a graceful stop; the hold time (plus a
// request's timeout) for a speaker crash, after which the router has
// dropped the node — in practice the node's kernel closes the session at
// once; for the router itself, its restart plus the sessions' return (the
// speakers' 5 s idle hold and a connect retry).
var lossBound = map[faultKind]time.Duration{
	faultControllerKill: 0, faultControllerTerm: 0, faultSpeakerTerm: 0, faultAPIServerKill: 0,
	faultSpeakerKill: chaosHoldTime + chaosTimeout,
	faultRouterKill:  30 * time.Second,
}

// fault is one injected fault.
type fault struct {
	At     time.Duration // after the start
	Kind   faultKind
	Target int // the replica or node, by index
}

// chaosSchedule draws the faults of a run from seed: every kind once
// first, in a random order, then random kinds, one every chaosFaultMin to
// chaosFaultMax, until duration.
func chaosSchedule(seed uint64, duration time.Duration, replicas, nodes int) []fault {
	r := rand.New(rand.NewPCG(seed, seed^0x5eaa))
	kinds := slices.Clone(faultKinds)
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	var out []fault
	at := chaosFaultMin / 2
	for i := 0; at < duration; i++ {
		k := faultKinds[r.IntN(len(faultKinds))]
		if i < len(kinds) {
			k = kinds[i]
		}
		f := fault{At: at, Kind: k}
		switch k {
		case faultControllerKill, faultControllerTerm:
			f.Target = r.IntN(replicas)
		case faultSpeakerKill, faultSpeakerTerm:
			f.Target = r.IntN(nodes)
		}
		out = append(out, f)
		at += chaosFaultMin + time.Duration(r.Int64N(int64(chaosFaultMax-chaosFaultMin)))
	}
	return out
}

func chaosDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("SEAMARK_CHAOS_DURATION")
	if s == "" {
		return 3 * time.Minute
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		fatal(t, "SEAMARK_CHAOS_DURATION=%q: want a positive duration such as 3m", s)
	}
	return d
}

func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	s := os.Getenv("SEAMARK_CHAOS_SEED")
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	seed, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		fatal(t, "SEAMARK_CHAOS_SEED=%q: want an unsigned integer", s)
	}
	return seed
}

// addressWatch checks snapshots of Services' addresses for the two
// failures the controller must never show: one address on two Services at
// once (duplicate), a Service whose address changes (moved).
type addressWatch struct {
	first      map[types.UID]netip.Addr
	duplicates []string
	moved      []string
	snapshots  int
}

func newAddressWatch() *addressWatch { return &addressWatch{first: map[types.UID]netip.Addr{}} }

// observe takes one snapshot.
func (w *addressWatch) observe(svcs []corev1.Service) {
	w.snapshots++
	holder := map[netip.Addr]string{}
	for i := range svcs {
		s := &svcs[i]
		for _, a := range lab.IngressAddrs(s) {
			key := s.Namespace + "/" + s.Name
			if h, ok := holder[a]; ok {
				w.duplicates = append(w.duplicates, fmt.Sprintf("%s on %s and %s", a, h, key))
			}
			holder[a] = key
			if f, ok := w.first[s.UID]; !ok {
				w.first[s.UID] = a
			} else if f != a {
				w.moved = append(w.moved, fmt.Sprintf("%s from %s to %s", key, f, a))
				w.first[s.UID] = a
			}
		}
	}
}

// The control of the chaos scenario's address checks: they see a
// duplicate and a move in hand-made snapshots, and nothing in good ones.
// (No lab needed.)
func TestAddressWatchDetects(t *testing.T) {
	svc := func(uid, name, addr string) corev1.Service {
		s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid)}}
		if addr != "" {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: addr}}
		}
		return s
	}
	for _, tt := range []struct {
		name            string
		snapshots       [][]corev1.Service
		duplicates, mov int
	}{
		{"addresses kept and a released one reused by a new Service are fine", [][]corev1.Service{
			{svc("1", "a", "198.51.100.1"), svc("2", "b", "")},
			{svc("1", "a", "198.51.100.1"), svc("2", "b", "198.51.100.2")},
			{svc("2", "b", "198.51.100.2"), svc("3", "c", "198.51.100.1")},
		}, 0, 0},
		{"two Services with one address are a duplicate", [][]corev1.Service{
			{svc("1", "a", "198.51.100.1"), svc("2", "b", "198.51.100.1")},
		}, 1, 0},
		{"a Service whose address changes moved", [][]corev1.Service{
			{svc("1", "a", "198.51.100.1")},
			{svc("1", "a", "198.51.100.7")},
		}, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newAddressWatch()
			for _, s := range tt.snapshots {
				w.observe(s)
			}
			if len(w.duplicates) != tt.duplicates || len(w.moved) != tt.mov {
				fatal(t, "duplicates %v, moved %v; want %d and %d", w.duplicates, w.moved, tt.duplicates, tt.mov)
			}
		})
	}
}

// The schedule is a function of the seed: a failure replays.
func TestChaosScheduleReplays(t *testing.T) {
	a, b := chaosSchedule(42, 3*time.Minute, 2, 3), chaosSchedule(42, 3*time.Minute, 2, 3)
	if !slices.Equal(a, b) {
		fatal(t, "seed 42 gave %v, then %v", a, b)
	}
	seen := map[faultKind]bool{}
	for _, f := range a {
		seen[f.Kind] = true
		if f.At >= 3*time.Minute {
			fatal(t, "fault %+v after the end", f)
		}
	}
	if len(seen) != len(faultKinds) {
		fatal(t, "3 minutes of faults have kinds %v, want all %v", seen, faultKinds)
	}
}

// Scenario 13 (chaos): for SEAMARK_CHAOS_DURATION (3 minutes) two
// controller replicas with leader election, the speakers, FRR's bgpd and
// kube-apiserver are killed (SIGKILL) or stopped (SIGTERM) at random,
// seeded (SEAMARK_CHAOS_SEED replays a run), one fault every 15-25 s, while
// sm-client sends continuous requests to 20 Services (10 Cluster through
// every node, 10 Local through two) and Services are created and deleted.
// A supervisor restarts what dies, as the kubelet would. Every second the
// Services' addresses are checked: no address on two Services, no
// Service's address changed. Afterwards every Service is addressed and
// routed via exactly the nodes that should announce it; the failed
// requests per fault kind are printed and bounded (lossBound): none on
// graceful stops, the controller's or the apiserver's death; within the
// hold time after a speaker crash; within the router's restart after its
// own. The controls: TestAddressWatchDetects, and the converged check
// fails with one speaker stopped.
func TestChaos(t *testing.T) {
	const ns = "e2e-chaos"
	l, ctx := setup(t, ns)
	duration, seed := chaosDuration(t), chaosSeed(t)
	schedule := chaosSchedule(seed, duration, 2, len(l.NodeList))
	t.Logf("Chaos for %s with seed %d (SEAMARK_CHAOS_SEED=%d replays it): %d faults", duration, seed, seed, len(schedule))
	n1, n2 := l.NodeList[0], l.NodeList[1]

	setupStart := time.Now()
	// Two controller replicas with leader election instead of the lab's one.
	if err := l.StopProcess("seamark-controller", 10*time.Second); err != nil {
		fatal(t, "%v", err)
	}
	replicas := []string{lab.ControllerReplica(1), lab.ControllerReplica(2)}
	for i := range replicas {
		if err := l.StartControllerReplica(i + 1); err != nil {
			fatal(t, "%v", err)
		}
	}
	procs := map[string]func() error{
		replicas[0]: func() error { return l.StartControllerReplica(1) },
		replicas[1]: func() error { return l.StartControllerReplica(2) },
		"bgpd": func() error {
			l.StopRouter()
			return l.StartRouter(lab.RouterConfig{Nodes: l.NodeList})
		},
		"kube-apiserver": func() error {
			if _, ok := l.Pid("etcd"); !ok {
				if err := l.StartEtcd(); err != nil {
					return err
				}
			}
			return l.StartAPIServer(context.Background())
		},
	}
	for _, n := range l.NodeList {
		procs[lab.SpeakerProcess(n)] = func() error { return l.StartSpeaker(n, nil) }
	}
	sup := l.Supervise(procs)
	t.Cleanup(func() {
		// The rest of the suite runs without the chaos Services.
		_ = l.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		sup.Stop()
		for _, r := range replicas {
			_ = l.StopProcess(r, 10*time.Second)
		}
		if _, ok := l.Pid("seamark-controller"); !ok {
			if err := l.StartController(); err != nil {
				errorf(t, "%v", err)
			}
		}
		for _, n := range l.NodeList {
			if _, ok := l.Pid(lab.SpeakerProcess(n)); !ok {
				if err := l.StartSpeaker(n, nil); err != nil {
					errorf(t, "%v", err)
				}
			}
		}
		wantSessions(t, l)
	})

	// 20 Services with traffic: Cluster ones on pods of every node, Local
	// ones on pods of the first two nodes (which alone announce them).
	if err := l.CreateBackends(ctx, ns, "web", l.NodeList); err != nil {
		fatal(t, "%v", err)
	}
	if err := l.CreateBackends(ctx, ns, "pair", []lab.Node{n1, n2}); err != nil {
		fatal(t, "%v", err)
	}
	want := map[string][]string{} // Service → next hops
	var urls []string
	for i := range chaosServices {
		name, app, o, hops := fmt.Sprintf("cluster-%02d", i), "web", lab.ServiceOptions{}, addrs(l.NodeList...)
		if i >= chaosServices/2 {
			name, app, o, hops = fmt.Sprintf("local-%02d", i), "pair", lab.ServiceOptions{Local: true}, addrs(n1, n2)
		}
		if _, err := l.CreateService(ctx, ns, name, app, o); err != nil {
			fatal(t, "%v", err)
		}
		want[name] = hops
	}
	for name, hops := range want {
		a := waitIngress(t, l, ctx, ns, name)
		wantNextHops(t, l, hostPrefix(a[0]), hops)
		urls = append(urls, lab.URL(a[0]))
	}
	var fetchers []*lab.Fetcher
	fetchersStopped := false
	for _, u := range urls {
		f, err := l.StartFetchTimeline(u, chaosInterval, chaosTimeout, 1)
		if err != nil {
			fatal(t, "%v", err)
		}
		fetchers = append(fetchers, f)
		// Only if the test ends early: a second Stop waits out its timeout.
		t.Cleanup(func() {
			if !fetchersStopped {
				_, _ = f.Stop()
			}
		})
	}

	t.Logf("Set up %d Services with traffic in %s", len(urls), time.Since(setupStart).Round(time.Second))

	// Churn and the address checks run until the faults end.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var bg sync.WaitGroup
	watch := newAddressWatch()
	var watchMu sync.Mutex
	churned := 0
	bg.Go(func() {
		var live []string
		for i := 0; runCtx.Err() == nil; i++ {
			name := fmt.Sprintf("churn-%03d", i)
			if _, err := l.CreateService(runCtx, ns, name, "web", lab.ServiceOptions{}); err == nil {
				live = append(live, name)
				churned++
			}
			if len(live) > 5 {
				if err := l.Client.Delete(runCtx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: live[0]}}); err == nil {
					live = live[1:]
				}
			}
			select {
			case <-runCtx.Done():
			case <-time.After(3 * time.Second):
			}
		}
	})
	bg.Go(func() {
		for runCtx.Err() == nil {
			var svcs corev1.ServiceList
			if err := l.Client.List(runCtx, &svcs); err == nil {
				watchMu.Lock()
				watch.observe(svcs.Items)
				watchMu.Unlock()
			}
			select {
			case <-runCtx.Done():
			case <-time.After(time.Second):
			}
		}
	})

	// The faults.
	start := time.Now()
	type injected struct {
		fault
		at  time.Time
		err error
	}
	var done []injected
	for _, f := range schedule {
		time.Sleep(time.Until(start.Add(f.At)))
		in := injected{fault: f, at: time.Now()}
		switch f.Kind {
		case faultControllerKill:
			in.err = l.Signal(replicas[f.Target], syscall.SIGKILL)
		case faultControllerTerm:
			in.err = l.Signal(replicas[f.Target], syscall.SIGTERM)
		case faultSpeakerKill:
			in.err = l.Signal(lab.SpeakerProcess(l.NodeList[f.Target]), syscall.SIGKILL)
		case faultSpeakerTerm:
			in.err = l.Signal(lab.SpeakerProcess(l.NodeList[f.Target]), syscall.SIGTERM)
		case faultRouterKill:
			in.err = l.Signal("bgpd", syscall.SIGKILL)
		case faultAPIServerKill:
			sup.Hold("kube-apiserver", true)
			in.err = l.Signal("kube-apiserver", syscall.SIGKILL)
			go func() { time.Sleep(chaosAPIServerDown); sup.Hold("kube-apiserver", false) }()
		}
		t.Logf("+%s %s (target %d): %v", in.at.Sub(start).Round(time.Millisecond), f.Kind, f.Target, in.err)
		done = append(done, in)
	}
	time.Sleep(time.Until(start.Add(duration)))
	t.Logf("Faults over after %s; waiting for convergence", time.Since(start).Round(time.Second))

	// converged reports whether every Service of ns is addressed and
	// routed via exactly the nodes that should announce it.
	converged := func() error {
		var svcs corev1.ServiceList
		if err := l.Client.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			return err
		}
		for i := range svcs.Items {
			s := &svcs.Items[i]
			a := lab.IngressAddrs(s)
			if len(a) != 1 {
				return fmt.Errorf("Service %s has addresses %v", s.Name, a)
			}
			hops, ok := want[s.Name]
			if !ok {
				hops = addrs(l.NodeList...) // churn: Cluster, pods everywhere
			}
			got, err := l.KernelNextHops(hostPrefix(a[0]))
			if err != nil {
				return err
			}
			slices.Sort(got)
			if !slices.Equal(got, hops) {
				return fmt.Errorf("Service %s (%s) routed via %v, want %v", s.Name, a[0], got, hops)
			}
		}
		return nil
	}
	convergeStart := time.Now()
	eventually(t, 3*time.Minute, "every Service addressed and routed via its nodes", converged)
	t.Logf("Converged %s after the last fault window", time.Since(convergeStart).Round(time.Second))
	time.Sleep(2 * time.Second) // requests after convergence
	stopRun()
	bg.Wait()
	var timeline []lab.Sample
	requests := 0
	fetchersStopped = true
	for _, f := range fetchers {
		res, err := f.Stop()
		if err != nil {
			fatal(t, "%v", err)
		}
		requests += res.Requests
		timeline = append(timeline, res.Timeline...)
	}
	slices.SortFunc(timeline, func(a, b lab.Sample) int { return a.At.Compare(b.At) })

	// Attribute every failed request to the last fault before it.
	type tally struct {
		faults, failed int
		window         time.Duration
	}
	per := map[faultKind]*tally{}
	for _, k := range faultKinds {
		per[k] = &tally{}
	}
	for _, in := range done {
		per[in.Kind].faults++
	}
	unattributed := 0
	for _, s := range timeline {
		if s.Node != "" {
			continue
		}
		i := -1
		for j := range done {
			if !done[j].at.After(s.At) {
				i = j
			}
		}
		if i < 0 {
			unattributed++
			continue
		}
		tl := per[done[i].Kind]
		tl.failed++
		tl.window = max(tl.window, s.At.Sub(done[i].at))
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "fault\tinjected\tfailed requests\tlast failure after the fault\tbound\n")
	for _, k := range faultKinds {
		tl := per[k]
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", k, tl.faults, tl.failed, tl.window.Round(time.Millisecond), lossBound[k])
	}
	_ = tw.Flush()
	watchMu.Lock()
	t.Logf("Chaos, seed %d, %s: %d requests to %d Services, %d failed before any fault; %d Services churned; %d address snapshots: %d duplicates, %d moved; restarts %v\n%s",
		seed, duration, requests, len(urls), unattributed, churned, watch.snapshots, len(watch.duplicates), len(watch.moved), sup.Restarts(), b.String())
	if len(watch.duplicates) > 0 || len(watch.moved) > 0 {
		errorf(t, "duplicates %v; moved %v", watch.duplicates, watch.moved)
	}
	watchMu.Unlock()
	if unattributed > 0 {
		errorf(t, "%d requests failed before the first fault", unattributed)
	}
	for _, k := range faultKinds {
		if tl := per[k]; tl.failed > 0 && tl.window > lossBound[k] {
			errorf(t, "%s: %d requests failed, the last %s after the fault, beyond the bound of %s (seed %d)", k, tl.failed, tl.window.Round(time.Millisecond), lossBound[k], seed)
		}
	}
	if requests < int(duration/chaosInterval) {
		errorf(t, "only %d requests were sent: the scenario proves little", requests)
	}

	// The control: with a speaker stopped, the converged check fails.
	t.Run("control: the converged check sees a missing node", func(t *testing.T) {
		speaker := lab.SpeakerProcess(n2)
		sup.Hold(speaker, true)
		defer sup.Hold(speaker, false)
		if err := l.StopProcess(speaker, 30*time.Second); err != nil {
			fatal(t, "%v", err)
		}
		eventually(t, 30*time.Second, "the converged check fails without "+n2.Name+"'s speaker", func() error {
			if err := converged(); err == nil {
				return fmt.Errorf("converged although %s announces nothing", n2.Name)
			}
			return nil
		})
	})
}
