//go:build integration

package controllers_test

// Helpers of the split-brain scenarios and the HA benchmarks: a sampler
// that checks the invariants on every state of a namespace's Services the
// watch delivers, the final check, and seamark-controller processes under
// a supervisor that restarts them as the kubelet would.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// sbCounts are the invariant violations one scenario run observed.
type sbCounts struct {
	// Duplicates: distinct (address, pair of Services sharing no key) seen
	// at any sampled moment (I3).
	Duplicates int
	// Moved: Services (by UID) that showed an address of a family and
	// later another one of that family, or two at once (I2, I4).
	Moved int
	// Unaddressed: Services without an address at the end.
	Unaddressed int
	// Unbacked: addresses shown at the end whose IPAllocation is missing or
	// does not list exactly that Service with its UID.
	Unbacked int
	// Stray: IPAllocations of the pool at the end that back no shown
	// address (a leaked lock keeps an address from everyone).
	Stray int
	// Samples is the number of states of the Services checked.
	Samples int
	// Examples are the first violations, for failure messages.
	Examples []string
}

func (c *sbCounts) add(o sbCounts) {
	c.Duplicates += o.Duplicates
	c.Moved += o.Moved
	c.Unaddressed += o.Unaddressed
	c.Unbacked += o.Unbacked
	c.Stray += o.Stray
	c.Samples += o.Samples
	for _, e := range o.Examples {
		c.example(e)
	}
}

func (c *sbCounts) example(e string) {
	if len(c.Examples) < 12 {
		c.Examples = append(c.Examples, e)
	}
}

func (c sbCounts) violations() int {
	return c.Duplicates + c.Moved + c.Unaddressed + c.Unbacked + c.Stray
}

func (c sbCounts) String() string {
	return fmt.Sprintf("duplicates %d, moved %d, unaddressed %d, unbacked %d, stray locks %d (%d states sampled)",
		c.Duplicates, c.Moved, c.Unaddressed, c.Unbacked, c.Stray, c.Samples)
}

// assertClean fails the test with the examples unless nothing was violated.
func (c sbCounts) assertClean(t testing.TB, scenario string) {
	t.Helper()
	t.Logf("%s: %s", scenario, c)
	if c.violations() > 0 {
		t.Errorf("%s broke the invariants: %s\n  %s", scenario, c, strings.Join(c.Examples, "\n  "))
	}
}

// sbSampler watches the Services of a namespace and checks every state the
// watch delivers (each is the namespace at one resourceVersion): no address
// on two Services that share no key, and no Service showing a second
// address of a family it has shown one of.
type sbSampler struct {
	namespace string
	// exempt names Services whose status a step of the test edits by hand:
	// their changes are the test's doing, not the controllers'.
	exempt map[string]bool
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	svcs    map[string]*corev1.Service
	first   map[types.UID]map[bool]netip.Addr // is IPv4 → first address shown
	dups    map[string]bool
	moved   map[types.UID]bool
	counts  sbCounts
	watchEr error
}

func startSampler(t testing.TB, cs kubernetes.Interface, namespace string, exempt ...string) *sbSampler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &sbSampler{namespace: namespace, exempt: map[string]bool{}, cancel: cancel, done: make(chan struct{}),
		svcs: map[string]*corev1.Service{}, first: map[types.UID]map[bool]netip.Addr{}, dups: map[string]bool{}, moved: map[types.UID]bool{}}
	for _, e := range exempt {
		s.exempt[e] = true
	}
	rv, err := s.relist(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	go s.run(ctx, cs, rv)
	return s
}

// stop ends the watch and returns what it saw.
func (s *sbSampler) stop() sbCounts {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	if s.watchEr != nil {
		c.example("the sampler's watch failed: " + s.watchEr.Error())
	}
	return c
}

func (s *sbSampler) relist(ctx context.Context, cs kubernetes.Interface) (string, error) {
	list, err := cs.CoreV1().Services(s.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("listing the Services of %s: %w", s.namespace, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.svcs)
	for i := range list.Items {
		s.svcs[list.Items[i].Name] = &list.Items[i]
	}
	for i := range list.Items {
		s.check(&list.Items[i])
	}
	return list.ResourceVersion, nil
}

func (s *sbSampler) run(ctx context.Context, cs kubernetes.Interface, rv string) {
	defer close(s.done)
	for ctx.Err() == nil {
		w, err := cs.CoreV1().Services(s.namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() == nil {
				s.fail(err)
			}
			return
		}
		rv = s.consume(ctx, cs, w, rv)
		w.Stop()
	}
}

// consume applies the events of one watch and returns the resourceVersion
// to watch from next.
func (s *sbSampler) consume(ctx context.Context, cs kubernetes.Interface, w watch.Interface, rv string) string {
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			// Expired (410): the states in between are lost; start over
			// from a fresh list, which is checked too.
			next, err := s.relist(ctx, cs)
			if err != nil {
				if ctx.Err() == nil {
					s.fail(err)
				}
				return rv
			}
			return next
		case watch.Bookmark:
			if o, ok := ev.Object.(metav1.Object); ok {
				rv = o.GetResourceVersion()
			}
		case watch.Added, watch.Modified:
			svc := ev.Object.(*corev1.Service)
			rv = svc.ResourceVersion
			s.mu.Lock()
			s.svcs[svc.Name] = svc
			s.check(svc)
			s.mu.Unlock()
		case watch.Deleted:
			svc := ev.Object.(*corev1.Service)
			rv = svc.ResourceVersion
			s.mu.Lock()
			delete(s.svcs, svc.Name)
			s.counts.Samples++
			s.mu.Unlock()
		}
	}
	return rv
}

func (s *sbSampler) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchEr == nil {
		s.watchEr = err
	}
}

// check runs under mu after svc changed: the namespace's state now is
// s.svcs.
func (s *sbSampler) check(svc *corev1.Service) {
	s.counts.Samples++
	if s.exempt[svc.Name] {
		return
	}
	shown := shownAddrs(svc)
	key := svc.Annotations[seamarkv1alpha1.AnnotationSharingKey]
	for _, a := range shown {
		for _, o := range s.svcs {
			if o.Name == svc.Name || s.exempt[o.Name] || !slices.Contains(shownAddrs(o), a) {
				continue
			}
			if k := o.Annotations[seamarkv1alpha1.AnnotationSharingKey]; key != "" && k == key {
				continue
			}
			pair := []string{o.Name, svc.Name}
			slices.Sort(pair)
			id := a.String() + " " + pair[0] + " " + pair[1]
			if !s.dups[id] {
				s.dups[id] = true
				s.counts.Duplicates++
				s.counts.example(fmt.Sprintf("duplicate: %s shown by %s and %s at resourceVersion %s", a, pair[0], pair[1], svc.ResourceVersion))
			}
		}
	}
	first := s.first[svc.UID]
	if first == nil {
		first = map[bool]netip.Addr{}
		s.first[svc.UID] = first
	}
	seen := map[bool]netip.Addr{}
	for _, a := range shown {
		fam := a.Is4()
		if prev, ok := seen[fam]; ok && !s.moved[svc.UID] {
			s.moved[svc.UID] = true
			s.counts.Moved++
			s.counts.example(fmt.Sprintf("two of a family: %s shows %s and %s at resourceVersion %s", svc.Name, prev, a, svc.ResourceVersion))
		}
		seen[fam] = a
		if f, ok := first[fam]; !ok {
			first[fam] = a
		} else if f != a && !s.moved[svc.UID] {
			s.moved[svc.UID] = true
			s.counts.Moved++
			s.counts.example(fmt.Sprintf("moved: %s (uid %s) showed %s, now %s at resourceVersion %s", svc.Name, svc.UID, f, a, svc.ResourceVersion))
		}
	}
}

func shownAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// sbSettle waits until every Service of the namespace shows an address
// backed by its own IPAllocation and no IPAllocation of the pool is left
// over, or the timeout passes, and counts what is still wrong then.
func sbSettle(t testing.TB, namespace, pool string, timeout time.Duration) sbCounts {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := sbFinal(namespace, pool)
		if err == nil && (c.violations() == 0 || time.Now().After(deadline)) {
			return c
		}
		if err != nil && time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sbFinal(namespace, pool string) (sbCounts, error) {
	var c sbCounts
	ctx := context.Background()
	var svcs corev1.ServiceList
	if err := env.Client.List(ctx, &svcs, client.InNamespace(namespace)); err != nil {
		return c, err
	}
	var allocs seamarkv1alpha1.IPAllocationList
	if err := env.Client.List(ctx, &allocs, client.MatchingLabels{seamarkv1alpha1.LabelPool: pool}); err != nil {
		return c, err
	}
	byName := map[string]*seamarkv1alpha1.IPAllocation{}
	for i := range allocs.Items {
		byName[allocs.Items[i].Name] = &allocs.Items[i]
	}
	backing := map[string]bool{} // IPAllocation names that back a shown address
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		shown := shownAddrs(svc)
		if len(shown) == 0 {
			c.Unaddressed++
			c.example("unaddressed: " + svc.Name)
		}
		ref := seamarkv1alpha1.ServiceReference{Namespace: svc.Namespace, Name: svc.Name, UID: string(svc.UID)}
		for _, a := range shown {
			name := seamarkv1alpha1.AllocationName(a)
			ipa := byName[name]
			if ipa == nil || len(ipa.Spec.Services) != 1 || ipa.Spec.Services[0] != ref {
				c.Unbacked++
				got := "no IPAllocation in pool " + pool
				if ipa != nil {
					got = fmt.Sprintf("IPAllocation lists %v", ipa.Spec.Services)
				}
				c.example(fmt.Sprintf("unbacked: %s (uid %s) shows %s, %s", svc.Name, svc.UID, a, got))
				continue
			}
			backing[name] = true
		}
	}
	for name, ipa := range byName {
		if !backing[name] {
			c.Stray++
			c.example(fmt.Sprintf("stray lock: IPAllocation %s lists %v, which do not show it", ipa.Spec.Address, ipa.Spec.Services))
		}
	}
	return c, nil
}

// sbService is a single-stack IPv6 LoadBalancer Service.
func sbService(name string) *corev1.Service {
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
		IPFamilyPolicy: &single, IPFamilies: []corev1.IPFamily{corev1.IPv6Protocol},
		Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(80)}},
	}}
}

// sbCreate creates the Services names[i] from clients concurrent clients
// and calls progress after each create (from any client).
func sbCreate(ctx context.Context, cs kubernetes.Interface, namespace string, names []string, clients int, progress func()) error {
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < len(names); i += clients {
				if _, err := cs.CoreV1().Services(namespace).Create(ctx, sbService(names[i]), metav1.CreateOptions{}); err != nil {
					errs[c] = fmt.Errorf("creating Service %s/%s: %w", namespace, names[i], err)
					return
				}
				if progress != nil {
					progress()
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sbDelete deletes the Services names[i] from clients concurrent clients.
func sbDelete(ctx context.Context, cs kubernetes.Interface, namespace string, names []string, clients int) error {
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < len(names); i += clients {
				if err := cs.CoreV1().Services(namespace).Delete(ctx, names[i], metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					errs[c] = fmt.Errorf("deleting Service %s/%s: %w", namespace, names[i], err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func sbNames(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return out
}

// sbAllAddressed reports whether every Service of the namespace shows an
// address, and how many there are.
func sbAllAddressed(namespace string) (bool, string) {
	var svcs corev1.ServiceList
	if err := env.Client.List(context.Background(), &svcs, client.InNamespace(namespace)); err != nil {
		return false, err.Error()
	}
	waiting := 0
	for _, s := range svcs.Items {
		if len(s.Status.LoadBalancer.Ingress) == 0 {
			waiting++
		}
	}
	return waiting == 0, fmt.Sprintf("%d of %d Services without an address", waiting, len(svcs.Items))
}

// sbCleanup removes what a scenario run created, once its controllers are
// stopped: the Services, the pool's IPAllocations and the pool (whose
// protection finalizer no controller is left to remove).
func sbCleanup(t testing.TB, cs kubernetes.Interface, namespace, pool string) {
	t.Helper()
	ctx := context.Background()
	list, err := cs.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list.Items {
		names = append(names, s.Name)
	}
	if err := sbDelete(ctx, cs, namespace, names, 8); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.DeleteAllOf(ctx, &seamarkv1alpha1.IPAllocation{}, client.MatchingLabels{seamarkv1alpha1.LabelPool: pool}); err != nil {
		t.Fatal(err)
	}
	p := &seamarkv1alpha1.IPPool{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: pool}, p); err != nil {
		t.Fatal(err)
	}
	if len(p.Finalizers) > 0 {
		p.Finalizers = nil
		if err := env.Client.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	deleteObj(t, p)
}

// ctlBinary is seamark-controller built from this tree, with a kubeconfig
// of the test apiserver.
type ctlBinary struct{ path, kubeconfig, dir string }

// buildController builds seamark-controller into a temporary directory.
func buildController(t testing.TB) ctlBinary {
	t.Helper()
	dir := t.TempDir()
	b := ctlBinary{path: filepath.Join(dir, "seamark-controller"), kubeconfig: filepath.Join(dir, "kubeconfig"), dir: dir}
	build := exec.Command("go", "build", "-o", b.path, "./cmd/seamark-controller")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building seamark-controller: %v\n%s", err, out)
	}
	if err := env.WriteKubeconfig(b.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return b
}

// resetLease makes sure the leader-election namespace exists and no Lease
// of an earlier (dead) controller delays the election.
func resetLease(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	deleteObj(t, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: "seamark-controller"}})
}

// leaseHolder is the holderIdentity of the controller's Lease, or "".
func leaseHolder(t testing.TB) string {
	t.Helper()
	l := &coordinationv1.Lease{}
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: systemNamespace, Name: "seamark-controller"}, l)
	if apierrors.IsNotFound(err) || l.Spec.HolderIdentity == nil {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return *l.Spec.HolderIdentity
}

// acquiredLease is what client-go's leader election logs when this
// process becomes the leader. controller-runtime's holderIdentity is the
// hostname and a random UUID that the process never prints, so the Lease
// does not say which of two processes on one host leads; the log does: a
// process that loses the Lease exits, so a live process that logged this is
// the leader, unless it is frozen or about to learn it lost the Lease.
const acquiredLease = "Successfully acquired lease"

// attemptingLease is what it logs when a replica starts to compete for the
// Lease: its caches are starting, it is a standby from then on.
const attemptingLease = "Attempting to acquire leader lease"

// ctlProc is a seamark-controller process under a supervisor that starts
// it again whenever it exits (it exits when it loses the Lease), as the
// kubelet would restart its container.
type ctlProc struct {
	name string
	bin  ctlBinary
	args []string
	env  []string
	log  *os.File
	done chan struct{}

	mu       sync.Mutex
	cmd      *exec.Cmd
	leading  bool // this incarnation logged acquiredLease
	standing bool // this incarnation logged attemptingLease
	frozen   bool
	stopping bool
	starts   int
}

// startCtlProc runs seamark-controller with leader election on, the
// default Lease timings, and GOMAXPROCS=gomaxprocs when positive.
func startCtlProc(t testing.TB, bin ctlBinary, name string, gomaxprocs int, extra ...string) *ctlProc {
	t.Helper()
	logf, err := os.Create(filepath.Join(bin.dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &ctlProc{name: name, bin: bin, log: logf, done: make(chan struct{}), env: os.Environ(),
		args: append([]string{"--kubeconfig", bin.kubeconfig, "--namespace", systemNamespace, "--leader-elect=true",
			"--metrics-bind-address=0", "--health-probe-bind-address=0", "--orphan-grace=5s"}, extra...)}
	if gomaxprocs > 0 {
		p.env = append(p.env, fmt.Sprintf("GOMAXPROCS=%d", gomaxprocs))
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	go p.supervise()
	t.Cleanup(p.stop)
	return p
}

func (p *ctlProc) start() error {
	cmd := exec.Command(p.bin.path, p.args...)
	cmd.Env = p.env
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	_, _ = fmt.Fprintf(p.log, "=== %s start %d at %s\n", p.name, p.starts, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting seamark-controller %s: %w", p.name, err)
	}
	p.cmd, p.leading, p.standing, p.frozen = cmd, false, false, false
	go p.scan(cmd, out)
	return nil
}

func (p *ctlProc) scan(cmd *exec.Cmd, out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		_, _ = fmt.Fprintln(p.log, line)
		if p.cmd == cmd && strings.Contains(line, acquiredLease) {
			p.leading = true
		}
		if p.cmd == cmd && strings.Contains(line, attemptingLease) {
			p.standing = true
		}
		p.mu.Unlock()
	}
}

func (p *ctlProc) supervise() {
	defer close(p.done)
	for {
		p.mu.Lock()
		cmd := p.cmd
		p.mu.Unlock()
		err := cmd.Wait()
		p.mu.Lock()
		_, _ = fmt.Fprintf(p.log, "=== %s exited: %v\n", p.name, err)
		p.leading = false
		stopping := p.stopping
		p.mu.Unlock()
		if stopping {
			return
		}
		time.Sleep(300 * time.Millisecond)
		if err := p.start(); err != nil {
			p.mu.Lock()
			_, _ = fmt.Fprintf(p.log, "=== %v\n", err)
			p.mu.Unlock()
			return
		}
	}
}

// signal sends sig to the running incarnation.
func (p *ctlProc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch sig {
	case syscall.SIGSTOP:
		p.frozen = true
	case syscall.SIGCONT:
		p.frozen = false
	case syscall.SIGKILL:
		p.leading, p.standing = false, false
	}
	_, _ = fmt.Fprintf(p.log, "=== %s signalled %v at %s\n", p.name, sig, time.Now().Format(time.RFC3339Nano))
	return p.cmd.Process.Signal(sig)
}

// isLeader reports whether the running incarnation acquired the Lease and
// is not frozen.
func (p *ctlProc) isLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leading && !p.frozen
}

// isCandidate reports whether the running incarnation competes for the
// Lease (or holds it).
func (p *ctlProc) isCandidate() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.standing && !p.frozen
}

// incarnation is the number of times the process was started.
func (p *ctlProc) incarnation() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// stop ends the process for good.
func (p *ctlProc) stop() {
	p.mu.Lock()
	if p.stopping {
		p.mu.Unlock()
		<-p.done
		return
	}
	p.stopping = true
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	<-p.done
	_ = p.log.Close()
}

// tailLog is the end of the process's log, for failure messages.
func (p *ctlProc) tailLog(n int) string {
	b, _ := os.ReadFile(p.log.Name())
	return tail(string(b), n)
}

// waitLeader waits until exactly one of procs leads and returns it.
func waitLeader(t testing.TB, timeout time.Duration, procs ...*ctlProc) *ctlProc {
	t.Helper()
	var leader *ctlProc
	eventually(t, timeout, "one seamark-controller to lead", func() (bool, string) {
		var leaders []string
		leader = nil
		for _, p := range procs {
			if p.isLeader() {
				leaders = append(leaders, p.name)
				leader = p
			}
		}
		return len(leaders) == 1 && leaseHolder(t) != "", fmt.Sprintf("leading: %v, Lease held by %q", leaders, leaseHolder(t))
	})
	return leader
}
