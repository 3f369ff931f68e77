package controllers

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/seamark-io/seamark/controllers/internal/grants"
)

// Event reasons on Services.
const (
	EventAllocated        = "AddressAllocated"
	EventAdopted          = "AddressAdopted"
	EventReleased         = "AddressReleased"
	EventAllocationFailed = "AllocationFailed"
	EventNotShared        = "AddressNotShared"
	// EventAddressConflict: the Service showed an address whose
	// IPAllocation lists another Service; it was given another one.
	EventAddressConflict = "AddressConflict"
)

// ServiceReconciler grants addresses to the LoadBalancer Services seamark
// handles (docs/allocation.md). It is thin: read → grants.Unit.Sync
// (decide, write locks, write status, release) → events and metrics.
type ServiceReconciler struct {
	Client   client.Client
	State    *State
	Recorder events.EventRecorder
	Metrics  *Metrics

	store   grants.Store
	backoff backoff
}

// Reconcile implements reconcile.Reconciler.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.State.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	unit := r.State.unit
	owner := ownerOf(req.Namespace, req.Name)
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		released, err := unit.SyncGone(ctx, r.store, req.Namespace, req.Name)
		r.reportReleased(ctx, nil, owner, released)
		r.State.doneSeen(owner)
		r.backoff.reset(owner)
		return ctrl.Result{}, err
	}
	if svc.DeletionTimestamp != nil || !unit.Handles(svc) {
		// Not ours (any more), or going: never touch its status; its locks
		// go once the apiserver shows it without their addresses.
		released, err := unit.SyncNotOurs(ctx, r.store, svc)
		r.reportReleased(ctx, svc, owner, released)
		return ctrl.Result{}, err
	}

	if len(svc.Status.LoadBalancer.Ingress) == 0 {
		r.State.firstSeen(owner, time.Now())
	}
	out, err := unit.Sync(ctx, r.store, svc)
	if err != nil {
		return ctrl.Result{}, err
	}
	if out.Stale {
		// The status moved on since the cache was read (another writer):
		// nothing was released; decide again from a newer read.
		return ctrl.Result{RequeueAfter: r.backoff.next(owner)}, nil
	}
	r.backoff.reset(owner)
	if out.Written && len(svc.Status.LoadBalancer.Ingress) == 0 && len(out.Decision.Targets) > 0 {
		if t, ok := r.State.doneSeen(owner); ok {
			r.Metrics.duration.Observe(time.Since(t).Seconds())
		}
	}
	r.report(ctx, svc, out)
	return ctrl.Result{}, nil
}

// report emits the events and metrics of a carried-out decision.
func (r *ServiceReconciler) report(ctx context.Context, svc *corev1.Service, out grants.Outcome) {
	log := logf.FromContext(ctx)
	d := out.Decision
	for _, t := range d.Targets {
		switch {
		case t.Adopted:
			r.Metrics.allocations.WithLabelValues("adopted").Inc()
			r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventAdopted, "Allocate", "Adopted %s from pool %s", t.Addr, t.Pool)
			log.Info("Adopted address", "ip", t.Addr, "pool", t.Pool)
		case t.Fresh:
			r.Metrics.allocations.WithLabelValues("granted").Inc()
			r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventAllocated, "Allocate", "Allocated %s from pool %s", t.Addr, t.Pool)
			log.Info("Allocated address", "ip", t.Addr, "pool", t.Pool)
		}
	}
	for _, l := range d.Lost {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, EventAddressConflict, "Allocate",
			"The Service showed %s, but its IPAllocation lists %s: the address stays with them and this Service got another one; update clients and DNS that used %s",
			l.Addr, strings.Join(l.Holders, ", "), l.Addr)
		log.Info("Resolved a duplicate address", "ip", l.Addr, "holders", l.Holders)
	}
	r.reportReleased(ctx, svc, ownerOf(svc.Namespace, svc.Name), out.Released)
	for _, n := range d.Notes {
		r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventNotShared, "Allocate", "%s", n)
	}
	if len(d.Warnings) > 0 {
		// One refusal, one event: its sentences say everything that failed.
		w := strings.Join(d.Warnings, "; ")
		r.Metrics.allocations.WithLabelValues("refused").Inc()
		r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, EventAllocationFailed, "Allocate", "%s", w)
		log.Info("Refused address", "reason", w)
	}
}

func (r *ServiceReconciler) reportReleased(ctx context.Context, svc *corev1.Service, owner string, released []netip.Addr) {
	for _, a := range released {
		r.Metrics.allocations.WithLabelValues("released").Inc()
		logf.FromContext(ctx).Info("Released address", "ip", a, "service", owner)
		if svc != nil {
			r.Recorder.Eventf(svc, nil, corev1.EventTypeNormal, EventReleased, "Release", "Released %s", a)
		}
	}
}

// backoff spaces the reconciles of a Service whose status write lost its
// optimistic lock: 10 ms doubling to 1 s, reset on success. (The
// workqueue's own backoff applies only to returned errors, and a lost race
// is not an error to log.)
type backoff struct {
	mu    sync.Mutex
	fails map[string]int
}

func (b *backoff) next(owner string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails == nil {
		b.fails = map[string]int{}
	}
	n := b.fails[owner]
	b.fails[owner] = n + 1
	d := 10 * time.Millisecond << min(n, 7)
	return min(d, time.Second)
}

func (b *backoff) reset(owner string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.fails, owner)
}
