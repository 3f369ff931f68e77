//go:build integration

package controllers_test

// Split brain: several controllers grant at once. Each scenario samples the
// Services continuously and counts what breaks "an address is never on two
// Services and never moves while its Service exists" (the invariants I1–I4
// of the allocation core); the tests assert zero, BenchmarkSplitBrainSoak
// repeats the scenarios under CPU contention and prints the counts.

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// sbCIDR is the pool of run `run` of scenario `scenario`: 511 usable
// IPv6 addresses, none shared with another run or test.
func sbCIDR(scenario, run int) string {
	return fmt.Sprintf("2001:db8:5%x%02x::/119", scenario, run)
}

// sbSetup creates the namespace and pool of a run and starts the sampler.
func sbSetup(t testing.TB, scenario string, id, run int) (cs kubernetes.Interface, n, pool string, s *sbSampler) {
	t.Helper()
	cs = kubernetes.NewForConfigOrDie(env.Config)
	n = ns(t, fmt.Sprintf("sb-%s-%02d", scenario, run))
	pool = n
	createPool(t, pool, n, []string{sbCIDR(id, run)})
	return cs, n, pool, startSampler(t, cs, n)
}

// splitBrainFromStart is scenario (a): two controllers from the start,
// leader election off, count Services created by 4 concurrent clients.
func splitBrainFromStart(t testing.TB, run, count int) sbCounts {
	cs, n, pool, s := sbSetup(t, "a", 1, run)
	stop1, stop2 := startController(t), startController(t)
	if err := sbCreate(context.Background(), cs, n, sbNames("a", 0, count), 4, nil); err != nil {
		t.Fatal(err)
	}
	final := sbSettle(t, n, pool, 60*time.Second)
	stop1()
	stop2()
	c := s.stop()
	c.add(final)
	sbCleanup(t, cs, n, pool)
	return c
}

// splitBrainMidBurst is scenario (b): one controller grants a burst of
// count creates; a second starts a quarter into it, as a rolling update's
// surge pod would.
func splitBrainMidBurst(t testing.TB, run, count int) sbCounts {
	cs, n, pool, s := sbSetup(t, "b", 2, run)
	stop1 := startController(t)
	var created atomic.Int32
	second := make(chan struct{})
	progress := func() {
		if created.Add(1) == int32(count/4) {
			close(second)
		}
	}
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- sbCreate(context.Background(), cs, n, sbNames("b", 0, count), 4, progress) }()
	<-second
	joined := time.Since(start)
	stop2 := startController(t)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("run %d: the second controller started %v into a burst of %d creates that took %v", run, joined.Round(time.Millisecond), count, time.Since(start).Round(time.Millisecond))
	final := sbSettle(t, n, pool, 60*time.Second)
	stop1()
	stop2()
	c := s.stop()
	c.add(final)
	sbCleanup(t, cs, n, pool)
	return c
}

// splitBrainFrozenLeader is scenario (c): two seamark-controller processes
// with leader election; the leader is frozen (SIGSTOP) with a burst in
// flight, the standby takes the Lease over and serves deletes and creates,
// then the old leader resumes (SIGCONT) with its stale cache and queue
// until it learns it lost the Lease.
func splitBrainFrozenLeader(t testing.TB, bin ctlBinary, run, gomaxprocs int) sbCounts {
	ctx := context.Background()
	cs, n, pool, s := sbSetup(t, "c", 3, run)
	resetLease(t)
	a := startCtlProc(t, bin, fmt.Sprintf("c%02d-a", run), gomaxprocs)
	waitLeader(t, 30*time.Second, a)
	b := startCtlProc(t, bin, fmt.Sprintf("c%02d-b", run), gomaxprocs)
	procs := []*ctlProc{a, b}
	logs := func() string {
		return fmt.Sprintf("\n--- %s:\n%s\n--- %s:\n%s", a.name, a.tailLog(3000), b.name, b.tailLog(3000))
	}

	if err := sbCreate(ctx, cs, n, sbNames("c", 0, 100), 4, nil); err != nil {
		t.Fatal(err)
	}
	softWait(t, 60*time.Second, "the first 100 Services to be addressed", func() (bool, string) { return sbAllAddressed(n) })

	// Freeze the leader a quarter into a burst: it has Services queued and
	// half-done that the standby will grant too.
	var created atomic.Int32
	quarter := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- sbCreate(ctx, cs, n, sbNames("c", 100, 200), 4, func() {
			if created.Add(1) == 25 {
				close(quarter)
			}
		})
	}()
	<-quarter
	frozen := waitLeader(t, 30*time.Second, procs...)
	holder := leaseHolder(t)
	if err := frozen.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozenAt := time.Now()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the standby to take the Lease over", func() (bool, string) {
		h := leaseHolder(t)
		return h != "" && h != holder, "held by " + h
	})
	took := time.Since(frozenAt)

	// The standby serves deletes and creates; the addresses freed go to the
	// new Services, which the frozen leader's cache still shows on the old
	// ones. Some come back under their old names, with new UIDs.
	if err := sbDelete(ctx, cs, n, sbNames("c", 0, 40), 4); err != nil {
		t.Fatal(err)
	}
	if err := sbCreate(ctx, cs, n, append(sbNames("c", 0, 20), sbNames("c", 200, 240)...), 4, nil); err != nil {
		t.Fatal(err)
	}
	softWait(t, 60*time.Second, "the standby to address every Service", func() (bool, string) {
		ok, msg := sbAllAddressed(n)
		return ok, msg + logs()
	})

	// Resume the old leader into a burst of creates and deletes: until it
	// learns it lost the Lease (up to its renew deadline), two leaders
	// grant, one of them from a stale cache and queue.
	before := frozen.incarnation()
	created.Store(0)
	resume := make(chan struct{})
	go func() {
		errc <- sbCreate(ctx, cs, n, sbNames("c", 250, 350), 4, func() {
			if created.Add(1) == 10 {
				close(resume)
			}
		})
	}()
	<-resume
	if err := frozen.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := sbDelete(ctx, cs, n, sbNames("c", 40, 60), 4); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the old leader to learn it lost the Lease and restart", func() (bool, string) {
		return frozen.incarnation() > before, fmt.Sprintf("%s started %d times", frozen.name, frozen.incarnation())
	})
	t.Logf("run %d: leader %s frozen for %v; the standby took the Lease over %v after the freeze", run, frozen.name, time.Since(frozenAt).Round(time.Millisecond), took.Round(time.Millisecond))

	final := sbSettle(t, n, pool, 60*time.Second)
	if final.violations() > 0 {
		t.Log(logs())
	}
	a.stop()
	b.stop()
	c := s.stop()
	c.add(final)
	sbCleanup(t, cs, n, pool)
	return c
}

// softWait is eventually for a state the final check counts anyway (an
// unaddressed Service): a timeout is logged, and the scenario goes on to
// count it, so that a soak run ends with its figures instead of aborting.
func softWait(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("timed out waiting for %s; last: %s", what, last)
}

// TestSplitBrain is scenario (a): two controllers from the start, 500
// Services.
func TestSplitBrain(t *testing.T) {
	splitBrainFromStart(t, 0, 500).assertClean(t, "two controllers from the start")
}

// TestSplitBrainMidBurst is scenario (b): the second controller starts
// during a burst of 300 creates.
func TestSplitBrainMidBurst(t *testing.T) {
	splitBrainMidBurst(t, 0, 300).assertClean(t, "second controller mid-burst")
}

// TestSplitBrainFrozenLeader is scenario (c): the leader is frozen past its
// Lease and resumed with a stale cache.
func TestSplitBrainFrozenLeader(t *testing.T) {
	bin := buildController(t)
	splitBrainFrozenLeader(t, bin, 0, 0).assertClean(t, "leader frozen past its Lease, then resumed")
}

// TestSplitBrainHandEdits: with two controllers running, a Service
// re-created under its name, an IPAllocation deleted by hand while another
// Service waits for an address, and a status edited by hand to another
// Service's address each end with the invariants true; the hand-edited
// status ends with a Warning Event on its Service.
func TestSplitBrainHandEdits(t *testing.T) {
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(env.Config)
	n := ns(t, "sb-edits")
	createPool(t, "sb-edits", n, []string{"203.0.113.0/29"}) // .1–.6
	// s3's status is edited by hand: its own changes are the test's doing.
	s := startSampler(t, cs, n, "s3")
	startController(t)
	startController(t)
	for i := 1; i <= 5; i++ {
		createService(t, n, fmt.Sprintf("s%d", i))
	}
	eventually(t, 30*time.Second, "s1–s5 to be addressed", func() (bool, string) { return sbAllAddressed(n) })
	get := func(name string) *corev1.Service {
		t.Helper()
		svc := &corev1.Service{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: n, Name: name}, svc); err != nil {
			t.Fatal(err)
		}
		return svc
	}
	backed := func(name string) (bool, string) {
		c, err := sbFinal(n, "sb-edits")
		if err != nil {
			return false, err.Error()
		}
		svc := get(name)
		return c.Unbacked == 0 && c.Stray == 0 && len(shownAddrs(svc)) == 1, fmt.Sprintf("%s shows %v; %s %v", name, shownAddrs(svc), c, c.Examples)
	}

	t.Run("a Service re-created under its name gets an address backed by an IPAllocation of its new UID", func(t *testing.T) {
		old := get("s1")
		deleteObj(t, old)
		createService(t, n, "s1")
		eventually(t, 30*time.Second, "the new s1 to be addressed and backed", func() (bool, string) { return backed("s1") })
		if now := get("s1"); now.UID == old.UID {
			t.Fatalf("s1 was not re-created: uid %s", now.UID)
		}
	})

	t.Run("an IPAllocation deleted by hand is written again for the Service that shows its address, never granted to a waiting one", func(t *testing.T) {
		createService(t, n, "s6")
		eventually(t, 30*time.Second, "s6 to be addressed", func() (bool, string) { return sbAllAddressed(n) })
		createService(t, n, "waiting")           // the pool is full
		waitWarning(t, n, "waiting", "sb-edits") // the refusal names the full pool
		shown := shownAddrs(get("s2"))
		if len(shown) != 1 {
			t.Fatalf("s2 shows %v", shown)
		}
		deleteObj(t, allocation(t, shown[0].String()))
		eventually(t, 30*time.Second, "s2's IPAllocation to be written again", func() (bool, string) {
			ok, msg := backed("s2")
			return ok && allocation(t, shown[0].String()) != nil, msg
		})
		// Both controllers have seen the deletion by now and had their chance
		// to hand the address out.
		time.Sleep(2 * time.Second)
		if got := shownAddrs(get("waiting")); len(got) != 0 {
			t.Errorf("waiting got %v while s2 shows %v", got, shown)
		}
		if got := shownAddrs(get("s2")); len(got) != 1 || got[0] != shown[0] {
			t.Errorf("s2 shows %v, before %v", got, shown)
		}
		deleteObj(t, get("waiting"))
	})

	t.Run("a status edited by hand to another Service's address is put right, with a Warning Event", func(t *testing.T) {
		taken := shownAddrs(get("s4"))
		if len(taken) != 1 {
			t.Fatalf("s4 shows %v", taken)
		}
		showAddress(t, n, "s3", taken[0].String())
		eventually(t, 30*time.Second, "s3 to show an address of its own again", func() (bool, string) {
			ok, msg := backed("s3")
			got := shownAddrs(get("s3"))
			return ok && len(got) == 1 && got[0] != taken[0], msg
		})
		if got := shownAddrs(get("s4")); len(got) != 1 || got[0] != taken[0] {
			t.Errorf("s4 shows %v, before %v", got, taken)
		}
		waitWarning(t, n, "s3", taken[0].String())
	})

	final := sbSettle(t, n, "sb-edits", 30*time.Second)
	c := s.stop()
	c.add(final)
	c.assertClean(t, "hand edits")
}

// waitWarning waits for a Warning Event on a Service whose note mentions
// substr.
func waitWarning(t testing.TB, namespace, name, substr string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("a Warning Event on %s/%s mentioning %s", namespace, name, substr), func() (bool, string) {
		var evs eventsv1.EventList
		if err := env.Client.List(context.Background(), &evs, client.InNamespace(namespace)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Regarding.Name != name {
				continue
			}
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Note)
			if e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, substr) {
				return true, ""
			}
		}
		return false, strings.Join(seen, " | ")
	})
}
