//go:build integration

package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// showAddress writes a Service's status as another controller would have.
func showAddress(t testing.TB, namespace, name, addr string) {
	t.Helper()
	svc := &corev1.Service{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, svc); err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: addr}}
	if err := env.Client.Status().Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationAndRepair: addresses Services already show are adopted (or
// flagged), and IPAllocations of Services that are gone are removed.
func TestMigrationAndRepair(t *testing.T) {
	n := ns(t, "migration")
	createPool(t, "migration", n, []string{"198.51.100.104/29"})
	// Before seamark runs: two Services show addresses from another
	// controller, one inside the pool and one outside every pool, and an
	// IPAllocation names a Service that no longer exists.
	createService(t, n, "inside")
	showAddress(t, n, "inside", "198.51.100.110")
	createService(t, n, "outside")
	showAddress(t, n, "outside", "198.51.100.250")
	orphan := &seamarkv1alpha1.IPAllocation{
		ObjectMeta: metav1.ObjectMeta{Name: "198.51.100.106", Labels: map[string]string{seamarkv1alpha1.LabelPool: "migration"}},
		Spec: seamarkv1alpha1.IPAllocationSpec{Address: "198.51.100.106", Pool: "migration",
			Services: []seamarkv1alpha1.ServiceReference{{Namespace: n, Name: "gone", UID: "0000"}}},
	}
	if err := env.Client.Create(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}

	startController(t)
	waitEvent(t, n, "inside", "AddressAdopted", "Adopted 198.51.100.110 from pool migration")
	eventually(t, 10*time.Second, "the adopted address to be recorded", func() (bool, string) {
		a := allocation(t, "198.51.100.110")
		return a != nil && a.Spec.Services[0].Name == "inside", ""
	})
	waitAddresses(t, n, "inside", "198.51.100.110")
	waitEvent(t, n, "outside", "AllocationFailed", "The Service shows 198.51.100.250, which seamark cannot adopt")
	if got := addresses(t, n, "outside"); strings.Join(got, ",") != "198.51.100.250" {
		t.Errorf("a Service whose address cannot be adopted must be left alone, shows %v", got)
	}
	eventually(t, 20*time.Second, "the orphaned IPAllocation to be removed", func() (bool, string) {
		return allocation(t, "198.51.100.106") == nil, ""
	})
	// A new Service gets the lowest free address: the orphan's address is
	// free again, the adopted one is not.
	createService(t, n, "new")
	waitAddresses(t, n, "new", "198.51.100.105")
	createService(t, n, "newer")
	waitAddresses(t, n, "newer", "198.51.100.106")
}

// TestConditions: config problems become Ready conditions on the objects at
// fault and clear when fixed.
func TestConditions(t *testing.T) {
	startController(t)
	ctx := context.Background()
	n := ns(t, "conditions")
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	ready := func(obj client.Object, conds func() []metav1.Condition, status metav1.ConditionStatus, reason string) {
		t.Helper()
		eventually(t, 15*time.Second, obj.GetName()+" Ready "+string(status)+" "+reason, func() (bool, string) {
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(conds(), "Ready")
			return c != nil && c.Status == status && c.Reason == reason && c.ObservedGeneration == obj.GetGeneration(), condString(c)
		})
	}

	peer := &seamarkv1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "cond-peer"}, Spec: seamarkv1alpha1.BGPPeerSpec{
		Address: "198.18.1.1", ASN: 64512, LocalASN: 64513,
		PasswordSecretRef: &seamarkv1alpha1.SecretKeyReference{Name: "cond-bgp", Key: "password"},
	}}
	if err := env.Client.Create(ctx, peer); err != nil {
		t.Fatal(err)
	}
	ready(peer, func() []metav1.Condition { return peer.Status.Conditions }, metav1.ConditionFalse, seamarkv1alpha1.ReasonSecretNotFound)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: "cond-bgp"}, StringData: map[string]string{"password": "s3cret"}}
	if err := env.Client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	ready(peer, func() []metav1.Condition { return peer.Status.Conditions }, metav1.ConditionTrue, seamarkv1alpha1.ReasonReady)

	adv := &seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "cond-adv"}, Spec: seamarkv1alpha1.BGPAdvertisementSpec{
		Peers: []seamarkv1alpha1.ObjectName{"cond-peer", "no-such-peer"},
	}}
	if err := env.Client.Create(ctx, adv); err != nil {
		t.Fatal(err)
	}
	ready(adv, func() []metav1.Condition { return adv.Status.Conditions }, metav1.ConditionFalse, seamarkv1alpha1.ReasonUnknownPeer)

	older := createPool(t, "cond-older", n, []string{"198.51.100.112/29"})
	time.Sleep(1100 * time.Millisecond) // creation timestamps have second resolution
	younger := createPool(t, "cond-younger", n, []string{"198.51.100.112/30"})
	ready(younger, func() []metav1.Condition { return younger.Status.Conditions }, metav1.ConditionFalse, seamarkv1alpha1.ReasonOverlap)
	ready(older, func() []metav1.Condition { return older.Status.Conditions }, metav1.ConditionTrue, seamarkv1alpha1.ReasonReady)
	if c := meta.FindStatusCondition(younger.Status.Conditions, "Ready"); !strings.Contains(c.Message, `IPPool "cond-older"`) {
		t.Errorf("the Overlap message must name the other pool: %q", c.Message)
	}
	deleteObj(t, older)
	ready(younger, func() []metav1.Condition { return younger.Status.Conditions }, metav1.ConditionTrue, seamarkv1alpha1.ReasonReady)
}
