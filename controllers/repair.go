package controllers

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// repairReconciler removes the Services that are gone (or are no longer
// seamark's) from IPAllocations older than a grace period, deleting
// allocations left empty: they appear when Services are deleted while no
// controller runs. Absence is confirmed with an uncached read, and the
// grace period covers objects another controller is writing right now.
// (Services showing an address without an IPAllocation are adopted by the
// Service reconciler.)
type repairReconciler struct {
	client       client.Client
	reader       client.Reader
	state        *State
	writer       *allocationWriter
	grace        time.Duration
	defaultClass bool
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
	addr, err := netip.ParseAddr(string(ipa.Spec.Address))
	if err != nil {
		return ctrl.Result{}, nil
	}
	for _, ref := range ipa.Spec.Services {
		svc := &corev1.Service{}
		err := r.client.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, svc)
		if err == nil && config.Handles(svc, r.defaultClass) {
			continue
		}
		// Confirm with the apiserver before taking anything away.
		err = r.reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, svc)
		if err == nil && config.Handles(svc, r.defaultClass) {
			continue
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		owner := ownerOf(ref.Namespace, ref.Name)
		if err := r.writer.leave(ctx, addr, ref.Namespace, ref.Name); err != nil {
			return ctrl.Result{}, err
		}
		r.state.mu.Lock()
		r.state.alloc.Release(owner, addr)
		r.state.mu.Unlock()
		logf.FromContext(ctx).Info("Removed orphaned allocation", "ip", addr, "service", owner)
	}
	return ctrl.Result{}, nil
}
