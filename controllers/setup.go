package controllers

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
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

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
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
// needs: Secrets of its own namespace only.
func CacheOptions(namespace string) cache.Options {
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{namespace: {}}},
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
	state := NewState()
	metrics := NewMetrics(opts.Registry)
	writer := &allocationWriter{client: mgr.GetClient(), reader: mgr.GetAPIReader()}
	poolEvents := make(chan event.GenericEvent, 1024)
	svcEvents := make(chan event.GenericEvent, 1024)
	name := func(s string) string { return s + opts.Name }

	svcR := &ServiceReconciler{Client: mgr.GetClient(), State: state, Recorder: mgr.GetEventRecorder("seamark-controller"),
		Metrics: metrics, DefaultClass: opts.DefaultClass, writer: writer}
	// IPAllocation events feed the allocator first (another controller's
	// grants, deletions) and then wake the Services they name.
	allocHandler := handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			ipa := e.Object.(*seamarkv1alpha1.IPAllocation)
			state.restoreAllocation(ipa, shareFromCache(ctx, mgr.GetClient()))
			enqueueServices(ipa, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, ipa := e.ObjectOld.(*seamarkv1alpha1.IPAllocation), e.ObjectNew.(*seamarkv1alpha1.IPAllocation)
			state.forgetAllocation(leftServices(old, ipa))
			state.restoreAllocation(ipa, shareFromCache(ctx, mgr.GetClient()))
			enqueueServices(old, q)
			enqueueServices(ipa, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			ipa, ok := e.Object.(*seamarkv1alpha1.IPAllocation)
			if !ok {
				return
			}
			state.forgetAllocation(ipa)
			enqueueServices(ipa, q)
			// The address is free again: retry the Services still waiting.
			enqueueWaiting(ctx, mgr.GetClient(), opts.DefaultClass, q)
		},
	}
	err := ctrl.NewControllerManagedBy(mgr).Named(name("service")).
		For(&corev1.Service{}).
		Watches(&seamarkv1alpha1.IPAllocation{}, allocHandler).
		WatchesRawSource(source.Channel(svcEvents, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.Workers}).
		Complete(svcR)
	if err != nil {
		return nil, fmt.Errorf("setting up the Service controller: %w", err)
	}

	cfgR := &configReconciler{client: mgr.GetClient(), state: state, namespace: opts.Namespace, defaultClass: opts.DefaultClass,
		poolEvents: poolEvents, svcEvents: svcEvents}
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

	repR := &repairReconciler{client: mgr.GetClient(), reader: mgr.GetAPIReader(), state: state, writer: writer,
		grace: opts.OrphanGrace, defaultClass: opts.DefaultClass}
	err = ctrl.NewControllerManagedBy(mgr).Named(name("ipallocation-repair")).
		For(&seamarkv1alpha1.IPAllocation{}).
		Complete(repR)
	if err != nil {
		return nil, fmt.Errorf("setting up the IPAllocation repair controller: %w", err)
	}

	if err := mgr.Add(&starter{mgr: mgr, state: state, namespace: opts.Namespace, defaultClass: opts.DefaultClass}); err != nil {
		return nil, err
	}
	return state, nil
}

func enqueueServices(ipa *seamarkv1alpha1.IPAllocation, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	for _, s := range ipa.Spec.Services {
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
	}
}

// enqueueWaiting adds every Service of ours that is short of an address.
func enqueueWaiting(ctx context.Context, c client.Reader, defaultClass bool, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range svcs.Items {
		if s := &svcs.Items[i]; waiting(s, defaultClass) {
			q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
}

// waiting reports whether a Service of ours shows fewer addresses than it wants.
func waiting(s *corev1.Service, defaultClass bool) bool {
	return config.Handles(s, defaultClass) && len(s.Status.LoadBalancer.Ingress) < len(wantedFamilies(s))
}

// leftServices returns old with only the Services that new no longer lists.
func leftServices(old, new *seamarkv1alpha1.IPAllocation) *seamarkv1alpha1.IPAllocation {
	out := old.DeepCopy()
	out.Spec.Services = out.Spec.Services[:0]
	for _, s := range old.Spec.Services {
		kept := false
		for _, n := range new.Spec.Services {
			if n.Namespace == s.Namespace && n.Name == s.Name {
				kept = true
			}
		}
		if !kept {
			out.Spec.Services = append(out.Spec.Services, s)
		}
	}
	return out
}

// starter opens the State once the caches are synced: it rebuilds the
// allocator from the IPAllocations, then confirms (adopts, in memory) the
// addresses Services already show, oldest Service first, before any new
// grant. The Service reconciler writes the missing IPAllocations.
type starter struct {
	mgr          ctrl.Manager
	state        *State
	namespace    string
	defaultClass bool
}

var _ manager.LeaderElectionRunnable = &starter{}

func (s *starter) NeedLeaderElection() bool { return true }

func (s *starter) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("start")
	c := s.mgr.GetCache()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for caches to sync: %w", ctx.Err())
	}
	cfg, _, _, err := buildConfig(ctx, c, s.namespace)
	if err != nil {
		return err
	}
	s.state.setConfig(cfg)
	var allocs seamarkv1alpha1.IPAllocationList
	if err := c.List(ctx, &allocs); err != nil {
		return fmt.Errorf("listing IPAllocations: %w", err)
	}
	for i := range allocs.Items {
		s.state.restoreAllocation(&allocs.Items[i], shareFromCache(ctx, c))
	}
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs); err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	sort.Slice(svcs.Items, func(i, j int) bool {
		a, b := &svcs.Items[i], &svcs.Items[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return ownerOf(a.Namespace, a.Name) < ownerOf(b.Namespace, b.Name)
	})
	adopted := 0
	s.state.mu.Lock()
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if !config.Handles(svc, s.defaultClass) {
			continue
		}
		owner := ownerOf(svc.Namespace, svc.Name)
		held := s.state.alloc.Addresses(owner)
		for _, a := range statusAddresses(svc) {
			if _, ok := ofFamily(held, allocator.FamilyOf(a)); ok {
				continue
			}
			req, err := config.ParseService(svc)
			if err != nil {
				continue // the reconcile reports it
			}
			pools, err := cfg.PoolsFor(svc, config.ServiceRequest{Pool: req.Pool, Addresses: []netip.Addr{a}})
			if err != nil {
				continue
			}
			if _, err := s.state.alloc.Assign(allocator.Request{Owner: owner, Address: a, Pools: config.PoolNames(pools),
				Share: shareOf(svc, svc.Annotations[seamarkv1alpha1.AnnotationSharingKey])}); err == nil {
				s.state.adopted[owner] = append(s.state.adopted[owner], a)
				adopted++
			}
		}
	}
	s.state.mu.Unlock()
	log.Info("Rebuilt the address index", "allocations", len(allocs.Items), "adopted", adopted)
	close(s.state.ready)
	return nil
}
