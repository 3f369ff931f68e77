package grants

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// This file interleaves several Units against a simulated apiserver: name
// uniqueness (create → AlreadyExists), resourceVersion conflicts on
// updates, deletes with preconditions and status patches under an
// optimistic lock, informer caches that lag, controllers that freeze and
// crash between any two writes, and users who create, delete and re-create
// Services. After every step it checks I1–I4 on the apiserver's state.

var (
	grAlloc = schema.GroupResource{Group: "seamark.io", Resource: "ipallocations"}
	grSvc   = schema.GroupResource{Resource: "services"}
)

// simEvent is one informer event: the object after the change, or the
// last state of a deleted one.
type simEvent struct {
	alloc   *seamarkv1alpha1.IPAllocation
	svc     *corev1.Service
	deleted bool
}

// simAPI is the apiserver: truth plus the ordered event log informers read.
type simAPI struct {
	rv     uint64
	uid    int
	allocs map[string]*seamarkv1alpha1.IPAllocation
	svcs   map[string]*corev1.Service
	log    []simEvent
	now    time.Time
}

func newSimAPI() *simAPI {
	return &simAPI{allocs: map[string]*seamarkv1alpha1.IPAllocation{}, svcs: map[string]*corev1.Service{},
		now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (a *simAPI) bump(m *metav1.ObjectMeta) {
	a.rv++
	m.ResourceVersion = strconv.FormatUint(a.rv, 10)
}

func (a *simAPI) newUID() types.UID {
	a.uid++
	return types.UID(fmt.Sprintf("uid-%d", a.uid))
}

func (a *simAPI) emitAlloc(o *seamarkv1alpha1.IPAllocation, deleted bool) {
	a.log = append(a.log, simEvent{alloc: o.DeepCopy(), deleted: deleted})
}

func (a *simAPI) emitSvc(o *corev1.Service, deleted bool) {
	a.log = append(a.log, simEvent{svc: o.DeepCopy(), deleted: deleted})
}

func (a *simAPI) createService(ns, name string) {
	a.now = a.now.Add(time.Second)
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: a.newUID(), CreationTimestamp: metav1.NewTime(a.now)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	a.bump(&s.ObjectMeta)
	a.svcs[OwnerOf(ns, name)] = s
	a.emitSvc(s, false)
}

func (a *simAPI) deleteService(key string) {
	s := a.svcs[key]
	delete(a.svcs, key)
	a.emitSvc(s, true)
}

// setStatus is a hand edit of a Service's status.
func (a *simAPI) setStatus(key string, addrs []netip.Addr) {
	s := a.svcs[key]
	s.Status.LoadBalancer.Ingress = Ingress(addrs, s)
	a.bump(&s.ObjectMeta)
	a.emitSvc(s, false)
}

// simStore is one controller's view of simAPI through a Store; each call
// is one step the scheduler grants.
type simStore struct {
	api  *simAPI
	gate func() error
}

func (s *simStore) CreateAllocation(_ context.Context, ipa *seamarkv1alpha1.IPAllocation) error {
	if err := s.gate(); err != nil {
		return err
	}
	if _, ok := s.api.allocs[ipa.Name]; ok {
		return apierrors.NewAlreadyExists(grAlloc, ipa.Name)
	}
	ipa.UID = s.api.newUID()
	s.api.bump(&ipa.ObjectMeta)
	s.api.allocs[ipa.Name] = ipa.DeepCopy()
	s.api.emitAlloc(ipa, false)
	return nil
}

func (s *simStore) GetAllocation(_ context.Context, name string) (*seamarkv1alpha1.IPAllocation, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	o, ok := s.api.allocs[name]
	if !ok {
		return nil, apierrors.NewNotFound(grAlloc, name)
	}
	return o.DeepCopy(), nil
}

// current returns the stored lock ipa was read from: NotFound when it is
// gone, Conflict when its resourceVersion or UID moved on (the update's
// optimistic lock and the delete's preconditions alike).
func (s *simStore) current(ipa *seamarkv1alpha1.IPAllocation) (*seamarkv1alpha1.IPAllocation, error) {
	cur, ok := s.api.allocs[ipa.Name]
	switch {
	case !ok:
		return nil, apierrors.NewNotFound(grAlloc, ipa.Name)
	case cur.ResourceVersion != ipa.ResourceVersion || cur.UID != ipa.UID:
		return nil, apierrors.NewConflict(grAlloc, ipa.Name, errors.New("stale"))
	}
	return cur, nil
}

func (s *simStore) UpdateAllocation(_ context.Context, ipa *seamarkv1alpha1.IPAllocation) error {
	if err := s.gate(); err != nil {
		return err
	}
	if _, err := s.current(ipa); err != nil {
		return err
	}
	s.api.bump(&ipa.ObjectMeta)
	s.api.allocs[ipa.Name] = ipa.DeepCopy()
	s.api.emitAlloc(ipa, false)
	return nil
}

func (s *simStore) DeleteAllocation(_ context.Context, ipa *seamarkv1alpha1.IPAllocation) error {
	if err := s.gate(); err != nil {
		return err
	}
	cur, err := s.current(ipa)
	if err != nil {
		return err
	}
	delete(s.api.allocs, ipa.Name)
	s.api.emitAlloc(cur, true)
	return nil
}

func (s *simStore) GetService(_ context.Context, ns, name string) (*corev1.Service, error) {
	if err := s.gate(); err != nil {
		return nil, err
	}
	o, ok := s.api.svcs[OwnerOf(ns, name)]
	if !ok {
		return nil, apierrors.NewNotFound(grSvc, name)
	}
	return o.DeepCopy(), nil
}

func (s *simStore) PatchServiceStatus(_ context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	if err := s.gate(); err != nil {
		return err
	}
	cur, ok := s.api.svcs[OwnerOf(svc.Namespace, svc.Name)]
	switch {
	case !ok || cur.UID != svc.UID:
		return apierrors.NewNotFound(grSvc, svc.Name)
	case cur.ResourceVersion != svc.ResourceVersion:
		return apierrors.NewConflict(grSvc, svc.Name, errors.New("stale"))
	}
	cur.Status.LoadBalancer.Ingress = ingress
	s.api.bump(&cur.ObjectMeta)
	s.api.emitSvc(cur, false)
	return nil
}

var errCrashed = errors.New("controller crashed")

// simCtl is one controller: a Unit, its informer cursor and caches, its
// queue, and workers reconciling at once (never two on one key), each a
// goroutine that parks before every Store call until the scheduler lets
// it go.
type simCtl struct {
	name    string
	api     *simAPI
	unit    *Unit
	cursor  int
	cache   map[string]*corev1.Service
	locks   map[string]*seamarkv1alpha1.IPAllocation
	queue   []string
	workers []*simWorker
}

type simWorker struct {
	store   *simStore
	busy    bool
	parked  chan struct{} // the reconcile reached a Store call
	finish  chan error    // the reconcile ended
	resume  chan bool     // true: go on; false: crash
	current string
}

func newSimCtl(name string, api *simAPI, cfg *config.Config, workers int) *simCtl {
	c := &simCtl{name: name, api: api, unit: New(true), cache: map[string]*corev1.Service{}, locks: map[string]*seamarkv1alpha1.IPAllocation{}}
	c.unit.SetConfig(cfg)
	for range workers {
		w := &simWorker{parked: make(chan struct{}), finish: make(chan error), resume: make(chan bool)}
		w.store = &simStore{api: api, gate: func() error {
			w.parked <- struct{}{}
			if !<-w.resume {
				return errCrashed
			}
			return nil
		}}
		c.workers = append(c.workers, w)
	}
	return c
}

func (c *simCtl) enqueue(key string) {
	if !slices.Contains(c.queue, key) {
		c.queue = append(c.queue, key)
	}
}

// deliver hands the controller's informers the next event.
func (c *simCtl) deliver() bool {
	if c.cursor >= len(c.api.log) {
		return false
	}
	ev := c.api.log[c.cursor]
	c.cursor++
	switch {
	case ev.alloc != nil && ev.deleted:
		delete(c.locks, ev.alloc.Name)
		c.unit.ForgetAllocation(ev.alloc)
		for _, r := range ev.alloc.Spec.Services {
			c.enqueue(OwnerOf(r.Namespace, r.Name))
		}
		for _, k := range sortedKeys(c.cache) { // the address is free again: retry the waiting
			if len(c.cache[k].Status.LoadBalancer.Ingress) == 0 {
				c.enqueue(k)
			}
		}
	case ev.alloc != nil:
		c.locks[ev.alloc.Name] = ev.alloc
		c.unit.ObserveAllocation(ev.alloc)
		for _, r := range ev.alloc.Spec.Services {
			c.enqueue(OwnerOf(r.Namespace, r.Name))
		}
		c.enqueue(repairPrefix + ev.alloc.Name)
	case ev.deleted:
		k := OwnerOf(ev.svc.Namespace, ev.svc.Name)
		delete(c.cache, k)
		c.unit.ForgetService(ev.svc.Namespace, ev.svc.Name)
		c.enqueue(k)
	default:
		k := OwnerOf(ev.svc.Namespace, ev.svc.Name)
		c.cache[k] = ev.svc
		c.unit.ObserveService(ev.svc)
		c.enqueue(k)
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// idle returns an idle worker, or nil.
func (c *simCtl) idle() *simWorker {
	for _, w := range c.workers {
		if !w.busy {
			return w
		}
	}
	return nil
}

// busyWorkers returns the workers with a reconcile in flight.
func (c *simCtl) busyWorkers() []*simWorker {
	var out []*simWorker
	for _, w := range c.workers {
		if w.busy {
			out = append(out, w)
		}
	}
	return out
}

// startable returns the index in the queue of the first key no worker is
// reconciling, or -1.
func (c *simCtl) startable() int {
	for i, k := range c.queue {
		if !slices.ContainsFunc(c.workers, func(w *simWorker) bool { return w.busy && w.current == k }) {
			return i
		}
	}
	return -1
}

// start lets an idle worker reconcile the queued key at i and runs it to
// its first Store call (or its end).
func (c *simCtl) start(w *simWorker, i int) {
	key := c.queue[i]
	c.queue = slices.Delete(c.queue, i, i+1)
	w.busy, w.current = true, key
	svc := c.cache[key]
	var ipa *seamarkv1alpha1.IPAllocation
	name, isRepair := strings.CutPrefix(key, repairPrefix)
	if isRepair {
		ipa = c.locks[name]
	}
	cached := func(ns, n string) *corev1.Service { return c.cache[OwnerOf(ns, n)] }
	if svc != nil {
		svc = svc.DeepCopy()
	}
	go func() {
		ctx := context.Background()
		var err error
		switch {
		case isRepair:
			if ipa != nil {
				_, err = c.unit.Repair(ctx, w.store, ipa, cached)
			}
		case svc == nil:
			ns, name, _ := strings.Cut(key, "/")
			_, err = c.unit.SyncGone(ctx, w.store, ns, name)
		default:
			var out Outcome
			out, err = c.unit.Sync(ctx, w.store, svc)
			if err == nil && out.Stale {
				err = errors.New("stale")
			}
		}
		w.finish <- err
	}()
	c.wait(w)
}

const repairPrefix = "repair:"

// step lets a parked reconcile make its Store call and run to the next.
func (c *simCtl) step(w *simWorker) {
	w.resume <- true
	c.wait(w)
}

func (c *simCtl) wait(w *simWorker) {
	select {
	case <-w.parked:
	case err := <-w.finish:
		w.busy = false
		if err != nil {
			c.enqueue(w.current) // a failed or stale reconcile is retried
		}
	}
}

// crash kills the controller between two writes: the parked calls fail
// and everything the controller knew is lost.
func (c *simCtl) crash() {
	for _, w := range c.workers {
		if !w.busy {
			continue
		}
		w.resume <- false
		for w.busy {
			select {
			case <-w.parked:
				w.resume <- false
			case err := <-w.finish:
				_ = err // errCrashed, or whatever the interrupted call made of it
				w.busy = false
			}
		}
	}
}

// simRun is one scenario: controllers, users and the checks.
type simRun struct {
	t      testing.TB
	rng    *rand.Rand
	api    *simAPI
	cfg    *config.Config
	ctls   []*simCtl
	log    []string
	first  map[string]map[allocator.Family]netip.Addr // Service UID → the first address shown per family
	edited map[types.UID]bool                         // Services whose status a user edited
	next   int
}

func newSimRun(t testing.TB, seed uint64, controllers int) *simRun {
	autoAssign := true
	cfg, problems := config.Build(config.Resources{Pools: []seamarkv1alpha1.IPPool{{
		ObjectMeta: metav1.ObjectMeta{Name: "sim"},
		Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"198.51.100.0/27", "2001:db8:7::/123"}, AutoAssign: &autoAssign},
	}}})
	if len(problems) > 0 {
		t.Fatalf("pool: %v", problems)
	}
	r := &simRun{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), api: newSimAPI(), cfg: cfg,
		first: map[string]map[allocator.Family]netip.Addr{}, edited: map[types.UID]bool{}}
	for i := range controllers {
		r.ctls = append(r.ctls, newSimCtl(fmt.Sprintf("c%d", i), r.api, cfg, 3))
	}
	return r
}

func (r *simRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func (r *simRun) fail(format string, args ...any) {
	r.t.Helper()
	tail := r.log
	if len(tail) > 60 {
		tail = tail[len(tail)-60:]
	}
	r.t.Fatalf("%s\nlast operations:\n  %s", fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
}

// step takes one random action.
func (r *simRun) step(frozen int) {
	live := len(r.api.svcs)
	switch p := r.rng.IntN(100); {
	case p < 8 && live < 24:
		r.next++
		name := fmt.Sprintf("s%d", r.next)
		if r.next > 3 && r.rng.IntN(4) == 0 {
			// Re-create a Service under a name used before.
			name = fmt.Sprintf("s%d", 1+r.rng.IntN(r.next-1))
			if _, exists := r.api.svcs[OwnerOf("ns", name)]; exists {
				return
			}
		}
		r.api.createService("ns", name)
		r.logf("user: create ns/%s", name)
	case p < 11 && live > 0:
		k := r.randomService()
		r.api.deleteService(k)
		r.logf("user: delete %s", k)
	case p < 12 && live > 1:
		// A user edits a Service's status to another Service's address.
		a, b := r.randomService(), r.randomService()
		addrs := config.StatusAddresses(r.api.svcs[b])
		if a == b || len(addrs) == 0 {
			return
		}
		r.edited[r.api.svcs[a].UID] = true
		r.api.setStatus(a, addrs)
		r.logf("user: set the status of %s to %v (%s's)", a, addrs, b)
	case p < 13:
		i := r.rng.IntN(len(r.ctls))
		c := r.ctls[i]
		c.crash()
		r.ctls[i] = newSimCtl(c.name+"'", r.api, r.cfg, len(c.workers))
		r.relist(r.ctls[i])
		r.logf("%s: crashed and restarted", c.name)
	default:
		i := r.rng.IntN(len(r.ctls))
		if i == frozen {
			return
		}
		c := r.ctls[i]
		busy := c.busyWorkers()
		w, next := c.idle(), c.startable()
		switch p := r.rng.IntN(10); {
		case p < 5 && len(busy) > 0:
			w := busy[r.rng.IntN(len(busy))]
			r.logf("%s: step %s", c.name, w.current)
			c.step(w)
		case p < 7 && c.deliver():
			r.logf("%s: event %d", c.name, c.cursor-1)
		case w != nil && next >= 0:
			r.logf("%s: reconcile %s", c.name, c.queue[next])
			c.start(w, next)
		case c.deliver():
			r.logf("%s: event %d", c.name, c.cursor-1)
		}
	}
}

// relist starts a controller as a restart does: caches listed, index
// rebuilt from every Service and IPAllocation, every Service queued.
func (r *simRun) relist(c *simCtl) {
	keys := make([]string, 0, len(r.api.svcs))
	for k := range r.api.svcs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := r.api.svcs[k].DeepCopy()
		c.cache[k] = s
		c.unit.ObserveService(s)
		c.enqueue(k)
	}
	names := make([]string, 0, len(r.api.allocs))
	for n := range r.api.allocs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.locks[n] = r.api.allocs[n].DeepCopy()
		c.unit.ObserveAllocation(c.locks[n])
		c.enqueue(repairPrefix + n)
	}
	c.cursor = len(c.api.log)
}

func (r *simRun) randomService() string {
	keys := make([]string, 0, len(r.api.svcs))
	for k := range r.api.svcs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys[r.rng.IntN(len(keys))]
}

// check asserts the invariants on the apiserver's state.
func (r *simRun) check() {
	r.t.Helper()
	shownBy := map[netip.Addr]string{}
	for _, k := range r.sortedServices() {
		s := r.api.svcs[k]
		fams := map[allocator.Family]netip.Addr{}
		for _, a := range config.StatusAddresses(s) {
			f := allocator.FamilyOf(a)
			if b, dup := fams[f]; dup { // I4
				r.fail("I4: %s shows two %s addresses, %s and %s", k, f, b, a)
			}
			fams[f] = a
			if other, dup := shownBy[a]; dup && !r.edited[s.UID] && !r.edited[r.api.svcs[other].UID] { // I3
				r.fail("I3: %s is shown by %s and %s", a, other, k)
			}
			shownBy[a] = k
			if r.edited[s.UID] {
				continue
			}
			// I1: what a Service shows is backed by a lock that lists it.
			lock, ok := r.api.allocs[seamarkv1alpha1.AllocationName(a)]
			if !ok || !slices.ContainsFunc(lock.Spec.Services, func(ref seamarkv1alpha1.ServiceReference) bool {
				return OwnerOf(ref.Namespace, ref.Name) == k && ref.UID == string(s.UID)
			}) {
				r.fail("I1: %s (%s) shows %s, whose IPAllocation is %s", k, s.UID, a, lockString(lock))
			}
			// I2: a Service never moves to another address of a family.
			firsts := r.first[string(s.UID)]
			if firsts == nil {
				firsts = map[allocator.Family]netip.Addr{}
				r.first[string(s.UID)] = firsts
			}
			if was, ok := firsts[f]; ok && was != a {
				r.fail("I2: %s moved from %s to %s", k, was, a)
			}
			firsts[f] = a
		}
	}
}

func (r *simRun) sortedServices() []string {
	keys := make([]string, 0, len(r.api.svcs))
	for k := range r.api.svcs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// settle lets every controller run until nothing is left to do, then
// checks that every Service is addressed by a lock of its own and that no
// lock is left without a Service.
func (r *simRun) settle() {
	r.t.Helper()
	for round := 0; ; round++ {
		if round > 100000 {
			r.fail("the controllers never settled")
		}
		progress := false
		for _, c := range r.ctls {
			if busy := c.busyWorkers(); len(busy) > 0 {
				c.step(busy[0])
			} else if !c.deliver() {
				w, next := c.idle(), c.startable()
				if w == nil || next < 0 {
					continue
				}
				c.start(w, next)
			}
			progress = true
			r.check()
		}
		if !progress {
			break
		}
	}
	for _, k := range r.sortedServices() {
		s := r.api.svcs[k]
		if len(config.StatusAddresses(s)) != 1 {
			r.fail("settled, but %s shows %v", k, config.StatusAddresses(s))
		}
		a := config.StatusAddresses(s)[0]
		lock := r.api.allocs[seamarkv1alpha1.AllocationName(a)]
		if lock == nil || len(lock.Spec.Services) != 1 || lock.Spec.Services[0].UID != string(s.UID) {
			r.fail("settled, but %s (%s) shows %s, whose IPAllocation is %s", k, s.UID, a, lockString(lock))
		}
	}
	for n, lock := range r.api.allocs {
		for _, ref := range lock.Spec.Services {
			if s := r.api.svcs[OwnerOf(ref.Namespace, ref.Name)]; s == nil || string(s.UID) != ref.UID {
				r.fail("settled, but IPAllocation %s lists %s/%s, which is gone", n, ref.Namespace, ref.Name)
			}
		}
	}
}

// runSim runs one seeded scenario: steps with one controller sometimes
// frozen (a leader past its Lease), then settles.
func runSim(t testing.TB, seed uint64, steps int) {
	r := newSimRun(t, seed, 2)
	for _, c := range r.ctls {
		r.relist(c)
	}
	frozen := -1
	for i := range steps {
		if i%200 == 0 {
			frozen = -1
			if r.rng.IntN(3) == 0 {
				frozen = r.rng.IntN(len(r.ctls))
				r.logf("c%d: frozen", frozen)
			}
		}
		r.step(frozen)
		r.check()
	}
	r.settle()
	for _, c := range r.ctls {
		c.crash()
	}
}

// TestTwoControllersKeepTheInvariants interleaves two controllers, seeded,
// against the simulated apiserver, checking I1–I4 after every step.
func TestTwoControllersKeepTheInvariants(t *testing.T) {
	seeds := 150
	if testing.Short() {
		seeds = 20
	}
	var mu sync.Mutex
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			mu.Lock()
			defer mu.Unlock()
			runSim(t, uint64(seed), 1500)
		})
	}
}

// FuzzTwoControllers explores more interleavings: go test -fuzz
// FuzzTwoControllers ./controllers/internal/grants/.
func FuzzTwoControllers(f *testing.F) {
	for _, s := range []uint64{1, 7, 42, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { runSim(t, seed, 1000) })
}

func lockString(l *seamarkv1alpha1.IPAllocation) string {
	if l == nil {
		return "missing"
	}
	return fmt.Sprintf("%s rv %s listing %v", l.Name, l.ResourceVersion, l.Spec.Services)
}
