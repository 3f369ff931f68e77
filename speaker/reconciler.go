package speaker

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/plan"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// ControllerName is the name of the speaker's controller in logs and
// controller-runtime's metrics.
const ControllerName = "bgp-speaker"

// planKey is the one work item every event maps to. The workqueue holds a
// key at most once, so a burst of changes while a plan is being applied
// costs one more plan, not one per change.
var planKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "plan"}}

// Announcer is what the Reconciler hands plans to; *bgp.Speaker implements it.
type Announcer interface {
	Reconcile(ctx context.Context, desired map[string]bgp.PeerDesired) error
}

// L2Announcer is what the Reconciler hands the layer 2 half of the plan
// to; *layer2.Speaker implements it. Reconcile must not block.
type L2Announcer interface {
	Reconcile(layer2.Desired)
}

// MemberlistKeyField is the key of the memberlist Secret's data that
// holds the gossip key material.
const MemberlistKeyField = "key"

// Reasons of the Events the speaker emits on its Node.
const (
	// EventMemberlistKeyMissing: layer 2 is configured but the gossip key
	// cannot be read, so the node answers for no address.
	EventMemberlistKeyMissing = "MemberlistKeyMissing"
	// EventLayer2Conflict: another MAC claimed an address this node owns.
	EventLayer2Conflict = "Layer2AddressConflict"
	// EventLayer2Competes: the node's kernel answers ARP for the addresses
	// too (kube-proxy's IPVS mode without strictARP).
	EventLayer2Competes = "KernelAnswersARP"
)

// Reconciler recomputes this node's plan from the informer caches on any
// relevant change and applies it. It keeps no state of its own between
// runs other than what it last applied, so every run is a full, idempotent
// recomputation; speaker/bgp turns it into incremental path changes.
type Reconciler struct {
	// Client reads from the manager's cache.
	Client client.Reader
	// NodeName is the node the speaker runs on.
	NodeName string
	// Namespace holds the Secrets of BGP passwords.
	Namespace string
	// DefaultClass: LoadBalancer Services without class are seamark's.
	DefaultClass bool
	// Announcer applies the plan.
	Announcer Announcer
	// CacheSyncTimeout bounds the wait for the caches before the first
	// plan; zero waits as long as it takes (startup.go), which is what the
	// speaker binary does. Tests of missing permissions set one, to see
	// the caches fail to sync.
	CacheSyncTimeout time.Duration
	// Layer2, if set, answers ARP/NDP for the plan's layer 2 addresses.
	Layer2 L2Announcer
	// MemberlistSecret is the name of the Secret (in Namespace) whose data
	// key MemberlistKeyField holds the gossip key material, any length: the
	// key is its SHA-256, so every speaker derives the same 32-byte key.
	MemberlistSecret string
	// Recorder, if set, receives Events about this node (layer 2 problems
	// an operator must fix).
	Recorder events.EventRecorder

	applied      atomic.Pointer[Plan]
	problemsMu   sync.Mutex
	lastProblems []PeerProblem
	lastKeyIssue string
}

// SetupWithManager registers the controller: every watched kind maps to the
// one plan key.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	toPlan := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{planKey}
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		// One worker: plans are applied in order and never concurrently.
		// No plan before the caches sync, however long that takes (startup.go).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, CacheSyncTimeout: cmp.Or(r.CacheSyncTimeout, cacheSyncTimeout)})
	for _, obj := range watchedKinds() {
		if _, ok := obj.(*corev1.Node); ok {
			// Every node's status is written every few seconds; only
			// what the plan reads may trigger one.
			b = b.Watches(obj, toPlan, builder.WithPredicates(predicate.Funcs{UpdateFunc: nodeChanged}))
			continue
		}
		b = b.Watches(obj, toPlan)
	}
	if err := b.Complete(r); err != nil {
		return fmt.Errorf("setting up controller %s: %w", ControllerName, err)
	}
	return nil
}

// nodeChanged reports whether an update changes what the plan reads of a
// Node: labels, taints, addresses.
func nodeChanged(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*corev1.Node)
	n, ok2 := e.ObjectNew.(*corev1.Node)
	if !ok1 || !ok2 {
		return true
	}
	return !equality.Semantic.DeepEqual(o.Labels, n.Labels) || !equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
		!equality.Semantic.DeepEqual(o.Status.Addresses, n.Status.Addresses)
}

func watchedKinds() []client.Object {
	return []client.Object{
		&corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Node{}, &networkingv1.ServiceCIDR{},
		&corev1.Namespace{}, &corev1.Secret{},
		&seamarkv1alpha1.IPPool{}, &seamarkv1alpha1.BGPPeer{},
		&seamarkv1alpha1.BGPAdvertisement{}, &seamarkv1alpha1.L2Advertisement{},
	}
}

// Reconcile computes the plan and applies it. A failure to apply is
// returned, so the item is retried with backoff; speaker/bgp keeps what
// it really announces, so the retry does exactly what is missing.
func (r *Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	start := time.Now()
	in, problems, err := r.input(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	if len(problems) > 0 {
		// The controller reports them on the objects; the speaker only
		// works with what is valid.
		log.V(1).Info("Configuration has problems", "count", len(problems), "first", problems[0].String())
	}
	plan := Compute(in)
	computed := time.Since(start)
	r.logProblems(ctx, plan.Problems)
	if r.Layer2 != nil {
		// Before BGP: it never blocks, and a BGP error must not hold up
		// layer 2.
		r.Layer2.Reconcile(r.layer2Desired(ctx, in, plan))
	}
	if err := r.Announcer.Reconcile(ctx, plan.Peers); err != nil {
		if errors.Is(err, bgp.ErrStopped) {
			return reconcile.Result{}, nil // shutting down: nothing left to announce
		}
		return reconcile.Result{}, fmt.Errorf("applying the plan: %w", err)
	}
	r.applied.Store(&plan)
	paths := 0
	for _, p := range plan.Peers {
		paths += len(p.Paths)
	}
	log.V(1).Info("Applied plan", "peers", len(plan.Peers), "paths", paths,
		"planDuration", computed.String(), "duration", time.Since(start).String())
	return reconcile.Result{}, nil
}

// input reads the plan's inputs from the cache. The objects are the
// cache's own (no deep copy: 10,000 Services would be copied on every
// event); nothing here modifies them.
func (r *Reconciler) input(ctx context.Context) (Input, config.Problems, error) {
	noCopy := client.UnsafeDisableDeepCopyOption(true)
	var (
		pools    seamarkv1alpha1.IPPoolList
		peers    seamarkv1alpha1.BGPPeerList
		bgpAdvs  seamarkv1alpha1.BGPAdvertisementList
		l2Advs   seamarkv1alpha1.L2AdvertisementList
		ns       corev1.NamespaceList
		secrets  corev1.SecretList
		cidrs    networkingv1.ServiceCIDRList
		services corev1.ServiceList
		epSlices discoveryv1.EndpointSliceList
	)
	lists := []struct {
		what string
		list client.ObjectList
		opts []client.ListOption
	}{
		{"IPPools", &pools, nil}, {"BGPPeers", &peers, nil}, {"BGPAdvertisements", &bgpAdvs, nil},
		{"L2Advertisements", &l2Advs, nil}, {"Namespaces", &ns, nil},
		{"Secrets", &secrets, []client.ListOption{client.InNamespace(r.Namespace)}},
		{"ServiceCIDRs", &cidrs, nil}, {"Services", &services, nil}, {"EndpointSlices", &epSlices, nil},
	}
	for _, l := range lists {
		if err := r.Client.List(ctx, l.list, append(l.opts, noCopy)...); err != nil {
			return Input{}, nil, fmt.Errorf("listing %s: %w", l.what, err)
		}
	}
	cfg, problems := config.Build(config.Resources{
		Pools: pools.Items, Peers: peers.Items, BGPAdvertisements: bgpAdvs.Items, L2Advertisements: l2Advs.Items,
		Namespaces: ns.Items, Secrets: secrets.Items, ServiceCIDRs: cidrs.Items,
	})
	in := Input{Config: cfg, Services: services.Items, EndpointSlices: epSlices.Items, DefaultClass: r.DefaultClass, Secrets: secrets.Items}
	var n corev1.Node
	switch err := r.Client.Get(ctx, types.NamespacedName{Name: r.NodeName}, &n); {
	case err == nil:
		in.Node = &n
	case apierrors.IsNotFound(err):
		// No node, no sessions: the node is gone or not registered yet.
	default:
		return Input{}, nil, fmt.Errorf("reading node %s: %w", r.NodeName, err)
	}
	if r.Layer2 != nil && len(cfg.L2Advertisements) > 0 {
		// Every node: layer 2 elects among all the eligible ones.
		var nodes corev1.NodeList
		if err := r.Client.List(ctx, &nodes, noCopy); err != nil {
			return Input{}, nil, fmt.Errorf("listing Nodes: %w", err)
		}
		in.Nodes = nodes.Items
	}
	return in, problems, nil
}

// layer2Desired translates the plan for speaker/layer2: the addresses,
// the gossip key from the memberlist Secret, and the addresses of this
// node (to gossip from) and of the others (to join). A missing key is
// logged and reported as an Event on the Node once per change.
func (r *Reconciler) layer2Desired(ctx context.Context, in Input, plan Plan) layer2.Desired {
	d := layer2.Desired{Enabled: plan.L2Enabled, Synced: true, Addresses: plan.L2}
	if !plan.L2Enabled || in.Node == nil {
		return d
	}
	d.Advertise = gossipAddr(in.Node, netip.Addr{})
	for i := range in.Nodes {
		if n := &in.Nodes[i]; n.Name != in.Node.Name {
			if a := gossipAddr(n, d.Advertise); a.IsValid() {
				d.Peers = append(d.Peers, a)
			}
		}
	}
	d.Key, d.KeyProblem = memberlistKey(in.Secrets, r.Namespace, r.MemberlistSecret)
	r.reportKeyIssue(ctx, in.Node, d.KeyProblem)
	return d
}

// memberlistKey derives the gossip key from the Secret, or says why it
// cannot.
func memberlistKey(secrets []corev1.Secret, namespace, name string) ([]byte, string) {
	if name == "" {
		return nil, "no memberlist Secret is configured (--memberlist-secret)"
	}
	for i := range secrets {
		s := &secrets[i]
		if s.Name != name || s.Namespace != namespace {
			continue
		}
		v := s.Data[MemberlistKeyField]
		if len(v) == 0 {
			return nil, fmt.Sprintf("Secret %s/%s has no %q data", namespace, name, MemberlistKeyField)
		}
		k := sha256.Sum256(v)
		return k[:], ""
	}
	return nil, fmt.Sprintf("Secret %s/%s does not exist", namespace, name)
}

func (r *Reconciler) reportKeyIssue(ctx context.Context, node *corev1.Node, issue string) {
	r.problemsMu.Lock()
	changed := issue != r.lastKeyIssue
	r.lastKeyIssue = issue
	r.problemsMu.Unlock()
	if !changed || issue == "" {
		return
	}
	msg := "Layer 2 cannot coordinate with the other speakers: " + issue + "; this node answers ARP/NDP for no address"
	ctrl.LoggerFrom(ctx).Info("Layer 2 gossip has no key", "problem", issue)
	if r.Recorder != nil {
		r.Recorder.Eventf(node, nil, corev1.EventTypeWarning, EventMemberlistKeyMissing, "Layer2", "%s", msg)
	}
}

// gossipAddr is the node's first InternalIP of the family of like (any
// family, IPv4 first, when like is the zero Addr), else the zero Addr.
func gossipAddr(n *corev1.Node, like netip.Addr) netip.Addr {
	var first netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, ok := parseAddr(a.Address)
		switch {
		case !ok:
		case like.IsValid() && ip.Is4() == like.Is4():
			return ip
		case !like.IsValid() && ip.Is4():
			return ip
		case !like.IsValid() && !first.IsValid():
			first = ip
		}
	}
	return first
}

// logProblems logs the plan's peer problems when they change, not on
// every plan.
func (r *Reconciler) logProblems(ctx context.Context, problems []PeerProblem) {
	r.problemsMu.Lock()
	defer r.problemsMu.Unlock()
	if slices.Equal(problems, r.lastProblems) {
		return
	}
	r.lastProblems = problems
	log := ctrl.LoggerFrom(ctx)
	for _, p := range problems {
		log.Info("Used BGP peer differently than configured", "peer", p.Peer, "reason", p.Reason, "message", p.Message)
	}
}

// Applied returns the plan last applied without error, or nil. Tests and
// diagnostics read it; it must not be modified.
func (r *Reconciler) Applied() *Plan { return r.applied.Load() }

// ReadyCheck is a readiness check that passes once a plan has been applied.
func (r *Reconciler) ReadyCheck(*http.Request) error {
	if r.applied.Load() == nil {
		return errors.New("no plan applied yet")
	}
	return nil
}

// CacheOptions restricts the manager's informers to what the speaker
// reads: Secrets of namespace only, and Services and EndpointSlices
// stripped of what the plan never reads (on a large cluster they are most
// of the speaker's memory). Nodes are all cached when allNodes (layer 2
// elects among every node), stripped to names, labels, taints and
// addresses; otherwise only this node.
func CacheOptions(namespace, nodeName string, allNodes bool) cache.Options {
	nodes := cache.ByObject{Transform: stripNode}
	if !allNodes {
		nodes.Field = fields.OneTermEqualSelector("metadata.name", nodeName)
	}
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:             {Namespaces: map[string]cache.Config{namespace: {}}},
			&corev1.Node{}:               nodes,
			&corev1.Service{}:            {Transform: stripService},
			&discoveryv1.EndpointSlice{}: {Transform: stripEndpointSlice},
		},
	}
}

// stripNode keeps what the plan reads (plan.StripNode).
var stripNode = plan.StripNode

// stripService drops annotations (kubectl's last-applied configuration is
// often the largest part of a Service) and managed fields.
func stripService(obj any) (any, error) {
	if s, ok := obj.(*corev1.Service); ok {
		s.ManagedFields, s.Annotations = nil, nil
	}
	return obj, nil
}

// stripEndpointSlice keeps what the plan reads (plan.StripEndpointSlice).
var stripEndpointSlice = plan.StripEndpointSlice

// Shutdown is a manager Runnable that leaves BGP gracefully when the
// manager stops (SIGTERM): it waits for the manager's context to end, then
// runs bgp.Speaker.Shutdown with the drain time, and returns only when the
// withdrawals are sent. The manager's GracefulShutdownTimeout must exceed
// Drain plus the few seconds the withdrawals take (see ShutdownTimeout).
type Shutdown struct {
	// Speaker is shut down.
	Speaker *bgp.Speaker
	// Drain is how long paths are announced with GRACEFUL_SHUTDOWN before
	// they are withdrawn.
	Drain time.Duration
}

var _ manager.LeaderElectionRunnable = (*Shutdown)(nil)

// ShutdownTimeout is the time the shutdown of a speaker with the given
// drain may take: the drain, the wait for the withdrawals to leave (at
// most a couple of seconds in speaker/bgp) and closing the sessions.
func ShutdownTimeout(drain time.Duration) time.Duration { return drain + 15*time.Second }

// Start blocks until ctx ends, then shuts the speaker down.
func (s *Shutdown) Start(ctx context.Context) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout(s.Drain))
	defer cancel()
	if err := s.Speaker.Shutdown(sctx, s.Drain); err != nil {
		return fmt.Errorf("shutting down the BGP speaker: %w", err)
	}
	return nil
}

// NeedLeaderElection is false: every node's speaker runs.
func (s *Shutdown) NeedLeaderElection() bool { return false }

// Layer2 is a manager Runnable that runs the layer 2 speaker on every node
// (no leader election): it answers and gossips until the manager stops,
// then hands its addresses over (layer2.Speaker.Run) while BGP drains.
type Layer2 struct {
	// Speaker is run.
	Speaker *layer2.Speaker
}

var _ manager.LeaderElectionRunnable = (*Layer2)(nil)

// Start runs the speaker until ctx ends and the handover is done.
func (l *Layer2) Start(ctx context.Context) error {
	if err := l.Speaker.Run(ctx); err != nil {
		return fmt.Errorf("running the layer 2 speaker: %w", err)
	}
	return nil
}

// NeedLeaderElection is false: every node's speaker runs.
func (l *Layer2) NeedLeaderElection() bool { return false }
