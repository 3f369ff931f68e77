package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

func TestBuildStatus(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	since := t0.Add(-time.Hour)
	ready := StatusReport{Ready: true, Peers: []bgp.PeerStatus{
		{Name: "b", Address: netip.MustParseAddr("198.18.1.2"), State: bgp.StateIdle, Since: since, BFDState: "Down"},
		{Name: "a", Address: netip.MustParseAddr("2001:db8::1"), State: bgp.StateEstablished, Up: true, Announced: 7, Since: since.Add(time.Millisecond * 1500)},
	}, Layer2: &Layer2Report{Profile: "fast", Members: 2, Interfaces: []string{"eth1"},
		Candidates: []layer2.Interface{{Name: "eth1", Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.11/24"), netip.MustParsePrefix("2001:db8:51::11/64")}}},
		Owned:      []layer2.Owned{{Addr: netip.MustParseAddr("198.51.100.1"), Interfaces: []string{"eth1", "vlan7"}}}}}
	first := BuildStatus(ready, seamarkv1alpha1.SpeakerStatusStatus{}, t0.Add(300*time.Millisecond))
	want := seamarkv1alpha1.SpeakerStatusStatus{
		Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready",
			Message: "The speaker loaded its configuration and announces what it plans", LastTransitionTime: metav1.NewTime(t0)}},
		Peers: []seamarkv1alpha1.PeerSessionStatus{
			{Name: "a", Address: "2001:db8::1", State: "Established", AdvertisedPrefixes: 7, LastTransitionTime: metav1.NewTime(since.Add(time.Second))},
			{Name: "b", Address: "198.18.1.2", State: "Idle", BFDState: "Down", LastTransitionTime: metav1.NewTime(since)},
		},
		PeersUp:    "1/2",
		Memberlist: &seamarkv1alpha1.MemberlistStatus{Profile: "fast", Members: 2},
		Layer2: &seamarkv1alpha1.Layer2Status{Interfaces: []string{"eth1", "vlan7"}, Owned: 1,
			Candidates: []seamarkv1alpha1.L2Interface{{Name: "eth1", Prefixes: []string{"198.51.100.11/24", "2001:db8:51::11/64"}}}},
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	// The same report later gives the same status: nothing ticks.
	if diff := cmp.Diff(first, BuildStatus(ready, first, t0.Add(time.Hour))); diff != "" {
		t.Errorf("a later build of the same report differs:\n%s", diff)
	}
	// Not ready: the condition turns False with its own transition time.
	starting := BuildStatus(StatusReport{NotReady: "caches not synced"}, first, t0.Add(2*time.Hour))
	if c := starting.Conditions[0]; c.Status != metav1.ConditionFalse || c.Reason != "Starting" || c.Message != "caches not synced" ||
		!c.LastTransitionTime.Time.Equal(t0.Add(2*time.Hour)) || starting.PeersUp != "" || starting.Layer2 != nil {
		t.Errorf("not ready: %+v", starting)
	}
}

// TestReportGatesOnLayer2OnlyWhenUsed: a speaker whose plan uses no layer
// 2 is Ready without the gossip; one whose plan does waits for it.
func TestReportGatesOnLayer2OnlyWhenUsed(t *testing.T) {
	l2 := layer2.New(layer2.Options{NodeName: "n"}) // not started: not ready
	r := &Reconciler{}
	if rep := Report(r, nil, l2, "balanced"); rep.Ready {
		t.Errorf("ready before any plan: %+v", rep)
	}
	r.applied.Store(&Plan{})
	if rep := Report(r, nil, l2, "balanced"); !rep.Ready || rep.Layer2 != nil {
		t.Errorf("without layer 2 in the plan: %+v", rep)
	}
	r.applied.Store(&Plan{L2Enabled: true})
	if rep := Report(r, nil, l2, "balanced"); rep.Ready || rep.Layer2 == nil || rep.NotReady != "The speaker has not joined the layer 2 gossip yet" {
		t.Errorf("with layer 2 in the plan, gossip not joined: %+v", rep)
	}
}
