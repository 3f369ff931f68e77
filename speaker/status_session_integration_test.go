//go:build integration

package speaker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker/bgp"
)

// TestStatusFollowsTheSession runs the speaker as cmd/seamark-speaker
// wires it (reconciler, GoBGP speaker, status writer) against a GoBGP
// router on loopback and counts the writes of its SpeakerStatus from a
// watch: none while nothing changes, a few when the router goes away (the
// session's real state changes, coalesced to one write per second), none
// once it settled, and the session Established again when the router is
// back.
func TestStatusFollowsTheSession(t *testing.T) {
	const (
		routerAddr = "127.0.0.60"
		sourceAddr = "127.0.0.61"
		port       = 18195
		nodeName   = "status-session"
	)
	ctx := t.Context()
	c := env.Client
	spec := routerSpec{Addr: routerAddr, Port: port, ASN: 64512, Neighbors: []string{sourceAddr}, PeerASN: 64513}
	router := newTestRouter(t, spec)

	// This node peers with this test's router only: earlier tests' peers
	// select every node.
	var peers seamarkv1alpha1.BGPPeerList
	mustDo(t, "listing BGPPeers", c.List(ctx, &peers))
	for i := range peers.Items {
		mustDo(t, "removing an earlier test's BGPPeer", client.IgnoreNotFound(c.Delete(ctx, &peers.Items[i])))
	}
	mustDo(t, "creating the Node", c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}))
	peer := bgpPeer("status-router", 0, routerAddr, 64512, 64513, func(s *seamarkv1alpha1.BGPPeerSpec) {
		s.Port = port
		s.RouterID = ptr(seamarkv1alpha1.IPAddress("198.18.0.61"))
		s.SourceAddress = ptr(seamarkv1alpha1.IPAddress(sourceAddr))
		s.HoldTime = &metav1.Duration{Duration: 3 * time.Second}
		s.KeepaliveTime = &metav1.Duration{Duration: time.Second}
		s.ConnectRetryTime = &metav1.Duration{Duration: time.Second}
	})
	peer.CreationTimestamp = metav1.Time{}
	mustDo(t, "creating the BGPPeer", c.Create(ctx, &peer))
	t.Cleanup(func() { _ = c.Delete(context.Background(), &peer) })

	log := testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  CacheOptions("seamark-system", nodeName, false),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 log,
		Controller:             ctrlconfig.Controller{SkipNameValidation: ptr(true)},
	})
	mustDo(t, "creating manager", err)
	bgpSpeaker := bgp.New(bgp.Options{Logger: log.WithName("bgp")})
	r := &Reconciler{NodeName: nodeName, Namespace: "seamark-system", DefaultClass: true, Announcer: bgpSpeaker}
	mustDo(t, "setting up reconciler", r.SetupWithManager(mgr))
	mustDo(t, "adding shutdown", mgr.Add(&Shutdown{Speaker: bgpSpeaker}))
	mustDo(t, "adding the status writer", mgr.Add(&StatusWriter{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), NodeName: nodeName,
		Log: log.WithName("status"), Collect: func() StatusReport { return Report(r, bgpSpeaker, nil, "") }}))

	// Every write of the SpeakerStatus, as the apiserver sends them.
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	mustDo(t, "watch client", err)
	w, err := wc.Watch(ctx, &seamarkv1alpha1.SpeakerStatusList{}, client.MatchingFields{"metadata.name": nodeName})
	mustDo(t, "watching the SpeakerStatus", err)
	defer w.Stop()
	var mu sync.Mutex
	var writes []string
	var last *seamarkv1alpha1.SpeakerStatus
	go func() {
		for e := range w.ResultChan() {
			ss, ok := e.Object.(*seamarkv1alpha1.SpeakerStatus)
			if !ok || (e.Type != watch.Added && e.Type != watch.Modified) {
				continue
			}
			mu.Lock()
			state := ""
			if len(ss.Status.Peers) > 0 {
				state = ss.Status.Peers[0].State
			}
			writes = append(writes, fmt.Sprintf("%s ready=%t peers=%s %s", e.Type,
				meta.IsStatusConditionTrue(ss.Status.Conditions, seamarkv1alpha1.ConditionReady), ss.Status.PeersUp, state))
			last = ss
			mu.Unlock()
		}
	}()
	// taken returns the writes seen since the last call.
	taken := 0
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := writes[taken:]
		taken = len(writes)
		return out
	}
	session := func() string {
		mu.Lock()
		defer mu.Unlock()
		if last == nil || len(last.Status.Peers) == 0 || !meta.IsStatusConditionTrue(last.Status.Conditions, seamarkv1alpha1.ConditionReady) {
			return ""
		}
		return last.Status.Peers[0].State
	}

	mgrCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		_ = c.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}})
	})

	eventually(t, time.Minute, "the SpeakerStatus Ready with the session Established", func() (bool, string) {
		return session() == "Established", session()
	})
	t.Logf("writes while starting: %q", take())

	steady := func(what string) {
		t.Helper()
		time.Sleep(5 * time.Second)
		if got := take(); len(got) > 0 {
			t.Errorf("%s: the SpeakerStatus was written %d times in 5s without a change: %q", what, len(got), got)
		}
	}
	steady("established")

	// The router goes away: the session leaves Established, which is
	// written; it then retries every second, each attempt a state change
	// of the session (Active, Connect, Active ...), which the writer
	// coalesces to at most one write a second.
	mustDo(t, "stopping the router", router.srv.StopBgp(context.Background(), &gobgpapi.StopBgpRequest{}))
	eventually(t, 30*time.Second, "the session down in the SpeakerStatus", func() (bool, string) {
		s := session()
		return s == "Active" || s == "Idle" || s == "Connect", s
	})
	start := time.Now()
	time.Sleep(5 * time.Second)
	down := take()
	if max := int(time.Since(start)/time.Second) + 2; len(down) > max {
		t.Errorf("%d writes in %s with the router down, more than one a second: %q", len(down), time.Since(start).Round(time.Second), down)
	}
	t.Logf("writes with the router down: %q", down)

	newTestRouter(t, spec)
	eventually(t, time.Minute, "the session Established again", func() (bool, string) {
		return session() == "Established", session()
	})
	take()
	steady("established again")
}
