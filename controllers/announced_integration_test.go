//go:build integration

package controllers_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// fakeNode is a Node of the apiserver with the SpeakerStatus writer its
// speaker would run (speaker.StatusWriter): the test changes what the
// speaker reports, the writer writes it as the speaker does.
type fakeNode struct {
	t      *testing.T
	name   string
	report speaker.StatusReport
	w      *speaker.StatusWriter
}

func newFakeNode(t *testing.T, name string, lbls map[string]string) *fakeNode {
	t.Helper()
	ctx := context.Background()
	l := map[string]string{"kubernetes.io/hostname": name}
	for k, v := range lbls {
		l[k] = v
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.7.1"}}
	if err := env.Client.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{t: t, name: name}
	f.w = &speaker.StatusWriter{Client: env.Client, Reader: env.Client, NodeName: name, Collect: func() speaker.StatusReport { return f.report }, Log: testr.New(t)}
	t.Cleanup(func() {
		deleteObj(t, &seamarkv1alpha1.SpeakerStatus{ObjectMeta: metav1.ObjectMeta{Name: name}})
		deleteObj(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
	return f
}

// speak writes the report: Ready, with every named session in state and,
// when ifaces is not nil, layer 2 with those candidate interfaces.
func (f *fakeNode) speak(ready bool, state bgp.SessionState, sessions []string, ifaces map[string]string) {
	f.t.Helper()
	f.report = speaker.StatusReport{Ready: ready, NotReady: "The speaker has not synced its caches and applied a plan yet"}
	for _, s := range sessions {
		f.report.Peers = append(f.report.Peers, bgp.PeerStatus{Name: s, Address: netip.MustParseAddr("198.18.7.254"), State: state, Up: state == bgp.StateEstablished,
			Since: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)})
	}
	if ifaces != nil {
		l := &speaker.Layer2Report{Profile: "balanced", Members: 1}
		for name, p := range ifaces {
			l.Candidates = append(l.Candidates, layer2.Interface{Name: name, Prefixes: []netip.Prefix{netip.MustParsePrefix(p)}})
		}
		f.report.Layer2 = l
	}
	f.w.Sync(context.Background(), time.Now())
	ss := &seamarkv1alpha1.SpeakerStatus{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: f.name}, ss); err != nil {
		f.t.Fatalf("the SpeakerStatus of %s was not written: %v", f.name, err)
	}
}

func getService(t testing.TB, namespace, name string) *corev1.Service {
	t.Helper()
	s := &corev1.Service{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitAnnounced waits until the Service's seamark.io/Announced condition
// has reason, and returns the Service.
func waitAnnounced(t testing.TB, namespace, name, reason string) *corev1.Service {
	t.Helper()
	var svc *corev1.Service
	eventually(t, 30*time.Second, fmt.Sprintf("%s/%s Announced %s", namespace, name, reason), func() (bool, string) {
		svc = getService(t, namespace, name)
		c := meta.FindStatusCondition(svc.Status.Conditions, seamarkv1alpha1.ConditionAnnounced)
		return c != nil && c.Reason == reason, condString(c)
	})
	return svc
}

func createEndpointSlice(t testing.TB, namespace, svc string, nodes ...string) {
	t.Helper()
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: svc + "-eps",
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4}
	for i, n := range nodes {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("198.18.8.%d", i+1)}, NodeName: &n})
	}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func createSeamark(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteObj(t, o) })
	}
}

// TestAnnouncedCondition produces every reason of seamark.io/Announced
// from its real cause — the configuration, Nodes, EndpointSlices and the
// SpeakerStatuses the speakers' status writer writes — and checks that a
// failover, a layer 2 owner change and a node joining write nothing to a
// Service that stays announced.
func TestAnnouncedCondition(t *testing.T) {
	startController(t)
	ctx := context.Background()
	n := ns(t, "announced")
	sel := func(m map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: m} }
	pool := func(name, cidr string) {
		p := createPool(t, name, n, []string{cidr}, func(p *seamarkv1alpha1.IPPool) { p.Labels = map[string]string{"ann": name} })
		t.Cleanup(func() { deleteObj(t, p) })
	}
	pool("ann-bgp", "203.0.113.64/28")
	pool("ann-none", "203.0.113.80/28")
	pool("ann-nowhere", "203.0.113.96/28")
	pool("ann-l2", "203.0.113.112/28")
	pool("ann-n9", "203.0.113.128/28")
	pool("ann-n3", "203.0.113.144/28")
	createSeamark(t,
		&seamarkv1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "ann-tor"}, Spec: seamarkv1alpha1.BGPPeerSpec{Address: "198.18.7.254", ASN: 64512, LocalASN: 64513}},
		&seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "ann-bgp"}, Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			IPPoolSelector: sel(map[string]string{"ann": "ann-bgp"})}},
		&seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "ann-nowhere"}, Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			IPPoolSelector: sel(map[string]string{"ann": "ann-nowhere"}), NodeSelector: sel(map[string]string{"zone": "nowhere"})}},
		&seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "ann-n9"}, Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			IPPoolSelector: sel(map[string]string{"ann": "ann-n9"}), NodeSelector: sel(map[string]string{"kubernetes.io/hostname": "ann-n9"})}},
		&seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "ann-n3"}, Spec: seamarkv1alpha1.BGPAdvertisementSpec{
			IPPoolSelector: sel(map[string]string{"ann": "ann-n3"}), NodeSelector: sel(map[string]string{"kubernetes.io/hostname": "ann-n3"})}},
		&seamarkv1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "ann-l2"}, Spec: seamarkv1alpha1.L2AdvertisementSpec{
			IPPoolSelector: sel(map[string]string{"ann": "ann-l2"})}},
	)
	n1, n2, n3 := newFakeNode(t, "ann-n1", nil), newFakeNode(t, "ann-n2", nil), newFakeNode(t, "ann-n3", nil)
	sessions := []string{"ann-tor"}
	lan := map[string]string{"eth1": "203.0.113.112/28"}
	n1.speak(true, bgp.StateEstablished, sessions, lan)
	n2.speak(true, bgp.StateEstablished, sessions, lan)
	n3.speak(false, bgp.StateIdle, nil, nil)

	createService(t, n, "web", ann("seamark.io/pool", "ann-bgp"))
	createService(t, n, "orphan", ann("seamark.io/pool", "ann-none"))
	createService(t, n, "nowhere", ann("seamark.io/pool", "ann-nowhere"))
	createService(t, n, "lonely", ann("seamark.io/pool", "ann-bgp"), local("lonely"))
	createService(t, n, "remote", ann("seamark.io/pool", "ann-bgp"), local("remote"))
	createEndpointSlice(t, n, "remote", "somewhere-else")
	createService(t, n, "arp", ann("seamark.io/pool", "ann-l2"))
	createService(t, n, "starting", ann("seamark.io/pool", "ann-n3"))
	createService(t, n, "canary", ann("seamark.io/pool", "ann-n9"))

	t.Run("every reason from its cause", func(t *testing.T) {
		for _, c := range []struct{ svc, reason string }{
			{"web", seamarkv1alpha1.ReasonAnnounced},
			{"orphan", seamarkv1alpha1.ReasonNoAdvertisement},
			{"nowhere", seamarkv1alpha1.ReasonNoEligibleNode},
			{"lonely", seamarkv1alpha1.ReasonNoEndpoints},
			{"remote", seamarkv1alpha1.ReasonNoLocalEndpoints},
			{"arp", seamarkv1alpha1.ReasonAnnounced},
			{"starting", seamarkv1alpha1.ReasonSpeakersNotReady},
			{"canary", seamarkv1alpha1.ReasonNoEligibleNode},
		} {
			svc := waitAnnounced(t, n, c.svc, c.reason)
			cond := meta.FindStatusCondition(svc.Status.Conditions, seamarkv1alpha1.ConditionAnnounced)
			if (cond.Status == metav1.ConditionTrue) != (c.reason == seamarkv1alpha1.ReasonAnnounced) {
				t.Errorf("%s: %s", c.svc, condString(cond))
			}
		}
		waitEvent(t, n, "orphan", "NotAnnounced", "NoAdvertisement: No BGPAdvertisement")

		// An endpoint on an announcing node: the Local Service is announced.
		createEndpointSlice(t, n, "lonely", "ann-n2")
		waitAnnounced(t, n, "lonely", seamarkv1alpha1.ReasonAnnounced)

		// The only nodes of layer 2 lose their interface on the subnet.
		other := map[string]string{"eth1": "198.51.100.0/24"}
		n1.speak(true, bgp.StateEstablished, sessions, other)
		n2.speak(true, bgp.StateEstablished, sessions, other)
		waitAnnounced(t, n, "arp", seamarkv1alpha1.ReasonNoInterface)
		n1.speak(true, bgp.StateEstablished, sessions, lan)
		n2.speak(true, bgp.StateEstablished, sessions, lan)
		waitAnnounced(t, n, "arp", seamarkv1alpha1.ReasonAnnounced)

		// Every session goes down, then comes back.
		n1.speak(true, bgp.StateActive, sessions, lan)
		n2.speak(true, bgp.StateIdle, sessions, lan)
		waitAnnounced(t, n, "web", seamarkv1alpha1.ReasonPeersDown)
		waitEvent(t, n, "web", "NotAnnounced", "PeersDown")
		if svc := waitAnnounced(t, n, "arp", seamarkv1alpha1.ReasonAnnounced); svc == nil {
			t.Fatal("arp")
		}
		n1.speak(true, bgp.StateEstablished, sessions, lan)
		n2.speak(true, bgp.StateEstablished, sessions, lan)
		waitAnnounced(t, n, "web", seamarkv1alpha1.ReasonAnnounced)
	})

	t.Run("a failover, a layer 2 owner change and a node joining write nothing to announced Services", func(t *testing.T) {
		watched := []string{"web", "arp", "lonely"}
		rv := map[string]string{}
		for _, s := range watched {
			rv[s] = waitAnnounced(t, n, s, seamarkv1alpha1.ReasonAnnounced).ResourceVersion
		}
		// One node's sessions go down (the other still announces).
		n1.speak(true, bgp.StateActive, sessions, lan)
		// The layer 2 owner moves from one node to the other, recorded by
		// their status writers as the speakers record it.
		arp := netip.MustParseAddr(addresses(t, n, "arp")[0])
		for i, f := range []*fakeNode{n1, n2} {
			f.report.Layer2.Owned = []layer2.Owned{{Addr: arp, Interfaces: []string{"eth1"}, Since: time.Now().Add(time.Duration(i) * time.Second)}}
			f.w.Sync(ctx, time.Now())
			eventually(t, 10*time.Second, "the owner recorded", func() (bool, string) {
				ipa := allocation(t, arp.String())
				return ipa != nil && ipa.Status.L2 != nil && ipa.Status.L2.Node == f.name, fmt.Sprintf("%+v", ipa.Status.L2)
			})
		}
		// A node joins and announces. The canary, announced only from
		// it, shows the controller saw it (and is the control: a change
		// of reason is written).
		n9 := newFakeNode(t, "ann-n9", nil)
		n9.speak(true, bgp.StateEstablished, sessions, lan)
		waitAnnounced(t, n, "canary", seamarkv1alpha1.ReasonAnnounced)
		n1.speak(true, bgp.StateEstablished, sessions, lan)
		time.Sleep(2 * time.Second) // let every queued reconcile run
		for _, s := range watched {
			if got := getService(t, n, s).ResourceVersion; got != rv[s] {
				t.Errorf("%s was written (resourceVersion %s → %s)", s, rv[s], got)
			}
		}
	})
}
