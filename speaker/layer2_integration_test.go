//go:build integration

package speaker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// lastDesired keeps what the reconciler last handed to layer 2.
type lastDesired struct {
	mu sync.Mutex
	d  *layer2.Desired
}

func (l *lastDesired) Reconcile(d layer2.Desired) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = &d
}

func (l *lastDesired) get() *layer2.Desired {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d
}

// TestReconcilerFeedsLayer2 runs the speaker's manager against the real
// apiserver and checks what layer 2 is told: the addresses with their
// eligible nodes, the gossip key derived from the Secret, the node's own
// and the other nodes' addresses; and that a missing Secret is reported
// with an Event on the Node.
func TestReconcilerFeedsLayer2(t *testing.T) {
	const ns = "seamark-system"
	ctx := t.Context()
	c := env.Client
	// The apiserver is shared with the package's other tests: everything
	// created here goes again (the namespace stays, others use it).
	create := func(obj client.Object) {
		t.Helper()
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
		if _, ok := obj.(*corev1.Namespace); ok {
			return
		}
		t.Cleanup(func() {
			if err := c.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
			}
		})
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	nodeIPs := map[string]string{"l2-a": "198.18.210.11", "l2-b": "198.18.210.12", "l2-x": "198.18.210.13"}
	for name, ip := range nodeIPs {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"l2test": "yes"}}}
		if name == "l2-x" {
			n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB] = ""
		}
		create(n)
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
		mustDo(t, "setting node addresses", c.Status().Update(ctx, n))
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "seamark-memberlist"},
		Data: map[string][]byte{MemberlistKeyField: []byte("any length of secret")}}
	create(secret)
	pool := ipPool("l2pool", nil, "198.51.100.0/24")
	create(&pool)
	adv := seamarkv1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"},
		Spec: seamarkv1alpha1.L2AdvertisementSpec{NodeSelector: sel(map[string]string{"l2test": "yes"})}}
	create(&adv)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "l2web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	create(svc)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.51.100.7"}}
	mustDo(t, "setting service status", c.Status().Update(ctx, svc))

	// Not testr: the manager logs from goroutines that outlive Start.
	log := logr.Discard()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  CacheOptions(ns, "l2-a", true),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 log,
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr(true)},
	})
	mustDo(t, "creating manager", err)
	l2 := &lastDesired{}
	r := &Reconciler{NodeName: "l2-a", Namespace: ns, DefaultClass: true, Announcer: bgp.New(bgp.Options{Logger: log}),
		Layer2: l2, MemberlistSecret: "seamark-memberlist", Recorder: mgr.GetEventRecorder("seamark-speaker")}
	mustDo(t, "setting up reconciler", r.SetupWithManager(mgr))
	mgrCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	wantKey := sha256.Sum256([]byte("any length of secret"))
	eventually(t, time.Minute, "layer 2 to get the address, the key and the nodes", func() (bool, string) {
		d := l2.get()
		if d == nil {
			return false, "nothing handed over"
		}
		var nodes []string
		for _, a := range d.Addresses {
			if a.Addr == netip.MustParseAddr("198.51.100.7") && len(a.Rules) == 1 {
				nodes = a.Rules[0].Nodes
			}
		}
		ok := d.Enabled && d.Synced && slices.Equal(d.Key, wantKey[:]) &&
			d.Advertise == netip.MustParseAddr("198.18.210.11") &&
			slices.Contains(d.Peers, netip.MustParseAddr("198.18.210.12")) &&
			slices.Equal(nodes, []string{"l2-a", "l2-b"})
		return ok, fmt.Sprintf("%+v (nodes %v)", *d, nodes)
	})

	mustDo(t, "deleting the memberlist Secret", c.Delete(ctx, secret))
	eventually(t, time.Minute, "the missing key to be noticed and reported", func() (bool, string) {
		d := l2.get()
		if d.Key != nil || d.KeyProblem == "" {
			return false, fmt.Sprintf("key %x problem %q", d.Key, d.KeyProblem)
		}
		var evs eventsv1.EventList
		if err := c.List(ctx, &evs, client.InNamespace(metav1.NamespaceDefault)); err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == EventMemberlistKeyMissing && e.Regarding.Name == "l2-a" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("no %s Event among %d; problem %q", EventMemberlistKeyMissing, len(evs.Items), d.KeyProblem)
	})
}
