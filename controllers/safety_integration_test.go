//go:build integration

package controllers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
