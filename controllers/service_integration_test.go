//go:build integration

package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

func TestAllocationRules(t *testing.T) {
	startController(t)

	t.Run("a Service gets the lowest address of its pool, recorded as an IPAllocation, with an event", func(t *testing.T) {
		n := ns(t, "basic")
		createPool(t, "basic", n, []string{"198.51.100.0/29"})
		createService(t, n, "web")
		waitAddresses(t, n, "web", "198.51.100.1") // .0 is the network address
		a := allocation(t, "198.51.100.1")
		if a == nil || string(a.Spec.Pool) != "basic" || len(a.Spec.Services) != 1 || a.Spec.Services[0].Name != "web" || a.Labels[seamarkv1alpha1.LabelPool] != "basic" || a.Labels[seamarkv1alpha1.LabelFamily] != "IPv4" {
			t.Fatalf("IPAllocation: %+v", a)
		}
		waitEvent(t, n, "web", "AddressAllocated", "Allocated 198.51.100.1 from pool basic")
		svc := &corev1.Service{}
		_ = env.Client.Get(context.Background(), client.ObjectKey{Namespace: n, Name: "web"}, svc)
		if m := svc.Status.LoadBalancer.Ingress[0].IPMode; m == nil || *m != corev1.LoadBalancerIPModeVIP {
			t.Errorf("ipMode = %v, want VIP", m)
		}
	})

	t.Run("precedence: lower priority wins, then name; a named pool; autoAssign false is only used when named", func(t *testing.T) {
		n := ns(t, "precedence")
		createPool(t, "prec-b", n, []string{"198.51.100.8/29"}, priority(5))
		createPool(t, "prec-a", n, []string{"198.51.100.16/29"}, priority(5))
		createPool(t, "prec-manual", n, []string{"198.51.100.24/29"}, autoAssign(false), priority(-10))
		createService(t, n, "auto")
		waitAddresses(t, n, "auto", "198.51.100.17")
		createService(t, n, "named", ann("seamark.io/pool", "prec-b"))
		waitAddresses(t, n, "named", "198.51.100.9")
		createService(t, n, "manual", ann("seamark.io/pool", "prec-manual"))
		waitAddresses(t, n, "manual", "198.51.100.25")
	})

	t.Run("requested addresses: free, taken, outside the permitted pools, malformed", func(t *testing.T) {
		n := ns(t, "requested")
		createPool(t, "req", n, []string{"198.51.100.32/29"})
		createPool(t, "req-other", "somebody-else", []string{"198.51.100.40/29"})
		createService(t, n, "free", ann("seamark.io/ips", "198.51.100.36"))
		waitAddresses(t, n, "free", "198.51.100.36")
		createService(t, n, "lbip", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "198.51.100.37" })
		waitAddresses(t, n, "lbip", "198.51.100.37")
		createService(t, n, "taken", ann("seamark.io/ips", "198.51.100.36"))
		waitEvent(t, n, "taken", "AllocationFailed", "198.51.100.36 is already in use by another Service")
		createService(t, n, "outside", ann("seamark.io/ips", "198.51.100.41"))
		waitEvent(t, n, "outside", "AllocationFailed", "198.51.100.41 is not in any pool this Service may use (req)")
		createService(t, n, "malformed", ann("seamark.io/ips", "198.51.100.300"))
		waitEvent(t, n, "malformed", "AllocationFailed", `seamark.io/ips "198.51.100.300": "198.51.100.300" is not an IP address`)
		for _, s := range []string{"taken", "outside", "malformed"} {
			if got := addresses(t, n, s); len(got) != 0 {
				t.Errorf("%s got %v", s, got)
			}
		}
	})

	t.Run("dual stack: SingleStack, PreferDualStack and RequireDualStack", func(t *testing.T) {
		n := ns(t, "dualstack")
		createPool(t, "ds-v4", n, []string{"198.51.100.48/29"})
		createService(t, n, "single-v4", dual(corev1.IPFamilyPolicySingleStack, corev1.IPv4Protocol))
		waitAddresses(t, n, "single-v4", "198.51.100.49")
		// Only IPv4 exists: PreferDualStack degrades, RequireDualStack refuses.
		createService(t, n, "prefer", dual(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv4Protocol))
		waitAddresses(t, n, "prefer", "198.51.100.50")
		waitEvent(t, n, "prefer", "AddressNotShared", "No IPv6 address (PreferDualStack, continuing with one family)")
		createService(t, n, "require", dual(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol))
		waitEvent(t, n, "require", "AllocationFailed", "RequireDualStack needs one address of each family; granted none")
		if got := addresses(t, n, "require"); len(got) != 0 {
			t.Fatalf("RequireDualStack without IPv6 got %v", got)
		}
		// Once IPv6 exists, both get both (primary family first): the
		// PreferDualStack Service was waiting for its IPv6 address too.
		createPool(t, "ds-v6", n, []string{"2001:db8:48::/120"})
		eventually(t, 30*time.Second, "both Services to be dual-stack", func() (bool, string) {
			p, r := addresses(t, n, "prefer"), addresses(t, n, "require")
			ok := len(p) == 2 && len(r) == 2 && p[0] == "198.51.100.50" && r[0] == "198.51.100.51" &&
				strings.Join(sortedCopy([]string{p[1], r[1]}), ",") == "2001:db8:48::1,2001:db8:48::2"
			return ok, fmt.Sprint(p, r)
		})
		waitAddresses(t, n, "single-v4", "198.51.100.49")
	})

	t.Run("sharing: allowed; port conflict; policy mismatch; Local with different selectors", func(t *testing.T) {
		n := ns(t, "sharing")
		createPool(t, "share", n, []string{"198.51.100.56/29"})
		createService(t, n, "http", ann("seamark.io/sharing-key", "k"), ports(80))
		waitAddresses(t, n, "http", "198.51.100.57")
		createService(t, n, "https", ann("seamark.io/sharing-key", "k"), ports(443))
		waitAddresses(t, n, "https", "198.51.100.57")
		eventually(t, 10*time.Second, "both Services in one IPAllocation", func() (bool, string) {
			a := allocation(t, "198.51.100.57")
			return a != nil && len(a.Spec.Services) == 2 && a.Spec.SharingKey == "k", ""
		})
		createService(t, n, "clash", ann("seamark.io/sharing-key", "k"), ports(80))
		waitAddresses(t, n, "clash", "198.51.100.58")
		waitEvent(t, n, "clash", "AddressNotShared", "port TCP/80")
		createService(t, n, "local", ann("seamark.io/sharing-key", "k"), ports(8080), local("x"))
		waitAddresses(t, n, "local", "198.51.100.59")
		waitEvent(t, n, "local", "AddressNotShared", "Could not share")
		createService(t, n, "local-same", ann("seamark.io/sharing-key", "k"), ports(8081), local("x"))
		waitAddresses(t, n, "local-same", "198.51.100.59")
		createService(t, n, "local-other", ann("seamark.io/sharing-key", "k"), ports(8082), local("y"))
		waitAddresses(t, n, "local-other", "198.51.100.60")
		waitEvent(t, n, "local-other", "AddressNotShared", "Could not share")
		// Deleting one sharer keeps the address for the other.
		deleteObj(t, &corev1.Service{ObjectMeta: metaOf(n, "http")})
		eventually(t, 10*time.Second, "the IPAllocation to list https only", func() (bool, string) {
			a := allocation(t, "198.51.100.57")
			return a != nil && len(a.Spec.Services) == 1 && a.Spec.Services[0].Name == "https", ""
		})
		waitAddresses(t, n, "https", "198.51.100.57")
	})

	t.Run("foreign loadBalancerClass Services are never touched", func(t *testing.T) {
		n := ns(t, "foreign")
		createPool(t, "foreign", n, []string{"198.51.100.64/29"})
		createService(t, n, "theirs", class("example.com/other"))
		createService(t, n, "ours", class(seamarkv1alpha1.LoadBalancerClass))
		waitAddresses(t, n, "ours", "198.51.100.65")
		time.Sleep(time.Second)
		if got := addresses(t, n, "theirs"); len(got) != 0 {
			t.Fatalf("a foreign Service got %v", got)
		}
	})

	t.Run("stability: pool edits never move an address; an address left outside is kept and flagged", func(t *testing.T) {
		n := ns(t, "stability")
		p := createPool(t, "stable", n, []string{"198.51.100.72/29"})
		createService(t, n, "a")
		waitAddresses(t, n, "a", "198.51.100.73")
		_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
		before := p.DeepCopy()
		p.Spec.CIDRs = []seamarkv1alpha1.CIDROrRange{"198.51.100.76/30"}
		if err := env.Client.Patch(context.Background(), p, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "AllocationsOutsidePool", func() (bool, string) {
			_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
			c := meta.FindStatusCondition(p.Status.Conditions, "Ready")
			return c != nil && c.Reason == seamarkv1alpha1.ReasonAllocationsOutsidePool, condString(c)
		})
		createService(t, n, "b")
		waitAddresses(t, n, "b", "198.51.100.77")
		waitAddresses(t, n, "a", "198.51.100.73")
	})

	t.Run("a pool with live allocations stays, terminating, granting nothing new until they are gone", func(t *testing.T) {
		n := ns(t, "finalizer")
		p := createPool(t, "doomed", n, []string{"198.51.100.80/29"})
		createService(t, n, "holder")
		waitAddresses(t, n, "holder", "198.51.100.81")
		eventually(t, 10*time.Second, "the finalizer", func() (bool, string) {
			_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
			return len(p.Finalizers) == 1, ""
		})
		deleteObj(t, p)
		eventually(t, 10*time.Second, "Terminating", func() (bool, string) {
			_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
			c := meta.FindStatusCondition(p.Status.Conditions, "Ready")
			return c != nil && c.Reason == seamarkv1alpha1.ReasonTerminating, condString(c)
		})
		createService(t, n, "late")
		waitEvent(t, n, "late", "AllocationFailed", "no IPPool admits this Service")
		waitAddresses(t, n, "holder", "198.51.100.81")
		deleteObj(t, &corev1.Service{ObjectMeta: metaOf(n, "holder")})
		eventually(t, 20*time.Second, "the pool to be gone", func() (bool, string) {
			err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
			return err != nil, ""
		})
	})

	t.Run("pool status counts addresses per family", func(t *testing.T) {
		n := ns(t, "counts")
		p := createPool(t, "counted", n, []string{"198.51.100.88/29", "2001:db8:88::/64"})
		createService(t, n, "one")
		waitAddresses(t, n, "one", "198.51.100.89")
		eventually(t, 10*time.Second, "counts", func() (bool, string) {
			_ = env.Client.Get(context.Background(), client.ObjectKeyFromObject(p), p)
			s := p.Status
			ok := s.IPv4 != nil && s.IPv4.Capacity == "6" && s.IPv4.Allocated == "1" && s.IPv4.Available == "5" &&
				s.IPv6 != nil && s.IPv6.Capacity == "18446744073709551615" && s.Allocated == 1
			return ok, fmtStatus(s)
		})
	})
}
