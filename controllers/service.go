package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// Event reasons on Services.
const (
	EventAllocated        = "AddressAllocated"
	EventAdopted          = "AddressAdopted"
	EventReleased         = "AddressReleased"
	EventAllocationFailed = "AllocationFailed"
	EventNotShared        = "AddressNotShared"
)

// ServiceReconciler grants addresses to the LoadBalancer Services seamark
// handles (DESIGN.md §4): pick from the allocator → create the IPAllocation
// (the lock) → patch status → one event per change.
type ServiceReconciler struct {
	Client   client.Client
	State    *State
	Recorder events.EventRecorder
	Metrics  *Metrics
	// DefaultClass: Services without spec.loadBalancerClass are handled.
	DefaultClass bool

	writer *allocationWriter
}

// grant is one address a Service holds after a decision.
type grant struct {
	addr    netip.Addr
	pool    string
	fresh   bool // granted in this decision
	adopted bool // the address the Service already showed
}

// decision is what one reconcile of a Service decided under the lock.
type decision struct {
	grants []grant
	// unadopted are addresses the Service shows that seamark could not
	// adopt: they stay in its status, untouched, and nothing replaces them.
	unadopted []netip.Addr
	released  []netip.Addr
	warnings  []string // one Warning event each
	notes     []string // Normal events (sharing not possible, optional family missing)
	refused   bool
}

// Reconcile implements reconcile.Reconciler.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.State.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	owner := ownerOf(req.Namespace, req.Name)
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.releaseAll(ctx, nil, req.Namespace, req.Name)
	}
	if svc.DeletionTimestamp != nil || !config.Handles(svc, r.DefaultClass) {
		// Not ours (any more): give back what it held, never touch its status.
		return ctrl.Result{}, r.releaseAll(ctx, svc, req.Namespace, req.Name)
	}

	if len(svc.Status.LoadBalancer.Ingress) == 0 {
		r.State.firstSeen(owner, time.Now())
	}
	cfg := r.State.Config()
	r.State.mu.Lock()
	d := r.decide(svc, owner, cfg)
	r.State.mu.Unlock()

	ref := seamarkv1alpha1.ServiceReference{Namespace: svc.Namespace, Name: svc.Name, UID: string(svc.UID)}
	key := svc.Annotations[seamarkv1alpha1.AnnotationSharingKey]
	for _, g := range d.grants {
		if !g.fresh && r.recorded(ctx, g.addr, ref) {
			continue
		}
		err := r.writer.ensure(ctx, g.addr, g.pool, key, ref, g.fresh)
		if obj, taken := isTaken(err); taken {
			// Another controller (or a stale cache) granted the address to
			// someone else first: learn that, drop our claim and decide again.
			r.State.mu.Lock()
			r.State.alloc.Release(owner, g.addr)
			r.State.mu.Unlock()
			r.State.restoreAllocation(obj, r.shareFor(ctx))
			return ctrl.Result{RequeueAfter: time.Millisecond}, nil
		}
		if err != nil {
			if g.fresh {
				r.State.mu.Lock()
				r.State.alloc.Release(owner, g.addr)
				r.State.mu.Unlock()
			}
			return ctrl.Result{}, err
		}
	}
	for _, a := range d.released {
		if err := r.writer.leave(ctx, a, svc.Namespace, svc.Name); err != nil {
			return ctrl.Result{}, err
		}
	}

	addrs := make([]netip.Addr, 0, len(d.grants)+len(d.unadopted))
	for _, g := range d.grants {
		addrs = append(addrs, g.addr)
	}
	addrs = append(addrs, d.unadopted...)
	want := ingressFor(addrs, svc)
	if !ingressEqual(want, svc.Status.LoadBalancer.Ingress) {
		before := svc.DeepCopy()
		svc.Status.LoadBalancer.Ingress = want
		// The optimistic lock refuses a status computed from a stale read,
		// e.g. while another controller wrote it in between (split brain).
		err := r.Client.Status().Patch(ctx, svc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Millisecond}, nil
		}
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("writing the status of Service %s: %w", owner, err)
		}
		if len(before.Status.LoadBalancer.Ingress) == 0 && len(want) > 0 {
			if t, ok := r.State.doneSeen(owner); ok {
				r.Metrics.duration.Observe(time.Since(t).Seconds())
			}
		}
	}
	r.report(ctx, svc, d)
	return ctrl.Result{}, nil
}

// recorded reports whether the cached IPAllocation of addr already lists
// ref: the common case for an address held since an earlier reconcile,
// which then costs no API request.
func (r *ServiceReconciler) recorded(ctx context.Context, addr netip.Addr, ref seamarkv1alpha1.ServiceReference) bool {
	obj := &seamarkv1alpha1.IPAllocation{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: seamarkv1alpha1.AllocationName(addr)}, obj); err != nil {
		return false
	}
	for _, s := range obj.Spec.Services {
		if s == ref {
			return true
		}
	}
	return false
}

// decide runs under State.mu and changes only the allocator.
func (r *ServiceReconciler) decide(svc *corev1.Service, owner string, cfg *config.Config) decision {
	var d decision
	alloc := r.State.alloc
	req, parseErr := config.ParseService(svc)
	share := shareOf(svc, req.SharingKey)
	wants := wantedFamilies(svc)

	// Keep one address per wanted family (the lowest, should a split brain
	// have left two); give back the rest.
	var held []netip.Addr
	for _, a := range alloc.Addresses(owner) {
		f := allocator.FamilyOf(a)
		if _, dup := ofFamily(held, f); dup || !wantsFamily(wants, f) {
			alloc.Release(owner, a)
			d.released = append(d.released, a)
			continue
		}
		held = append(held, a)
	}
	if parseErr != nil {
		d.warnings = append(d.warnings, parseErr.Error())
		for _, a := range held {
			d.grants = append(d.grants, grant{addr: a, pool: poolName(cfg, a)})
		}
		d.refused = len(held) == 0
		return d
	}

	autoPools, autoErr := cfg.PoolsFor(svc, config.ServiceRequest{Pool: req.Pool})
	shown := statusAddresses(svc)
	var fresh []netip.Addr
	failed := false
	for _, w := range wants {
		h, hasHeld := ofFamily(held, w.family)
		requested, hasReq := ofFamily(req.Addresses, w.family)
		if hasHeld && (!hasReq || requested == h) {
			// Adopted at start-up: this reconcile writes the IPAllocation
			// and reports the adoption.
			adopted := holds(r.State.adopted[owner], h)
			d.grants = append(d.grants, grant{addr: h, pool: poolName(cfg, h), fresh: adopted, adopted: adopted})
			continue
		}
		ar := allocator.Request{Owner: owner, Family: w.family, Share: share}
		adopting := false
		var poolErr error
		switch {
		case hasReq:
			ar.Address = requested
			pools, err := cfg.PoolsFor(svc, config.ServiceRequest{Pool: req.Pool, Addresses: []netip.Addr{requested}})
			ar.Pools, poolErr = config.PoolNames(pools), err
		case hasShown(shown, w.family):
			// The Service shows an address no IPAllocation backs, e.g. after
			// a migration from another load-balancer controller: adopt it
			// if it is free and permitted, never hand out another one.
			a, _ := ofFamily(shown, w.family)
			ar.Address, adopting = a, true
			pools, err := cfg.PoolsFor(svc, config.ServiceRequest{Pool: req.Pool, Addresses: []netip.Addr{a}})
			ar.Pools, poolErr = config.PoolNames(pools), err
		default:
			ar.Pools, poolErr = config.PoolNames(autoPools), autoErr
		}
		if hasHeld {
			// An explicit request for another address: switch only if the
			// new one can be had.
			alloc.Release(owner, h)
		}
		var res allocator.Result
		err := poolErr
		if err == nil {
			res, err = alloc.Assign(ar)
		}
		if err != nil {
			if hasHeld {
				_, _ = alloc.Restore(owner, h, share)
				d.grants = append(d.grants, grant{addr: h, pool: poolName(cfg, h)})
				d.warnings = append(d.warnings, fmt.Sprintf("Requested address %s cannot be granted, keeping %s: %s", requested, h, explain(err, ar)))
				continue
			}
			msg := explain(err, ar)
			switch {
			case adopting:
				d.unadopted = append(d.unadopted, ar.Address)
				d.warnings = append(d.warnings, fmt.Sprintf("The Service shows %s, which seamark cannot adopt: %s; it gets no other %s address (set %s to choose one)",
					ar.Address, msg, w.family, seamarkv1alpha1.AnnotationIPs))
			case w.required:
				d.warnings = append(d.warnings, fmt.Sprintf("No %s address: %s", w.family, msg))
				failed = true
			default:
				d.notes = append(d.notes, fmt.Sprintf("No %s address (PreferDualStack, continuing with one family): %s", w.family, msg))
			}
			continue
		}
		if hasHeld {
			d.released = append(d.released, h)
		}
		if res.SharingConflict != nil {
			d.notes = append(d.notes, fmt.Sprintf("Could not share an address under sharing key %q: %v", req.SharingKey, res.SharingConflict))
		}
		fresh = append(fresh, res.Address)
		d.grants = append(d.grants, grant{addr: res.Address, pool: res.Pool, fresh: true, adopted: adopting})
	}
	if failed && len(wants) == 2 && wants[1].required {
		// RequireDualStack: one of each or nothing new.
		for _, a := range fresh {
			alloc.Release(owner, a)
		}
		kept := d.grants[:0]
		for _, g := range d.grants {
			if !g.fresh {
				kept = append(kept, g)
			}
		}
		d.grants = kept
		d.warnings = append(d.warnings, "RequireDualStack needs one address of each family; granted none")
	}
	delete(r.State.adopted, owner)
	d.refused = len(d.grants) == 0 && len(d.warnings) > 0
	return d
}

func wantsFamily(wants []familyWant, f allocator.Family) bool {
	for _, w := range wants {
		if w.family == f {
			return true
		}
	}
	return false
}

func hasShown(shown []netip.Addr, f allocator.Family) bool {
	_, ok := ofFamily(shown, f)
	return ok
}

// poolName is the pool an address belongs to now, for a missing
// IPAllocation that must be written again.
func poolName(cfg *config.Config, a netip.Addr) string {
	if p := cfg.PoolOf(a); p != nil {
		return p.Name
	}
	return ""
}

// explain turns an allocator error into a sentence a user can act on.
func explain(err error, ar allocator.Request) string {
	pools := strings.Join(ar.Pools, ", ")
	switch {
	case len(ar.Pools) == 0 && !ar.Address.IsValid():
		if err != nil && !errors.Is(err, allocator.ErrFamilyUnavailable) && !errors.Is(err, allocator.ErrExhausted) {
			return err.Error()
		}
		return "no IPPool admits this Service (check the pools' autoAssign, serviceSelector and namespaceSelector, or name one with " + seamarkv1alpha1.AnnotationPool + ")"
	case len(ar.Pools) == 0:
		if err != nil && !errors.Is(err, allocator.ErrNotInPool) {
			return err.Error()
		}
		return fmt.Sprintf("no IPPool this Service may use contains %s", ar.Address)
	case errors.Is(err, allocator.ErrExhausted):
		return fmt.Sprintf("every permitted pool with %s addresses is full (%s)", ar.Family, pools)
	case errors.Is(err, allocator.ErrFamilyUnavailable):
		return fmt.Sprintf("no permitted pool has %s addresses (%s)", ar.Family, pools)
	case errors.Is(err, allocator.ErrNotInPool):
		return fmt.Sprintf("%s is not in any pool this Service may use (%s)", ar.Address, pools)
	case errors.Is(err, allocator.ErrInUse):
		return fmt.Sprintf("%s is already in use by another Service", ar.Address)
	}
	return err.Error()
}

// releaseAll gives back every address of a Service that is gone or no
// longer ours; svc is nil when it is gone.
func (r *ServiceReconciler) releaseAll(ctx context.Context, svc *corev1.Service, namespace, name string) error {
	owner := ownerOf(namespace, name)
	r.State.mu.Lock()
	addrs := r.State.alloc.Addresses(owner)
	r.State.alloc.ReleaseOwner(owner)
	r.State.mu.Unlock()
	for _, a := range addrs {
		if err := r.writer.leave(ctx, a, namespace, name); err != nil {
			return err
		}
		r.Metrics.allocations.WithLabelValues("released").Inc()
		logf.FromContext(ctx).Info("Released address", "ip", a, "service", owner)
		if svc != nil {
			r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventReleased, "Release", "Released %s", a)
		}
	}
	r.State.doneSeen(owner)
	return nil
}

// report emits the events and metrics of a decision.
func (r *ServiceReconciler) report(ctx context.Context, svc *corev1.Service, d decision) {
	log := logf.FromContext(ctx)
	for _, g := range d.grants {
		if !g.fresh {
			continue
		}
		if g.adopted {
			r.Metrics.allocations.WithLabelValues("adopted").Inc()
			r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventAdopted, "Allocate", "Adopted %s from pool %s", g.addr, g.pool)
			log.Info("Adopted address", "ip", g.addr, "pool", g.pool)
			continue
		}
		r.Metrics.allocations.WithLabelValues("granted").Inc()
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventAllocated, "Allocate", "Allocated %s from pool %s", g.addr, g.pool)
		log.Info("Allocated address", "ip", g.addr, "pool", g.pool)
	}
	for _, a := range d.released {
		r.Metrics.allocations.WithLabelValues("released").Inc()
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventReleased, "Release", "Released %s", a)
	}
	for _, n := range d.notes {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventNotShared, "Allocate", "%s", n)
	}
	if len(d.warnings) > 0 {
		// One refusal, one event: its sentences say everything that failed.
		w := strings.Join(d.warnings, "; ")
		r.Metrics.allocations.WithLabelValues("refused").Inc()
		r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, EventAllocationFailed, "Allocate", "%s", w)
		log.Info("Refused address", "reason", w)
	}
}

// shareFor returns the share data of a referenced Service from the cache.
func (r *ServiceReconciler) shareFor(ctx context.Context) func(ref seamarkv1alpha1.ServiceReference) allocator.Share {
	return shareFromCache(ctx, r.Client)
}

func shareFromCache(ctx context.Context, c client.Reader) func(ref seamarkv1alpha1.ServiceReference) allocator.Share {
	return func(ref seamarkv1alpha1.ServiceReference) allocator.Share {
		svc := &corev1.Service{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, svc); err != nil {
			return allocator.Share{}
		}
		return shareOf(svc, svc.Annotations[seamarkv1alpha1.AnnotationSharingKey])
	}
}
