package controllers

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// configReconciler rebuilds the config snapshot whenever any of its inputs
// changes (one queue key, so a burst of changes costs one build), hands the
// pools to the allocator, writes the Ready condition of BGPPeers and
// advertisements, and wakes the pools and the Services still waiting for
// an address.
type configReconciler struct {
	client     client.Client
	state      *State
	namespace  string
	poolEvents chan event.GenericEvent
	svcEvents  chan event.GenericEvent
	// announceEvents wakes the Announced controller for every addressed
	// Service once the new snapshot is published.
	announceEvents chan event.GenericEvent
}

func (r *configReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	cfg, problems, res, err := buildConfig(ctx, r.client, r.namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.state.setConfig(cfg, problems)
	if err := r.writeConditions(ctx, res, problems); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.wake(ctx)
}

// buildConfig lists the inputs of config.Build from the cache and returns
// them too: the objects whose conditions are written are the ones the
// snapshot was built from. Build keeps no reference to them.
func buildConfig(ctx context.Context, c client.Reader, namespace string) (*config.Config, config.Problems, config.Resources, error) {
	var (
		pools   seamarkv1alpha1.IPPoolList
		peers   seamarkv1alpha1.BGPPeerList
		bgpAds  seamarkv1alpha1.BGPAdvertisementList
		l2Ads   seamarkv1alpha1.L2AdvertisementList
		nss     corev1.NamespaceList
		secrets corev1.SecretList
		cidrs   networkingv1.ServiceCIDRList
	)
	for _, l := range []struct {
		list client.ObjectList
		opts []client.ListOption
	}{
		{&pools, nil}, {&peers, nil}, {&bgpAds, nil}, {&l2Ads, nil}, {&nss, nil},
		{&secrets, []client.ListOption{client.InNamespace(namespace)}}, {&cidrs, nil},
	} {
		if err := c.List(ctx, l.list, l.opts...); err != nil {
			return nil, nil, config.Resources{}, fmt.Errorf("listing %T: %w", l.list, err)
		}
	}
	res := config.Resources{
		Pools: pools.Items, Peers: peers.Items, BGPAdvertisements: bgpAds.Items, L2Advertisements: l2Ads.Items,
		Namespaces: nss.Items, Secrets: secrets.Items, ServiceCIDRs: cidrs.Items,
	}
	cfg, problems := config.Build(res)
	return cfg, problems, res, nil
}

// writeConditions sets Ready on every BGPPeer, BGPAdvertisement and
// L2Advertisement whose condition changed. IPPools are the pool
// reconciler's.
func (r *configReconciler) writeConditions(ctx context.Context, res config.Resources, problems config.Problems) error {
	write := func(kind, okMessage string, obj client.Object, conds *[]metav1.Condition, observed *int64) error {
		c := readyFromProblems(problems.For(kind, obj.GetName()), obj.GetGeneration(), okMessage)
		return r.patchStatus(ctx, obj, conds, observed, c)
	}
	for i := range res.Peers {
		p := &res.Peers[i]
		if err := write(config.KindBGPPeer, "The peer is valid and its password Secret was found", p, &p.Status.Conditions, &p.Status.ObservedGeneration); err != nil {
			return err
		}
	}
	for i := range res.BGPAdvertisements {
		a := &res.BGPAdvertisements[i]
		if err := write(config.KindBGPAdvertisement, "The advertisement is valid", a, &a.Status.Conditions, &a.Status.ObservedGeneration); err != nil {
			return err
		}
	}
	for i := range res.L2Advertisements {
		a := &res.L2Advertisements[i]
		if err := write(config.KindL2Advertisement, "The advertisement is valid", a, &a.Status.Conditions, &a.Status.ObservedGeneration); err != nil {
			return err
		}
	}
	return nil
}

func (r *configReconciler) patchStatus(ctx context.Context, obj client.Object, conds *[]metav1.Condition, observed *int64, c metav1.Condition) error {
	before := obj.DeepCopyObject().(client.Object)
	changed := setCondition(conds, c)
	if *observed != obj.GetGeneration() {
		*observed, changed = obj.GetGeneration(), true
	}
	if !changed {
		return nil
	}
	if err := r.client.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// wake enqueues every pool (overlaps and counts depend on the others) and
// every Service of ours that is still short of an address. The channels
// are drained continuously by the controllers' sources into their queues,
// so a send waits only for that hand-over (or for ctx).
func (r *configReconciler) wake(ctx context.Context) error {
	var pools seamarkv1alpha1.IPPoolList
	var svcs corev1.ServiceList
	if err := r.client.List(ctx, &pools); err != nil {
		return err
	}
	if err := r.client.List(ctx, &svcs, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	send := func(ch chan<- event.GenericEvent, obj client.Object) error {
		select {
		case ch <- event.GenericEvent{Object: obj}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range pools.Items {
		if err := send(r.poolEvents, &pools.Items[i]); err != nil {
			return err
		}
	}
	for i := range svcs.Items {
		s := &svcs.Items[i]
		if waiting(s, r.state.unit) {
			if err := send(r.svcEvents, s.DeepCopy()); err != nil {
				return err
			}
		}
		if r.announceEvents != nil && len(s.Status.LoadBalancer.Ingress) > 0 && r.state.unit.Handles(s) {
			if err := send(r.announceEvents, s.DeepCopy()); err != nil {
				return err
			}
		}
	}
	return nil
}

// labelsChanged lets through Namespace events that can change what a
// namespaceSelector matches.
func labelsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	}}
}
