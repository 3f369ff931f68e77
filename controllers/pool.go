package controllers

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// poolReconciler keeps the seamark.io/pool-protection finalizer and the
// status of IPPools.
type poolReconciler struct {
	client  client.Client
	state   *State
	metrics *Metrics
}

func (r *poolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pool := &seamarkv1alpha1.IPPool{}
	if err := r.client.Get(ctx, req.NamespacedName, pool); err != nil {
		r.metrics.poolAddresses.DeletePartialMatch(map[string]string{"pool": req.Name})
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var allocs seamarkv1alpha1.IPAllocationList
	if err := r.client.List(ctx, &allocs, client.MatchingLabels{seamarkv1alpha1.LabelPool: pool.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, err
	}
	live := len(allocs.Items)

	if pool.DeletionTimestamp != nil {
		if live == 0 && controllerutil.ContainsFinalizer(pool, seamarkv1alpha1.PoolProtectionFinalizer) {
			before := pool.DeepCopy()
			controllerutil.RemoveFinalizer(pool, seamarkv1alpha1.PoolProtectionFinalizer)
			return ctrl.Result{}, client.IgnoreNotFound(r.client.Patch(ctx, pool, client.MergeFrom(before)))
		}
	} else if !controllerutil.ContainsFinalizer(pool, seamarkv1alpha1.PoolProtectionFinalizer) {
		before := pool.DeepCopy()
		controllerutil.AddFinalizer(pool, seamarkv1alpha1.PoolProtectionFinalizer)
		if err := r.client.Patch(ctx, pool, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}

	cfg := r.state.Config()
	problems := r.state.Problems().For(config.KindIPPool, pool.Name)
	usable := cfg.Pools[pool.Name]
	if usable == nil && len(problems) == 0 && pool.DeletionTimestamp == nil {
		// The snapshot predates this pool; the config reconciler wakes the
		// pools once it has rebuilt it.
		return ctrl.Result{}, nil
	}
	outsideAll := map[netip.Addr]bool{}
	for _, a := range r.state.unit.Outside() {
		outsideAll[a] = true
	}
	var outside []string
	for i := range allocs.Items {
		a, err := netip.ParseAddr(string(allocs.Items[i].Spec.Address))
		if err == nil && outsideAll[a] {
			outside = append(outside, a.String())
		}
	}
	before := pool.DeepCopy()
	cond := poolCondition(problems, pool, live, outside)
	changed := setCondition(&pool.Status.Conditions, cond)
	counts := r.counts(pool.Name, usable)
	if pool.Status.ObservedGeneration != pool.Generation {
		pool.Status.ObservedGeneration, changed = pool.Generation, true
	}
	if !countsEqual(pool.Status, counts) {
		pool.Status.IPv4, pool.Status.IPv6, pool.Status.Allocated, pool.Status.Available = counts.IPv4, counts.IPv6, counts.Allocated, counts.Available
		changed = true
	}
	if !changed {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.client.Status().Patch(ctx, pool, client.MergeFrom(before)))
}

// poolCondition is the Ready condition of a pool: False for config
// problems (Overlap, InvalidCIDR, …), while terminating, and while granted
// addresses lie outside its CIDRs; True otherwise.
func poolCondition(problems []config.Problem, pool *seamarkv1alpha1.IPPool, live int, outside []string) metav1.Condition {
	switch {
	case len(problems) > 0:
		return readyFromProblems(problems, pool.Generation, "")
	case pool.DeletionTimestamp != nil:
		return metav1.Condition{Type: seamarkv1alpha1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: pool.Generation,
			Reason:  seamarkv1alpha1.ReasonTerminating,
			Message: fmt.Sprintf("The pool is being deleted; it grants no new addresses and stays until its %d allocations are released", live)}
	case len(outside) > 0:
		return metav1.Condition{Type: seamarkv1alpha1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: pool.Generation,
			Reason:  seamarkv1alpha1.ReasonAllocationsOutsidePool,
			Message: fmt.Sprintf("Addresses %v were granted from this pool and are no longer inside its CIDRs; they stay with their Services until released", outside)}
	}
	return readyFromProblems(nil, pool.Generation, "The pool grants addresses")
}

// counts are the sizes of a pool from the allocator.
func (r *poolReconciler) counts(name string, usable *config.Pool) seamarkv1alpha1.IPPoolStatus {
	var st seamarkv1alpha1.IPPoolStatus
	if usable == nil {
		return st
	}
	var avail uint64
	for _, f := range []allocator.Family{allocator.IPv4, allocator.IPv6} {
		if !usable.HasFamily(f) {
			continue
		}
		s := r.state.unit.Stats(name, f)
		c := &seamarkv1alpha1.AddressCounts{Capacity: u(s.Capacity), Allocated: u(s.Allocated), Available: u(s.Available)}
		if f == allocator.IPv4 {
			st.IPv4 = c
		} else {
			st.IPv6 = c
		}
		st.Allocated += int64(s.Allocated)
		avail = satAdd(avail, s.Available)
		for state, v := range map[string]uint64{"capacity": s.Capacity, "allocated": s.Allocated, "available": s.Available} {
			r.metrics.poolAddresses.WithLabelValues(name, f.String(), state).Set(float64(v))
		}
	}
	st.Available = u(avail)
	return st
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func countsEqual(a, b seamarkv1alpha1.IPPoolStatus) bool {
	eq := func(x, y *seamarkv1alpha1.AddressCounts) bool {
		return (x == nil) == (y == nil) && (x == nil || *x == *y)
	}
	return eq(a.IPv4, b.IPv4) && eq(a.IPv6, b.IPv6) && a.Allocated == b.Allocated && a.Available == b.Available
}
