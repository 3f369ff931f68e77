//go:build integration

package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers"
)

// TestBadConfigurationAtScale: 1,000 Services, 100 of them with a
// malformed annotation, beside an overlapping pool, a pool whose range is
// backwards and a BGPPeer whose Secret is missing. Every valid Service is
// addressed, every invalid one carries its Warning Event and no address,
// and every bad object its condition; nothing else is touched.
func TestBadConfigurationAtScale(t *testing.T) {
	const count, bad = 1000, 100
	ctx := context.Background()
	n := ns(t, "badscale")
	good := createPool(t, "badscale", n, []string{"2001:db8:610::/116"})
	overlap := createPool(t, "badscale-overlap", n, []string{"2001:db8:610::/120"})
	backwards := createPool(t, "badscale-backwards", n, []string{"203.0.113.200-203.0.113.100"})
	peer := &seamarkv1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "badscale-peer"}, Spec: seamarkv1alpha1.BGPPeerSpec{
		Address: "198.18.1.1", ASN: 64512, LocalASN: 64513,
		PasswordSecretRef: &seamarkv1alpha1.SecretKeyReference{Name: "badscale-missing", Key: "password"},
	}}
	if err := env.Client.Create(ctx, peer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteObj(t, peer) })
	startController(t)

	isBad := func(i int) bool { return i%(count/bad) == 7 }
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += 4 {
				opts := []svcOpt{dual(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol)}
				if isBad(i) {
					opts = append(opts, ann(seamarkv1alpha1.AnnotationIPs, fmt.Sprintf("2001:db8:610::%x,2001:db8:610::%x", i, i+1)))
				}
				createService(t, n, fmt.Sprintf("b-%04d", i), opts...)
			}
		}()
	}
	wg.Wait()

	eventually(t, 120*time.Second, "every valid Service addressed, no invalid one", func() (bool, string) {
		m := addressMap(t, n)
		for i := range count {
			name := fmt.Sprintf("b-%04d", i)
			switch {
			case isBad(i) && m[name] != "":
				return false, fmt.Sprintf("%s (malformed annotation) shows %q", name, m[name])
			case !isBad(i) && m[name] == "":
				return false, name + " has no address"
			}
		}
		return len(m) == count, fmt.Sprintf("%d Services", len(m))
	})
	// Every invalid Service says why; the Events are the apiserver's.
	eventually(t, 60*time.Second, "a Warning Event on every invalid Service", func() (bool, string) {
		var evs eventsv1.EventList
		if err := env.Client.List(ctx, &evs, client.InNamespace(n)); err != nil {
			return false, err.Error()
		}
		warned := map[string]bool{}
		for _, e := range evs.Items {
			if e.Reason == controllers.EventAllocationFailed && e.Type == corev1.EventTypeWarning {
				warned[e.Regarding.Name] = true
			}
		}
		for i := range count {
			name := fmt.Sprintf("b-%04d", i)
			if isBad(i) && !warned[name] {
				return false, name + " has no Warning Event"
			}
			if !isBad(i) && warned[name] {
				return false, name + " (valid) got a Warning Event"
			}
		}
		return true, ""
	})
	cond := func(obj client.Object, conds func() []metav1.Condition, status metav1.ConditionStatus, reason string) {
		t.Helper()
		eventually(t, 30*time.Second, obj.GetName()+" Ready "+string(status)+" "+reason, func() (bool, string) {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(conds(), seamarkv1alpha1.ConditionReady)
			return c != nil && c.Status == status && c.Reason == reason, condString(c)
		})
	}
	cond(good, func() []metav1.Condition { return good.Status.Conditions }, metav1.ConditionTrue, seamarkv1alpha1.ReasonReady)
	cond(overlap, func() []metav1.Condition { return overlap.Status.Conditions }, metav1.ConditionFalse, seamarkv1alpha1.ReasonOverlap)
	cond(backwards, func() []metav1.Condition { return backwards.Status.Conditions }, metav1.ConditionFalse, seamarkv1alpha1.ReasonInvalidCIDR)
	cond(peer, func() []metav1.Condition { return peer.Status.Conditions }, metav1.ConditionFalse, seamarkv1alpha1.ReasonSecretNotFound)
	// Only the good pool granted.
	var allocs seamarkv1alpha1.IPAllocationList
	if err := env.Client.List(ctx, &allocs, client.MatchingLabels{seamarkv1alpha1.LabelPool: "badscale"}); err != nil {
		t.Fatal(err)
	}
	if len(allocs.Items) != count-bad {
		t.Errorf("%d IPAllocations from the good pool, want %d", len(allocs.Items), count-bad)
	}
}
