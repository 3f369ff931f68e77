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
	client       client.Client
	state        *State
	namespace    string
	defaultClass bool
	poolEvents   chan event.GenericEvent
	svcEvents    chan event.GenericEvent
}

func (r *configReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	cfg, problems, err := buildConfig(ctx, r.client, r.namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.state.setConfig(cfg)
	if err := r.writeConditions(ctx, problems); err != nil {
		return ctrl.Result{}, err
	}
	r.wake(ctx)
	return ctrl.Result{}, nil
}

// buildConfig lists the inputs of config.Build from the cache.
func buildConfig(ctx context.Context, c client.Reader, namespace string) (*config.Config, config.Problems, error) {
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
			return nil, nil, fmt.Errorf("listing %T: %w", l.list, err)
		}
	}
	cfg, problems := config.Build(config.Resources{
		Pools: pools.Items, Peers: peers.Items, BGPAdvertisements: bgpAds.Items, L2Advertisements: l2Ads.Items,
		Namespaces: nss.Items, Secrets: secrets.Items, ServiceCIDRs: cidrs.Items,
	})
	return cfg, problems, nil
}

// writeConditions sets Ready on every BGPPeer, BGPAdvertisement and
// L2Advertisement whose condition changed. IPPools are the pool
// reconciler's.
func (r *configReconciler) writeConditions(ctx context.Context, problems config.Problems) error {
	var peers seamarkv1alpha1.BGPPeerList
	var bgpAds seamarkv1alpha1.BGPAdvertisementList
	var l2Ads seamarkv1alpha1.L2AdvertisementList
	if err := r.client.List(ctx, &peers); err != nil {
		return err
	}
	if err := r.client.List(ctx, &bgpAds); err != nil {
		return err
	}
	if err := r.client.List(ctx, &l2Ads); err != nil {
		return err
	}
	for i := range peers.Items {
		p := &peers.Items[i]
		c := readyFromProblems(problems.For(config.KindBGPPeer, p.Name), p.Generation, "The peer is valid and its password Secret was found")
		if err := r.patchStatus(ctx, p, &p.Status.Conditions, &p.Status.ObservedGeneration, c); err != nil {
			return err
		}
	}
	for i := range bgpAds.Items {
		a := &bgpAds.Items[i]
		c := readyFromProblems(problems.For(config.KindBGPAdvertisement, a.Name), a.Generation, "The advertisement is valid")
		if err := r.patchStatus(ctx, a, &a.Status.Conditions, &a.Status.ObservedGeneration, c); err != nil {
			return err
		}
	}
	for i := range l2Ads.Items {
		a := &l2Ads.Items[i]
		c := readyFromProblems(problems.For(config.KindL2Advertisement, a.Name), a.Generation, "The advertisement is valid")
		if err := r.patchStatus(ctx, a, &a.Status.Conditions, &a.Status.ObservedGeneration, c); err != nil {
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
// every Service of ours that is still short of an address.
func (r *configReconciler) wake(ctx context.Context) {
	var pools seamarkv1alpha1.IPPoolList
	var svcs corev1.ServiceList
	_ = r.client.List(ctx, &pools)
	_ = r.client.List(ctx, &svcs, client.UnsafeDisableDeepCopy)
	var poolEvs, svcEvs []event.GenericEvent
	for i := range pools.Items {
		poolEvs = append(poolEvs, event.GenericEvent{Object: &pools.Items[i]})
	}
	for i := range svcs.Items {
		s := &svcs.Items[i]
		if waiting(s, r.defaultClass) {
			svcEvs = append(svcEvs, event.GenericEvent{Object: s.DeepCopy()})
		}
	}
	// The channels are drained by the controllers' sources; never block
	// this reconcile on them.
	go func() {
		for _, e := range poolEvs {
			r.poolEvents <- e
		}
		for _, e := range svcEvs {
			r.svcEvents <- e
		}
	}()
}

// labelsChanged lets through Namespace events that can change what a
// namespaceSelector matches.
func labelsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	}}
}
