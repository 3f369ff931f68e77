package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers/internal/grants"
)

// repairReconciler removes the Services that are gone (or are no longer
// seamark's and no longer show the address) from IPAllocations older than
// a grace period, deleting allocations left empty: they appear when
// Services are deleted while no controller runs. Absence is confirmed by
// the apiserver after the lock is read (grants.Unit.LeaveIfGone), and the
// grace period covers objects another controller is writing right now.
// (Services showing an address without an IPAllocation are adopted by the
// Service reconciler.)
type repairReconciler struct {
	client client.Client
	state  *State
	store  grants.Store
	grace  time.Duration
}

func (r *repairReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if err := r.state.waitReady(ctx); err != nil {
		return ctrl.Result{}, err
	}
	ipa := &seamarkv1alpha1.IPAllocation{}
	if err := r.client.Get(ctx, req.NamespacedName, ipa); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if wait := r.grace - time.Since(ipa.CreationTimestamp.Time); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	cached := func(namespace, name string) *corev1.Service {
		svc := &corev1.Service{}
		if err := r.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, svc); err != nil {
			return nil
		}
		return svc
	}
	removed, err := r.state.unit.Repair(ctx, r.store, ipa, cached)
	for _, owner := range removed {
		logf.FromContext(ctx).Info("Removed orphaned allocation", "ip", ipa.Spec.Address, "service", owner)
	}
	return ctrl.Result{}, err
}
