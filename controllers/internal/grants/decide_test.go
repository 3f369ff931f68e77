package grants

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type poolSpec struct {
	name       string
	cidrs      []string
	priority   int32
	autoAssign bool
	selector   map[string]string // serviceSelector
}

func testConfig(t *testing.T, pools ...poolSpec) *config.Config {
	t.Helper()
	var res config.Resources
	for _, p := range pools {
		aa := p.autoAssign
		obj := seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: seamarkv1alpha1.IPPoolSpec{AutoAssign: &aa, Priority: p.priority}}
		for _, c := range p.cidrs {
			obj.Spec.CIDRs = append(obj.Spec.CIDRs, seamarkv1alpha1.CIDROrRange(c))
		}
		if p.selector != nil {
			obj.Spec.ServiceSelector = &metav1.LabelSelector{MatchLabels: p.selector}
		}
		res.Pools = append(res.Pools, obj)
	}
	cfg, problems := config.Build(res)
	if len(problems) > 0 {
		t.Fatalf("config: %v", problems)
	}
	return cfg
}

type svcOpt func(*corev1.Service)

func testService(name string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1",
		CreationTimestamp: metav1.NewTime(t0)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func ann(k, v string) svcOpt {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func shows(addrs ...string) svcOpt {
	return func(s *corev1.Service) {
		var as []netip.Addr
		for _, a := range addrs {
			as = append(as, netip.MustParseAddr(a))
		}
		s.Status.LoadBalancer.Ingress = Ingress(as, s)
	}
}

func families(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) svcOpt {
	return func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &policy; s.Spec.IPFamilies = fams }
}

func port(p int32) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports = []corev1.ServicePort{{Port: p, Protocol: corev1.ProtocolTCP}} }
}

func localPolicy(app string) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.Selector = map[string]string{"app": app}
	}
}

func labelled(k, v string) svcOpt {
	return func(s *corev1.Service) { s.Labels = map[string]string{k: v} }
}

func created(sec int) svcOpt {
	return func(s *corev1.Service) {
		s.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(sec) * time.Second))
	}
}

func lockOf(addr, key string, svcs ...string) *seamarkv1alpha1.IPAllocation {
	a := netip.MustParseAddr(addr)
	obj := &seamarkv1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: seamarkv1alpha1.AllocationName(a), UID: types.UID("lock-" + addr), ResourceVersion: "1"},
		Spec: seamarkv1alpha1.IPAllocationSpec{Address: seamarkv1alpha1.IPAddress(addr), Pool: "p", SharingKey: key}}
	for _, s := range svcs {
		obj.Spec.Services = append(obj.Spec.Services, seamarkv1alpha1.ServiceReference{Namespace: "ns", Name: s, UID: "uid-" + s})
	}
	return obj
}

// summary is a Decision in words, for cmp.Diff.
type summary struct {
	Targets   []string // "addr action [fresh] [adopted]"
	Unadopted []string
	Release   []string
	Lost      []string
	Refused   bool
}

func summarize(d Decision) summary {
	var s summary
	for _, t := range d.Targets {
		v := t.Addr.String() + " " + [...]string{"keep", "create", "confirm"}[t.Action]
		if t.Fresh {
			v += " fresh"
		}
		if t.Adopted {
			v += " adopted"
		}
		s.Targets = append(s.Targets, v)
	}
	for _, a := range d.Unadopted {
		s.Unadopted = append(s.Unadopted, a.String())
	}
	for _, a := range d.Release {
		s.Release = append(s.Release, a.String())
	}
	for _, l := range d.Lost {
		s.Lost = append(s.Lost, l.Addr.String()+" to "+strings.Join(l.Holders, ","))
	}
	s.Refused = d.Refused
	return s
}

func TestDecide(t *testing.T) {
	v4 := poolSpec{name: "v4", cidrs: []string{"203.0.113.0/29"}, autoAssign: true}
	tests := []struct {
		name    string
		pools   []poolSpec
		others  []*corev1.Service // observed first (their status blocks addresses)
		locks   []*seamarkv1alpha1.IPAllocation
		svc     *corev1.Service
		taken   []*seamarkv1alpha1.IPAllocation
		want    summary
		warning string // substring of the joined warnings
		note    string // substring of the joined notes
	}{
		{name: "a new Service gets the lowest free address of the autoAssign pool",
			pools: []poolSpec{v4}, svc: testService("a"),
			want: summary{Targets: []string{"203.0.113.1 create fresh"}}},
		{name: "an address another Service shows is never handed out, lock or not",
			pools: []poolSpec{v4}, others: []*corev1.Service{testService("b", shows("203.0.113.1"))}, svc: testService("a"),
			want: summary{Targets: []string{"203.0.113.2 create fresh"}}},
		{name: "a locked address is not handed out",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "b")}, svc: testService("a"),
			want: summary{Targets: []string{"203.0.113.2 create fresh"}}},
		{name: "pools by priority, then name",
			pools: []poolSpec{{name: "z", cidrs: []string{"198.51.100.0/30"}, autoAssign: true}, {name: "b", cidrs: []string{"203.0.113.0/30"}, autoAssign: true, priority: 1},
				{name: "a", cidrs: []string{"198.51.100.8/30"}, autoAssign: true}},
			svc: testService("a"), want: summary{Targets: []string{"198.51.100.9 create fresh"}}},
		{name: "a named pool wins over autoAssign pools",
			pools: []poolSpec{v4, {name: "other", cidrs: []string{"198.51.100.0/30"}}},
			svc:   testService("a", ann(seamarkv1alpha1.AnnotationPool, "other")), want: summary{Targets: []string{"198.51.100.1 create fresh"}}},
		{name: "a requested address wins over everything",
			pools: []poolSpec{v4}, svc: testService("a", ann(seamarkv1alpha1.AnnotationIPs, "203.0.113.5")),
			want: summary{Targets: []string{"203.0.113.5 create fresh"}}},
		{name: "spec.loadBalancerIP is honoured",
			pools: []poolSpec{v4}, svc: testService("a", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "203.0.113.4" }),
			want: summary{Targets: []string{"203.0.113.4 create fresh"}}},
		{name: "a requested address that is taken is refused",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.5", "", "b")},
			svc:  testService("a", ann(seamarkv1alpha1.AnnotationIPs, "203.0.113.5")),
			want: summary{Refused: true}, warning: "203.0.113.5 is already in use by another Service"},
		{name: "a requested address outside the pools is refused",
			pools: []poolSpec{v4}, svc: testService("a", ann(seamarkv1alpha1.AnnotationIPs, "198.51.100.7")),
			want: summary{Refused: true}, warning: "198.51.100.7 is not in any pool this Service may use (v4)"},
		{name: "the shown address stays when the index holds two for the Service (I2)",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "a"), lockOf("203.0.113.3", "", "a")},
			svc:  testService("a", shows("203.0.113.3")),
			want: summary{Targets: []string{"203.0.113.3 keep"}, Release: []string{"203.0.113.1"}}},
		{name: "without a shown address, the lowest lock is reused and the other released",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.3", "", "a"), lockOf("203.0.113.2", "", "a")},
			svc:  testService("a"),
			want: summary{Targets: []string{"203.0.113.2 keep"}, Release: []string{"203.0.113.3"}}},
		{name: "a lock of a Service re-created under the same name is confirmed",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.2", "", "a")},
			svc:  testService("a", func(s *corev1.Service) { s.UID = "uid-new" }),
			want: summary{Targets: []string{"203.0.113.2 confirm"}}},
		{name: "a shown address without a lock is adopted",
			pools: []poolSpec{v4}, svc: testService("a", shows("203.0.113.6")),
			want: summary{Targets: []string{"203.0.113.6 confirm fresh adopted"}}},
		{name: "a shown address outside every pool stays shown and nothing replaces it",
			pools: []poolSpec{v4}, svc: testService("a", shows("198.51.100.1")),
			want: summary{Unadopted: []string{"198.51.100.1"}, Refused: true}, warning: "The Service shows 198.51.100.1, which seamark cannot adopt"},
		{name: "a shown address whose lock lists another Service is confirmed, not given up on the index's word",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "b")},
			svc:  testService("a", shows("203.0.113.1")),
			want: summary{Targets: []string{"203.0.113.1 confirm"}}},
		{name: "a shown address the apiserver confirms is another's is lost; the Service gets a new one",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "b")},
			svc: testService("a", shows("203.0.113.1")), taken: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "b")},
			want: summary{Targets: []string{"203.0.113.2 create fresh"}, Lost: []string{"203.0.113.1 to ns/b"}}},
		{name: "a requested address replaces the shown one, released after the status",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "a")},
			svc:  testService("a", shows("203.0.113.1"), ann(seamarkv1alpha1.AnnotationIPs, "203.0.113.4")),
			want: summary{Targets: []string{"203.0.113.4 create fresh"}, Release: []string{"203.0.113.1"}}},
		{name: "a requested address that cannot be had keeps the shown one",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "a"), lockOf("203.0.113.4", "", "b")},
			svc:  testService("a", shows("203.0.113.1"), ann(seamarkv1alpha1.AnnotationIPs, "203.0.113.4")),
			want: summary{Targets: []string{"203.0.113.1 keep"}}, warning: "Requested address 203.0.113.4 cannot be granted, keeping 203.0.113.1"},
		{name: "a bad annotation keeps the shown address and grants nothing new",
			pools: []poolSpec{v4}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "a")},
			svc:  testService("a", shows("203.0.113.1"), ann(seamarkv1alpha1.AnnotationIPs, "nonsense")),
			want: summary{Targets: []string{"203.0.113.1 keep"}}, warning: `"nonsense" is not an IP address`},
		{name: "a bad annotation on a new Service is a refusal",
			pools: []poolSpec{v4}, svc: testService("a", ann(seamarkv1alpha1.AnnotationPool, "Bad")),
			want: summary{Refused: true}, warning: "not a pool name"},
		{name: "a pool edit never moves an address: outside every pool, the lock is kept",
			pools: []poolSpec{{name: "v4", cidrs: []string{"203.0.113.8/29"}, autoAssign: true}}, locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "a")},
			svc:  testService("a", shows("203.0.113.1")),
			want: summary{Targets: []string{"203.0.113.1 keep"}}},
		{name: "SingleStack IPv6 takes one IPv6 address",
			pools: []poolSpec{{name: "dual", cidrs: []string{"203.0.113.0/30", "2001:db8::/126"}, autoAssign: true}},
			svc:   testService("a", families(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol)),
			want:  summary{Targets: []string{"2001:db8::1 create fresh"}}},
		{name: "RequireDualStack takes one of each",
			pools: []poolSpec{{name: "dual", cidrs: []string{"203.0.113.0/30", "2001:db8::/126"}, autoAssign: true}},
			svc:   testService("a", families(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol)),
			want:  summary{Targets: []string{"203.0.113.1 create fresh", "2001:db8::1 create fresh"}}},
		{name: "RequireDualStack without IPv6 pools grants nothing",
			pools: []poolSpec{v4}, svc: testService("a", families(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol)),
			want: summary{Refused: true}, warning: "RequireDualStack needs one address of each family"},
		{name: "PreferDualStack without IPv6 pools continues with IPv4",
			pools: []poolSpec{v4}, svc: testService("a", families(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol)),
			want: summary{Targets: []string{"203.0.113.1 create fresh"}}, note: "PreferDualStack, continuing with one family"},
		{name: "a family no longer wanted is released",
			pools: []poolSpec{{name: "dual", cidrs: []string{"203.0.113.0/30", "2001:db8::/126"}, autoAssign: true}},
			locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "a"), lockOf("2001:db8::1", "", "a")},
			svc:   testService("a", shows("203.0.113.1", "2001:db8::1")),
			want:  summary{Targets: []string{"203.0.113.1 keep"}, Release: []string{"2001:db8::1"}}},
		{name: "an exhausted family names only the pools of that family",
			pools: []poolSpec{{name: "ho-a", cidrs: []string{"203.0.113.1-203.0.113.1"}, autoAssign: true}, {name: "ho-v6", cidrs: []string{"2001:db8::/126"}, autoAssign: true}},
			locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "", "b")}, svc: testService("a"),
			want: summary{Refused: true}, warning: "every permitted pool with IPv4 addresses is full (ho-a)"},
		{name: "no pool admits the Service",
			pools: []poolSpec{{name: "sel", cidrs: []string{"203.0.113.0/30"}, autoAssign: true, selector: map[string]string{"tier": "web"}}},
			svc:   testService("a"), want: summary{Refused: true}, warning: "no IPPool admits this Service"},
		{name: "a pool's serviceSelector admits matching Services",
			pools: []poolSpec{{name: "sel", cidrs: []string{"203.0.113.0/30"}, autoAssign: true, selector: map[string]string{"tier": "web"}}},
			svc:   testService("a", labelled("tier", "web")), want: summary{Targets: []string{"203.0.113.1 create fresh"}}},
		{name: "Services with one sharing key and different ports share an address",
			pools: []poolSpec{v4}, others: []*corev1.Service{testService("b", ann(seamarkv1alpha1.AnnotationSharingKey, "k"), port(443), shows("203.0.113.1"))},
			locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "k", "b")},
			svc:   testService("a", ann(seamarkv1alpha1.AnnotationSharingKey, "k")),
			want:  summary{Targets: []string{"203.0.113.1 confirm fresh"}}},
		{name: "a port conflict under one sharing key gets a separate address and a note",
			pools: []poolSpec{v4}, others: []*corev1.Service{testService("b", ann(seamarkv1alpha1.AnnotationSharingKey, "k"), shows("203.0.113.1"))},
			locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "k", "b")},
			svc:   testService("a", ann(seamarkv1alpha1.AnnotationSharingKey, "k")),
			want:  summary{Targets: []string{"203.0.113.2 create fresh"}}, note: "Could not share an address under sharing key \"k\""},
		{name: "Local Services with different selectors do not share",
			pools: []poolSpec{v4}, others: []*corev1.Service{testService("b", ann(seamarkv1alpha1.AnnotationSharingKey, "k"), port(443), localPolicy("x"), shows("203.0.113.1"))},
			locks: []*seamarkv1alpha1.IPAllocation{lockOf("203.0.113.1", "k", "b")},
			svc:   testService("a", ann(seamarkv1alpha1.AnnotationSharingKey, "k"), localPolicy("y")),
			want:  summary{Targets: []string{"203.0.113.2 create fresh"}}, note: "Could not share"},
		{name: "of two Services showing one address without a lock, the older is held; the younger still confirms with the apiserver",
			pools: []poolSpec{v4}, others: []*corev1.Service{testService("old", shows("203.0.113.3"), created(-10))},
			svc:  testService("a", shows("203.0.113.3")),
			want: summary{Targets: []string{"203.0.113.3 confirm fresh adopted"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := New(true)
			u.SetConfig(testConfig(t, tt.pools...))
			for _, o := range tt.others {
				u.ObserveService(o)
			}
			for _, l := range tt.locks {
				u.ObserveAllocation(l)
			}
			taken := map[netip.Addr]*seamarkv1alpha1.IPAllocation{}
			for _, l := range tt.taken {
				taken[netip.MustParseAddr(string(l.Spec.Address))] = l
			}
			d := u.Decide(tt.svc, taken)
			got := summarize(d)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decision (-want +got):\n%s\nwarnings: %q notes: %q", diff, d.Warnings, d.Notes)
			}
			w := strings.Join(d.Warnings, "; ")
			if tt.warning != "" && !strings.Contains(w, tt.warning) {
				t.Errorf("warnings %q do not say %q", w, tt.warning)
			}
			if tt.warning == "" && w != "" {
				t.Errorf("unexpected warnings %q", w)
			}
			if n := strings.Join(d.Notes, "; "); tt.note != "" && !strings.Contains(n, tt.note) {
				t.Errorf("notes %q do not say %q", n, tt.note)
			}
		})
	}
}

// TestPendingClaimsBlockOtherDecisions: two reconciles of one controller
// in flight never pick the same fresh address, and an abandoned claim
// frees it.
func TestPendingClaimsBlockOtherDecisions(t *testing.T) {
	u := New(true)
	u.SetConfig(testConfig(t, poolSpec{name: "v4", cidrs: []string{"203.0.113.0/30"}, autoAssign: true}))
	da := u.Decide(testService("a"), nil)
	db := u.Decide(testService("b"), nil)
	if da.Targets[0].Addr == db.Targets[0].Addr {
		t.Fatalf("both got %s", da.Targets[0].Addr)
	}
	u.Abandon("ns/a", da.Targets[0].Addr)
	dc := u.Decide(testService("c"), nil)
	if dc.Targets[0].Addr != da.Targets[0].Addr {
		t.Errorf("c got %s, want the abandoned %s", dc.Targets[0].Addr, da.Targets[0].Addr)
	}
	// A lock observed for someone else settles the claim: it is lost.
	u.ObserveAllocation(lockOf(dc.Targets[0].Addr.String(), "", "z"))
	if h := u.Holders(dc.Targets[0].Addr); !cmp.Equal(h, []string{"ns/z"}) {
		t.Errorf("holders %v, want the lock's ns/z", h)
	}
}

// TestObserveIgnoresOlderVersions: a late informer event never undoes
// what a write showed.
func TestObserveIgnoresOlderVersions(t *testing.T) {
	u := New(true)
	u.SetConfig(testConfig(t, poolSpec{name: "v4", cidrs: []string{"203.0.113.0/30"}, autoAssign: true}))
	newer := lockOf("203.0.113.1", "", "b")
	newer.ResourceVersion = "9"
	older := lockOf("203.0.113.1", "", "a")
	older.ResourceVersion = "5"
	u.ObserveAllocation(newer)
	u.ObserveAllocation(older)
	if h := u.Holders(netip.MustParseAddr("203.0.113.1")); !cmp.Equal(h, []string{"ns/b"}) {
		t.Errorf("holders %v, want ns/b", h)
	}
	u.ForgetAllocation(newer)
	if h := u.Holders(netip.MustParseAddr("203.0.113.1")); h != nil {
		t.Errorf("holders %v after the delete, want none", h)
	}
	u.ObserveService(testService("c", shows("203.0.113.2")))
	if h := u.Holders(netip.MustParseAddr("203.0.113.2")); !cmp.Equal(h, []string{"ns/c"}) {
		t.Errorf("holders %v of a shown address, want ns/c", h)
	}
	u.ForgetService("ns", "c")
	if h := u.Holders(netip.MustParseAddr("203.0.113.2")); h != nil {
		t.Errorf("holders %v after the Service went, want none", h)
	}
	if st := u.Stats("v4", allocator.IPv4); st.Allocated != 0 {
		t.Errorf("stats %+v, want nothing allocated", st)
	}
}

// TestSyncProtocol runs Sync against the simulated apiserver alone:
// grant, adopt, switch on request, resolve a duplicate, leave when gone.
func TestSyncProtocol(t *testing.T) {
	ctx := context.Background()
	api := newSimAPI()
	st := &simStore{api: api, gate: func() error { return nil }}
	u := New(true)
	u.SetConfig(testConfig(t, poolSpec{name: "v4", cidrs: []string{"203.0.113.0/29"}, autoAssign: true}))
	get := func(name string) *corev1.Service { return api.svcs[OwnerOf("ns", name)].DeepCopy() }
	sync := func(name string) Outcome {
		t.Helper()
		out, err := u.Sync(ctx, st, get(name))
		if err != nil {
			t.Fatalf("sync %s: %v", name, err)
		}
		return out
	}
	status := func(name string) string {
		return fmt.Sprint(config.StatusAddresses(api.svcs[OwnerOf("ns", name)]))
	}

	api.createService("ns", "a")
	if out := sync("a"); !out.Written || status("a") != "[203.0.113.1]" {
		t.Fatalf("a: %+v, shows %s", out, status("a"))
	}
	// Syncing again writes nothing.
	if out := sync("a"); out.Written || out.Stale {
		t.Errorf("second sync of a: %+v", out)
	}
	// A stale read loses its optimistic lock and releases nothing.
	stale := get("a")
	api.setStatus(OwnerOf("ns", "a"), []netip.Addr{netip.MustParseAddr("203.0.113.1")})
	stale.Status.LoadBalancer.Ingress = nil
	if out, err := u.Sync(ctx, st, stale); err != nil || !out.Stale {
		t.Errorf("stale sync: %+v, %v", out, err)
	}
	// A hand edit to another Service's address: the lock decides.
	api.createService("ns", "b")
	sync("b")
	api.setStatus(OwnerOf("ns", "b"), []netip.Addr{netip.MustParseAddr("203.0.113.1")})
	u.ObserveService(get("b"))
	out := sync("b")
	if len(out.Decision.Lost) != 1 || status("b") == "[203.0.113.1]" || status("a") != "[203.0.113.1]" {
		t.Errorf("after the hand edit: %+v, a shows %s, b shows %s", out.Decision, status("a"), status("b"))
	}
	// An IPAllocation deleted by hand is written again for the Service
	// that shows its address.
	name := seamarkv1alpha1.AllocationName(netip.MustParseAddr("203.0.113.1"))
	u.ForgetAllocation(api.allocs[name])
	delete(api.allocs, name)
	if out := sync("a"); len(out.Decision.Targets) != 1 || !out.Decision.Targets[0].Adopted || api.allocs[name] == nil {
		t.Errorf("after the hand delete: %+v, lock %v", out.Decision, api.allocs[name])
	}
	// A requested address: the lock of the new one first, the status,
	// then the old lock released.
	s := api.svcs[OwnerOf("ns", "a")]
	s.Annotations = map[string]string{seamarkv1alpha1.AnnotationIPs: "203.0.113.6"}
	api.bump(&s.ObjectMeta)
	out = sync("a")
	if status("a") != "[203.0.113.6]" || api.allocs[name] != nil || fmt.Sprint(out.Released) != "[203.0.113.1]" {
		t.Errorf("after the request: %+v, a shows %s, old lock %v", out, status("a"), api.allocs[name])
	}
	// Gone: the lock goes once the apiserver confirms.
	api.deleteService(OwnerOf("ns", "a"))
	released, err := u.SyncGone(ctx, st, "ns", "a")
	if err != nil || fmt.Sprint(released) != "[203.0.113.6]" {
		t.Errorf("gone: %v, %v", released, err)
	}
	// Not ours any more while the status still shows the address: kept (I1).
	c := api.svcs[OwnerOf("ns", "b")]
	c.Spec.Type = corev1.ServiceTypeClusterIP
	api.bump(&c.ObjectMeta)
	if released, err := u.SyncNotOurs(ctx, st, get("b")); err != nil || len(released) != 0 {
		t.Errorf("not ours but shown: released %v, %v", released, err)
	}
	c.Status.LoadBalancer.Ingress = nil
	api.bump(&c.ObjectMeta)
	if released, err := u.SyncNotOurs(ctx, st, get("b")); err != nil || len(released) != 1 {
		t.Errorf("not ours, not shown: released %v, %v", released, err)
	}
	if len(api.allocs) != 0 {
		t.Errorf("locks left: %v", api.allocs)
	}
}

// TestOutside: a pool edit that leaves a granted address outside every
// pool keeps it and reports it; a release or a pool that takes it back
// clears the report.
func TestOutside(t *testing.T) {
	u := New(true)
	u.SetConfig(testConfig(t, poolSpec{name: "v4", cidrs: []string{"203.0.113.0/29"}, autoAssign: true}))
	lock := lockOf("203.0.113.1", "", "a")
	u.ObserveAllocation(lock)
	if got := u.SetConfig(testConfig(t, poolSpec{name: "v4", cidrs: []string{"203.0.113.8/29"}, autoAssign: true})); len(got) != 1 {
		t.Errorf("SetConfig reported %v outside, want 203.0.113.1", got)
	}
	if got := fmt.Sprint(u.Outside()); got != "[203.0.113.1]" {
		t.Errorf("Outside() = %s", got)
	}
	u.ObserveAllocation(lockOf("198.51.100.9", "", "b")) // observed while outside every pool
	if got := fmt.Sprint(u.Outside()); got != "[198.51.100.9 203.0.113.1]" {
		t.Errorf("Outside() = %s", got)
	}
	u.ForgetAllocation(lock)
	u.SetConfig(testConfig(t, poolSpec{name: "v4", cidrs: []string{"198.51.100.8/29"}, autoAssign: true}))
	if got := u.Outside(); len(got) != 0 {
		t.Errorf("Outside() = %v, want none", got)
	}
}
