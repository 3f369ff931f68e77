//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/e2e/lab"
)

var l2BenchRuns = flag.Int("l2.runs", 20, "BenchmarkLayer2Failover: faults per kind and profile")

// BenchmarkLayer2Failover measures layer 2 failover from the client's
// side: the time from the fault, taken by the test driver just before it
// acts, to the change of sm-l2client's neighbour entry for the address to
// the new owner's MAC (`ip -ts monitor neigh` in sm-l2client; the entry is
// only rewritten by the new owner's gratuitous ARP, so this is when the
// client's packets start going there). For the fast and the balanced
// profile, -l2.runs times each:
//   - crash: the owner's speaker is SIGKILLed and its node's fabric cable
//     pulled at the same moment (a node that dies: nothing answers the
//     gossip probes any more);
//   - graceful: SIGTERM to the owner's speaker (a rolling update);
//
// and once, with the default profile: an externalTrafficPolicy Local
// Service's only ready endpoint moves to another node (readiness written
// to the apiserver → new owner's MAC at the client). It prints a table;
// run it with `make bench` (root).
func BenchmarkLayer2Failover(b *testing.B) {
	labBench(b, "LAB LAYER 2 FAILOVER (sm-l2client's neighbour table; timed from the fault)", benchLayer2Failover)
}

func benchLayer2Failover(b *testing.B, l *lab.Lab, ctx context.Context) []string {
	b.Helper()
	const ns = "bench-l2"
	if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	w, err := l.WatchNeigh()
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	addr := l2Service(b, l, ctx, ns, "web", "web", lab.ServiceOptions{})
	owner := elect(addr, l.NodeList...)
	next := elect(addr, others(l, owner)...)
	// Backends where the faults are not, for the request that refreshes
	// the client's entry before each fault.
	if err := l.CreateBackends(ctx, ns, "web", others(l, owner)); err != nil {
		b.Fatal(err)
	}
	var rows []string
	for _, profile := range []string{"fast", "balanced"} {
		flags := []string{"--layer2-profile=" + profile}
		for _, n := range l.NodeList {
			if err := l.Signal(lab.SpeakerProcess(n), syscall.SIGTERM); err != nil {
				b.Fatal(err)
			}
			restartSpeaker(b, l, n, flags)
		}
		waitMembers(b, l, ctx, 3)
		wantOwner(b, l, ctx, addr, owner, 30*time.Second)
		wantFetch(b, l, addr, 1)
		settledAt(b, w, addr, owner)
		var crash, graceful []time.Duration
		for range *l2BenchRuns {
			crash = append(crash, l2Fault(b, l, ctx, w, addr, owner, next, flags, true))
			graceful = append(graceful, l2Fault(b, l, ctx, w, addr, owner, next, flags, false))
		}
		rows = append(rows, row(profile+" crash (SIGKILL + cable)", crash), row(profile+" graceful (SIGTERM)", graceful))
	}
	// The lab's speakers go back to the default profile.
	for _, n := range l.NodeList {
		if err := l.Signal(lab.SpeakerProcess(n), syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		restartSpeaker(b, l, n, nil)
	}
	waitMembers(b, l, ctx, 3)
	rows = append(rows, row("Local endpoint move (balanced)", l2EndpointMoves(b, l, ctx, w, ns)))
	return rows
}

// l2Fault crashes (SIGKILL and cable) or stops (SIGTERM) owner's speaker,
// returns how long the client took to see addr at next's MAC, then brings
// owner back and waits until the client sees addr at owner's MAC again.
func l2Fault(b *testing.B, l *lab.Lab, ctx context.Context, w *lab.NeighWatch, addr netip.Addr, owner, next lab.Node, flags []string, crash bool) time.Duration {
	b.Helper()
	// The client has a current entry for addr: only an existing entry
	// is rewritten by a gratuitous ARP.
	wantFetch(b, l, addr, 1)
	at := time.Now()
	if crash {
		if err := l.Signal(lab.SpeakerProcess(owner), syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		if err := lab.SetCable(owner, false); err != nil {
			b.Fatal(err)
		}
	} else if err := l.Signal(lab.SpeakerProcess(owner), syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	c, err := w.Wait(at, 15*time.Second, func(c lab.NeighChange) bool {
		return c.Addr == addr && strings.EqualFold(c.LLAddr, mac(b, next))
	})
	if err != nil {
		b.Fatalf("the client's entry for %s did not move to %s: %v", addr, next.Name, err)
	}
	if c.At.Sub(at) > 2*time.Second {
		for _, ch := range w.Changes() {
			if ch.Addr == addr && ch.At.After(at.Add(-3*time.Second)) {
				b.Logf("  %s %s %s %v", ch.At.Format("15:04:05.000000"), ch.LLAddr, ch.State, ch.Deleted)
			}
		}
	}
	if crash {
		if err := lab.SetCable(owner, true); err != nil {
			b.Fatal(err)
		}
	}
	back := time.Now()
	restartSpeaker(b, l, owner, flags)
	if _, err := w.Wait(back, 30*time.Second, func(c lab.NeighChange) bool {
		return c.Addr == addr && strings.EqualFold(c.LLAddr, mac(b, owner))
	}); err != nil {
		b.Fatalf("the restarted %s did not take %s back: %v", owner.Name, addr, err)
	}
	// Every speaker sees all three again, and the client has settled on
	// the owner, before the next fault.
	waitMembers(b, l, ctx, 3)
	settledAt(b, w, addr, owner)
	b.Logf("%s of %s at %s: the client saw %s at %s after %s", map[bool]string{true: "crash", false: "SIGTERM"}[crash],
		owner.Name, at.Format("15:04:05.000"), addr, next.Name, c.At.Sub(at).Round(time.Millisecond))
	return c.At.Sub(at)
}

// settledAt waits until sm-l2client's entry for addr has been at n's
// MAC, with no change, for longer than a take-over's burst of gratuitous
// ARPs (2.2 s), and fails if that does not happen within 30 s: the
// owners would still be trading the address.
func settledAt(b testing.TB, w *lab.NeighWatch, addr netip.Addr, n lab.Node) {
	b.Helper()
	const quiet = 3 * time.Second
	deadline := time.Now().Add(30 * time.Second)
	for {
		var last lab.NeighChange
		for _, c := range w.Changes() {
			if c.Addr == addr && c.LLAddr != "" {
				last = c
			}
		}
		if strings.EqualFold(last.LLAddr, mac(b, n)) && time.Since(last.At) > quiet {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("sm-l2client's entry for %s did not settle at %s's MAC: last change %+v", addr, n.Name, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitMembers waits until every speaker's SpeakerStatus counts n members.
func waitMembers(b testing.TB, l *lab.Lab, ctx context.Context, n int32) {
	b.Helper()
	eventually(b, 30*time.Second, fmt.Sprintf("%d gossip members on every node", n), func() error {
		for _, node := range l.NodeList {
			var st seamarkv1alpha1.SpeakerStatus
			if err := l.Client.Get(ctx, client.ObjectKey{Name: node.Name}, &st); err != nil {
				return err
			}
			if st.Status.Memberlist == nil || st.Status.Memberlist.Members != n {
				return fmt.Errorf("%s: memberlist %+v", node.Name, st.Status.Memberlist)
			}
		}
		return nil
	})
}

// l2EndpointMoves moves a Local Service's one ready endpoint around the
// nodes *l2BenchRuns times and returns, per move, the time from the
// readiness writes to the client's entry at the new node's MAC.
func l2EndpointMoves(b *testing.B, l *lab.Lab, ctx context.Context, w *lab.NeighWatch, ns string) []time.Duration {
	b.Helper()
	const app = "local"
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		b.Fatal(err)
	}
	for _, n := range l.NodeList[1:] {
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, n), false); err != nil {
			b.Fatal(err)
		}
	}
	addr := l2Service(b, l, ctx, ns, app, app, lab.ServiceOptions{Local: true})
	cur := l.NodeList[0]
	wantOwner(b, l, ctx, addr, cur, 30*time.Second)
	var out []time.Duration
	for i := range *l2BenchRuns {
		to := l.NodeList[(i+1)%len(l.NodeList)]
		if err := lab.PokeFromL2Client(addr); err != nil {
			b.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		at := time.Now()
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, to), true); err != nil {
			b.Fatal(err)
		}
		if err := l.SetPodReady(ctx, ns, lab.BackendPod(app, cur), false); err != nil {
			b.Fatal(err)
		}
		c, err := w.Wait(at, 15*time.Second, func(c lab.NeighChange) bool {
			return c.Addr == addr && strings.EqualFold(c.LLAddr, mac(b, to))
		})
		if err != nil {
			b.Fatalf("the client's entry for %s did not follow the endpoint to %s: %v", addr, to.Name, err)
		}
		out = append(out, c.At.Sub(at))
		cur = to
	}
	_ = l.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	return out
}
