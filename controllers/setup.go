package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/controllers/internal/grants"
	"github.com/seamark-io/seamark/plan"
)

// Options configure the controllers.
type Options struct {
	// Namespace holds the Secrets of BGP passwords (--namespace).
	Namespace string
	// DefaultClass: handle Services without spec.loadBalancerClass.
	DefaultClass bool
	// Workers is the number of Services reconciled at once; decisions are
	// serialized through the allocator, the API writes run in parallel.
	Workers int
	// OrphanGrace is how old an IPAllocation must be before the repair loop
	// may remove a Service that is gone from it.
	OrphanGrace time.Duration
	// Registry receives the metrics; nil registers nothing.
	Registry prometheus.Registerer
	// Name distinguishes the controllers of several managers in one
	// process (tests); empty in production.
	Name string
}

// CacheOptions limits the manager's cache to what seamark-controller
// needs: Secrets of its own namespace only, and Nodes and EndpointSlices
// (read for the Announced condition) stripped to what the planning reads.
func CacheOptions(namespace string) cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:             {Namespaces: map[string]cache.Config{namespace: {}}},
		&corev1.Node{}:               {Transform: plan.StripNode},
		&discoveryv1.EndpointSlice{}: {Transform: plan.StripEndpointSlice},
	}}
}

// Setup adds every reconciler of seamark-controller to mgr and returns the
// shared state.
func Setup(mgr ctrl.Manager, opts Options) (*State, error) {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.OrphanGrace <= 0 {
		opts.OrphanGrace = 30 * time.Second
	}
	state := NewState(opts.DefaultClass)
	unit := state.unit
	metrics := NewMetrics(opts.Registry)
	store := apiStore{client: mgr.GetClient(), reader: mgr.GetAPIReader()}
	poolEvents := make(chan event.GenericEvent, 1024)
	svcEvents := make(chan event.GenericEvent, 1024)
	announceEvents := make(chan event.GenericEvent, 1024)
	name := func(s string) string { return s + opts.Name }

	svcR := &ServiceReconciler{Client: mgr.GetClient(), State: state, Recorder: mgr.GetEventRecorder("seamark-controller"),
		Metrics: metrics, store: store}
	// Service events feed the index the addresses Services show before
	// they are queued: an address shown is never handed out, lock or not.
	svcHandler := handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			unit.ObserveService(e.Object.(*corev1.Service))
			q.Add(requestFor(e.Object))
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			unit.ObserveService(e.ObjectNew.(*corev1.Service))
			q.Add(requestFor(e.ObjectNew))
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			unit.ForgetService(e.Object.GetNamespace(), e.Object.GetName())
			q.Add(requestFor(e.Object))
		},
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.Add(requestFor(e.Object))
		},
	}
	// IPAllocation events feed the index first (another controller's
	// grants, deletions) and then wake the Services they name.
	allocHandler := handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			ipa := e.Object.(*seamarkv1alpha1.IPAllocation)
			unit.ObserveAllocation(ipa)
			enqueueServices(ipa, q)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, ipa := e.ObjectOld.(*seamarkv1alpha1.IPAllocation), e.ObjectNew.(*seamarkv1alpha1.IPAllocation)
			unit.ObserveAllocation(ipa)
			enqueueServices(old, q)
			enqueueServices(ipa, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			ipa, ok := e.Object.(*seamarkv1alpha1.IPAllocation)
			if !ok {
				return
			}
			unit.ForgetAllocation(ipa)
			enqueueServices(ipa, q)
			// The address is free again: retry the Services still waiting.
			enqueueWaiting(ctx, mgr.GetClient(), unit, q)
		},
	}
	err := ctrl.NewControllerManagedBy(mgr).Named(name("service")).
		Watches(&corev1.Service{}, svcHandler).
		Watches(&seamarkv1alpha1.IPAllocation{}, allocHandler).
		WatchesRawSource(source.Channel(svcEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers}).
		Complete(svcR)
	if err != nil {
		return nil, fmt.Errorf("setting up the Service controller: %w", err)
	}

	// The seamark.io/Announced condition: every node's plan over the cache,
	// with the SpeakerStatuses. Anything a plan reads wakes the Services it
	// can change; the config reconciler wakes them all after a rebuild.
	annR := &announcedReconciler{client: mgr.GetClient(), state: state, recorder: mgr.GetEventRecorder("seamark-controller"), defaultClass: opts.DefaultClass}
	toAll := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return allAddressed(ctx, mgr.GetClient(), unit)
	})
	toService := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()[discoveryv1.LabelServiceName]
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
	err = ctrl.NewControllerManagedBy(mgr).Named(name("announced")).
		Watches(&corev1.Service{}, &handler.EnqueueRequestForObject{}).
		Watches(&discoveryv1.EndpointSlice{}, toService).
		Watches(&corev1.Node{}, toAll, builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			return nodeChanged(e.ObjectOld, e.ObjectNew)
		}})).
		Watches(&seamarkv1alpha1.SpeakerStatus{}, toAll).
		WatchesRawSource(source.Channel(announceEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers}).
		Complete(annR)
	if err != nil {
		return nil, fmt.Errorf("setting up the Announced controller: %w", err)
	}

	cfgR := &configReconciler{client: mgr.GetClient(), state: state, namespace: opts.Namespace,
		poolEvents: poolEvents, svcEvents: svcEvents, announceEvents: announceEvents}
	// Status writes (ours, on every grant) must not rebuild the config: only
	// spec (generation, which deletion with a finalizer bumps too) and
	// label changes do.
	specOrLabels := builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "config"}}}
	})
	err = ctrl.NewControllerManagedBy(mgr).Named(name("config")).
		Watches(&seamarkv1alpha1.IPPool{}, one, specOrLabels).
		Watches(&seamarkv1alpha1.BGPPeer{}, one, specOrLabels).
		Watches(&seamarkv1alpha1.BGPAdvertisement{}, one, specOrLabels).
		Watches(&seamarkv1alpha1.L2Advertisement{}, one, specOrLabels).
		Watches(&corev1.Namespace{}, one, builder.WithPredicates(labelsChanged())).
		Watches(&corev1.Secret{}, one).
		Watches(&networkingv1.ServiceCIDR{}, one).
		Complete(cfgR)
	if err != nil {
		return nil, fmt.Errorf("setting up the config controller: %w", err)
	}

	poolR := &poolReconciler{client: mgr.GetClient(), state: state, metrics: metrics}
	err = ctrl.NewControllerManagedBy(mgr).Named(name("ippool")).
		For(&seamarkv1alpha1.IPPool{}).
		Watches(&seamarkv1alpha1.IPAllocation{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetLabels()[seamarkv1alpha1.LabelPool]}}}
		})).
		WatchesRawSource(source.Channel(poolEvents, &handler.EnqueueRequestForObject{})).
		Complete(poolR)
	if err != nil {
		return nil, fmt.Errorf("setting up the IPPool controller: %w", err)
	}

	repR := &repairReconciler{client: mgr.GetClient(), state: state, store: store, grace: opts.OrphanGrace}
	err = ctrl.NewControllerManagedBy(mgr).Named(name("ipallocation-repair")).
		For(&seamarkv1alpha1.IPAllocation{}).
		Complete(repR)
	if err != nil {
		return nil, fmt.Errorf("setting up the IPAllocation repair controller: %w", err)
	}

	if err := mgr.Add(&starter{mgr: mgr, state: state, namespace: opts.Namespace}); err != nil {
		return nil, err
	}
	return state, nil
}

func enqueueServices(ipa *seamarkv1alpha1.IPAllocation, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for _, s := range ipa.Spec.Services {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
	}
}

func requestFor(o client.Object) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}
}

// enqueueWaiting adds every Service of ours that is short of an address.
func enqueueWaiting(ctx context.Context, c client.Reader, unit *grants.Unit, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range svcs.Items {
		if s := &svcs.Items[i]; waiting(s, unit) {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
}

// waiting reports whether a Service of ours shows fewer addresses than it
// wants, or shows one seamark could not adopt yet (a pool may now admit it).
func waiting(s *corev1.Service, unit *grants.Unit) bool {
	if !unit.Handles(s) {
		return false
	}
	shown := config.StatusAddresses(s)
	if len(shown) < len(config.WantedFamilies(s)) {
		return true
	}
	owner := ownerOf(s.Namespace, s.Name)
	return len(unit.Addresses(owner)) < len(shown)
}

// starter opens the State once the caches are synced: it hands the index
// the config, every IPAllocation and the addresses every Service shows
// (so no grant can hand out an address some Service shows, locked or not),
// before any reconcile decides. Locks missing for shown addresses are
// written by the Service reconciler (adoption).
type starter struct {
	mgr       ctrl.Manager
	state     *State
	namespace string
}

var _ manager.LeaderElectionRunnable = &starter{}

func (s *starter) NeedLeaderElection() bool { return true }

func (s *starter) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("start")
	c := s.mgr.GetCache()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for caches to sync: %w", ctx.Err())
	}
	cfg, problems, _, err := buildConfig(ctx, c, s.namespace)
	if err != nil {
		return err
	}
	s.state.setConfig(cfg, problems)
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	for i := range svcs.Items {
		s.state.unit.ObserveService(&svcs.Items[i])
	}
	var allocs seamarkv1alpha1.IPAllocationList
	if err := c.List(ctx, &allocs); err != nil {
		return fmt.Errorf("listing IPAllocations: %w", err)
	}
	for i := range allocs.Items {
		s.state.unit.ObserveAllocation(&allocs.Items[i])
	}
	log.Info("Rebuilt the address index", "allocations", len(allocs.Items), "services", len(svcs.Items))
	close(s.state.ready)
	return nil
}
