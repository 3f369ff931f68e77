//go:build integration

package controllers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// addressMap returns Service name → its addresses (joined) for a namespace.
func addressMap(t testing.TB, namespace string) map[string]string {
	t.Helper()
	var svcs corev1.ServiceList
	if err := env.Client.List(context.Background(), &svcs, client.InNamespace(namespace)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range svcs.Items {
		v := ""
		for _, in := range s.Status.LoadBalancer.Ingress {
			v += in.IP + " "
		}
		out[s.Name] = v
	}
	return out
}

func TestRestartNeverMovesAnAddress(t *testing.T) {
	n := ns(t, "restart")
	createPool(t, "restart", n, []string{"198.51.100.96/29"}) // 6 usable addresses
	stop := startController(t)
	for i := range 10 {
		createService(t, n, fmt.Sprintf("svc-%d", i))
	}
	granted := func(m map[string]string) int {
		c := 0
		for _, v := range m {
			if v != "" {
				c++
			}
		}
		return c
	}
	eventually(t, 30*time.Second, "6 of 10 Services to be addressed", func() (bool, string) {
		m := addressMap(t, n)
		return granted(m) == 6, fmt.Sprint(m)
	})
	before := addressMap(t, n)

	// A new controller on the same apiserver: nothing moves, nothing more is granted.
	stop()
	startController(t)
	time.Sleep(3 * time.Second)
	after := addressMap(t, n)
	for name, addr := range before {
		if after[name] != addr {
			t.Errorf("after a restart %s shows %q, before %q", name, after[name], addr)
		}
	}

	// Deleting one addressed Service changes no other addressed Service; its
	// address goes to one of the waiting ones.
	var victim string
	for name, addr := range before {
		if addr != "" {
			victim = name
			break
		}
	}
	deleteObj(t, &corev1.Service{ObjectMeta: metaOf(n, victim)})
	eventually(t, 30*time.Second, "a waiting Service to get the freed address", func() (bool, string) {
		m := addressMap(t, n)
		return granted(m) == 6, fmt.Sprint(m)
	})
	final := addressMap(t, n)
	for name, addr := range before {
		if name != victim && addr != "" && final[name] != addr {
			t.Errorf("deleting %s changed %s from %q to %q", victim, name, addr, final[name])
		}
	}
}

// TestSplitBrain runs two controllers with leader election off at once:
// every Service gets an address and no address is on two Services.
func TestSplitBrain(t *testing.T) {
	n := ns(t, "splitbrain")
	createPool(t, "splitbrain", n, []string{"2001:db8:500::/119"}) // 511 usable addresses
	startController(t)
	startController(t)
	const count = 500
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += 4 {
				createService(t, n, fmt.Sprintf("s-%03d", i), dual(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol))
			}
		}()
	}
	wg.Wait()
	eventually(t, 120*time.Second, "every Service to have one address, none on two Services", func() (bool, string) {
		m := addressMap(t, n)
		holders := map[string]string{}
		for name, addr := range m {
			if addr == "" {
				return false, name + " has no address"
			}
			if other, dup := holders[addr]; dup {
				return false, fmt.Sprintf("%s is on %s and %s", addr, other, name)
			}
			holders[addr] = name
		}
		return len(m) == count, fmt.Sprintf("%d Services", len(m))
	})
	// Every shown address is backed by an IPAllocation naming that Service alone.
	var allocs seamarkv1alpha1.IPAllocationList
	if err := env.Client.List(context.Background(), &allocs, client.MatchingLabels{seamarkv1alpha1.LabelPool: "splitbrain"}); err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]seamarkv1alpha1.IPAllocation{}
	for _, a := range allocs.Items {
		byAddr[string(a.Spec.Address)] = a
	}
	for name, addr := range addressMap(t, n) {
		a, ok := byAddr[addr[:len(addr)-1]]
		if !ok || len(a.Spec.Services) != 1 || a.Spec.Services[0].Name != name {
			t.Errorf("%s shows %s, whose IPAllocation is %+v", name, addr, a.Spec)
		}
	}
}
