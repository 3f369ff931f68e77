//go:build integration

package speaker

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// TestStatusWriter writes a node's SpeakerStatus and the layer 2 owner of
// its IPAllocations against the real apiserver: created with the Node as
// owner, written again only when something changed, one IPAllocation write
// per address taken.
func TestStatusWriter(t *testing.T) {
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	mustDo(t, "client", err)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "status-node"}}
	mustDo(t, "creating the Node", c.Create(ctx, node))
	addr := netip.MustParseAddr("203.0.113.77")
	ipa := &seamarkv1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: seamarkv1alpha1.AllocationName(addr)},
		Spec: seamarkv1alpha1.IPAllocationSpec{Address: "203.0.113.77", Pool: "p", Services: []seamarkv1alpha1.ServiceReference{{Namespace: "ns", Name: "s", UID: "u"}}}}
	mustDo(t, "creating the IPAllocation", c.Create(ctx, ipa))

	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	report := StatusReport{Ready: true, Peers: []bgp.PeerStatus{
		{Name: "tor-b", Address: netip.MustParseAddr("198.18.1.2"), State: bgp.StateActive, Since: since, LastError: "dial tcp: connection refused"},
		{Name: "tor-a", Address: netip.MustParseAddr("198.18.1.1"), State: bgp.StateEstablished, Up: true, Announced: 3, Since: since},
	}}
	w := &StatusWriter{Client: c, Reader: c, NodeName: "status-node", Collect: func() StatusReport { return report }, Log: testr.New(t)}
	now := time.Date(2026, 5, 1, 10, 0, 5, 0, time.UTC)
	w.Sync(ctx, now)

	get := func() *seamarkv1alpha1.SpeakerStatus {
		t.Helper()
		ss := &seamarkv1alpha1.SpeakerStatus{}
		mustDo(t, "reading the SpeakerStatus", c.Get(ctx, client.ObjectKey{Name: "status-node"}, ss))
		return ss
	}
	ss := get()
	if len(ss.OwnerReferences) != 1 || ss.OwnerReferences[0].UID != node.UID || ss.OwnerReferences[0].Kind != "Node" {
		t.Errorf("owner references %+v, want the Node", ss.OwnerReferences)
	}
	if ss.Status.PeersUp != "1/2" || len(ss.Status.Peers) != 2 || ss.Status.Peers[0].Name != "tor-a" || ss.Status.Peers[1].State != "Active" ||
		ss.Status.Peers[1].LastError != "dial tcp: connection refused" || ss.Status.Peers[0].AdvertisedPrefixes != 3 ||
		!ss.Status.Peers[0].LastTransitionTime.Time.Equal(since) {
		t.Errorf("status %+v", ss.Status)
	}
	if r := ss.Status.Conditions; len(r) != 1 || r[0].Status != metav1.ConditionTrue {
		t.Errorf("conditions %+v", r)
	}

	// Nothing changed: nothing is written.
	rv := ss.ResourceVersion
	for i := range 3 {
		w.Sync(ctx, now.Add(time.Duration(i+1)*time.Second))
	}
	if got := get().ResourceVersion; got != rv {
		t.Errorf("an unchanged report was written (resourceVersion %s → %s)", rv, got)
	}

	// A session comes up: one write, with its new transition time.
	report.Peers[0].State, report.Peers[0].Up, report.Peers[0].LastError = bgp.StateEstablished, true, ""
	report.Peers[0].Since = since.Add(time.Minute)
	w.Sync(ctx, now.Add(time.Minute))
	ss = get()
	if ss.Status.PeersUp != "2/2" || ss.Status.Peers[1].LastError != "" || ss.ResourceVersion == rv {
		t.Errorf("after the session came up: %+v", ss.Status)
	}
	if ready := ss.Status.Conditions[0]; !ready.LastTransitionTime.Time.Equal(now) {
		t.Errorf("the Ready condition moved its transition time to %v, want %v", ready.LastTransitionTime, now)
	}

	// Layer 2: the owner is recorded on the IPAllocation once per take.
	took := since.Add(2 * time.Minute)
	report.Layer2 = &Layer2Report{Profile: "balanced", Members: 3, Owned: []layer2.Owned{{Addr: addr, Interfaces: []string{"eth1"}, Since: took}}}
	w.Sync(ctx, now.Add(2*time.Minute))
	got := &seamarkv1alpha1.IPAllocation{}
	mustDo(t, "reading the IPAllocation", c.Get(ctx, client.ObjectKey{Name: ipa.Name}, got))
	if l2 := got.Status.L2; l2 == nil || l2.Node != "status-node" || l2.Interface != "eth1" || !l2.Since.Time.Equal(took) {
		t.Errorf("status.l2 %+v", got.Status.L2)
	}
	ss = get()
	if ss.Status.Layer2 == nil || ss.Status.Layer2.Owned != 1 || ss.Status.Memberlist.Members != 3 || len(ss.Status.Layer2.Interfaces) != 1 {
		t.Errorf("layer 2 status %+v %+v", ss.Status.Layer2, ss.Status.Memberlist)
	}
	allocRV := got.ResourceVersion
	w.Sync(ctx, now.Add(3*time.Minute))
	mustDo(t, "reading the IPAllocation", c.Get(ctx, client.ObjectKey{Name: ipa.Name}, got))
	if got.ResourceVersion != allocRV {
		t.Errorf("the owner was written again without a new take")
	}

	// The speaker restarts: the status is rebuilt, not duplicated.
	w2 := &StatusWriter{Client: c, Reader: c, NodeName: "status-node", Collect: func() StatusReport { return report }, Log: testr.New(t)}
	w2.Sync(ctx, now.Add(4*time.Minute))
	if ss := get(); ss.Status.PeersUp != "2/2" || len(ss.Status.Peers) != 2 {
		t.Errorf("after a restart: %+v", ss.Status)
	}

	// Deleted meanwhile (a writer applies the object once, then only its
	// status): the next change creates it again, with its owner.
	mustDo(t, "deleting the SpeakerStatus", c.Delete(ctx, &seamarkv1alpha1.SpeakerStatus{ObjectMeta: metav1.ObjectMeta{Name: "status-node"}}))
	report.Peers = report.Peers[:1]
	w2.Sync(ctx, now.Add(5*time.Minute))
	w2.Sync(ctx, now.Add(5*time.Minute+time.Second))
	if ss := get(); ss.Status.PeersUp != "1/1" || len(ss.OwnerReferences) != 1 {
		t.Errorf("after a deletion: %+v %+v", ss.OwnerReferences, ss.Status)
	}
}
