package config

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

func lookupConfig(t *testing.T) *Config {
	t.Helper()
	res := Resources{
		Pools: []seamarkv1alpha1.IPPool{
			withPool(pool("default", 0, "203.0.113.0/24"), func(p *seamarkv1alpha1.IPPool) { p.Labels = map[string]string{"announce": "bgp"} }),
			withPool(pool("preferred", 1, "198.51.100.0/25"), func(p *seamarkv1alpha1.IPPool) { p.Spec.Priority = -1 }),
			withPool(pool("a-same-priority", 2, "198.51.100.128/26"), func(p *seamarkv1alpha1.IPPool) { p.Spec.Priority = 0 }),
			withPool(pool("manual", 3, "198.51.100.192/27"), func(p *seamarkv1alpha1.IPPool) { p.Spec.AutoAssign = ptr(false) }),
			withPool(pool("web-only", 4, "198.51.100.224/28"), func(p *seamarkv1alpha1.IPPool) {
				p.Spec.ServiceSelector = sel(map[string]string{"app": "web"})
			}),
			withPool(pool("team-only", 5, "198.51.100.240/29"), func(p *seamarkv1alpha1.IPPool) {
				p.Spec.NamespaceSelector = sel(map[string]string{"team": "blue"})
			}),
			withPool(pool("leaving", 6, "2001:db8::/64"), func(p *seamarkv1alpha1.IPPool) { p.DeletionTimestamp = ptr(metav1.NewTime(epoch)) }),
		},
		Namespaces: []corev1.Namespace{namespace("blue", map[string]string{"team": "blue"}), namespace("red", map[string]string{"team": "red"})},
	}
	cfg, problems := Build(res)
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	return cfg
}

func TestPoolsFor(t *testing.T) {
	cfg := lookupConfig(t)
	tests := []struct {
		name    string
		ns      string
		labels  map[string]string
		ann     map[string]string
		want    []string
		wantErr string
	}{
		{name: "autoAssign pools by priority then name", ns: "red", want: []string{"preferred", "a-same-priority", "default"}},
		{name: "a pool's service selector admits matching Services", ns: "red", labels: map[string]string{"app": "web"}, want: []string{"preferred", "a-same-priority", "default", "web-only"}},
		{name: "a pool's namespace selector admits matching namespaces", ns: "blue", want: []string{"preferred", "a-same-priority", "default", "team-only"}},
		{name: "a named pool is the only candidate", ns: "red", ann: map[string]string{"seamark.io/pool": "manual"}, want: []string{"manual"}},
		{name: "requested addresses may come from any admitting pool, autoAssign or not", ns: "red", ann: map[string]string{"seamark.io/ips": "198.51.100.200"}, want: []string{"preferred", "a-same-priority", "default", "manual"}},
		{name: "a requested address with a named pool is limited to that pool", ns: "red", ann: map[string]string{"seamark.io/ips": "198.51.100.200", "seamark.io/pool": "default"}, want: []string{"default"}},
		{name: "a named pool that does not exist is refused", ns: "red", ann: map[string]string{"seamark.io/pool": "nope"}, wantErr: `pool "nope" named by seamark.io/pool does not exist or is not usable; check ` + "`kubectl get ippool nope`"},
		{name: "a named pool that is being deleted is refused", ns: "red", ann: map[string]string{"seamark.io/pool": "leaving"}, wantErr: `pool "leaving" named by seamark.io/pool is being deleted and grants no new addresses`},
		{name: "a named pool whose service selector does not match is refused", ns: "red", ann: map[string]string{"seamark.io/pool": "web-only"}, wantErr: `pool "web-only" named by seamark.io/pool does not admit this Service: its serviceSelector does not match the Service's labels`},
		{name: "a named pool whose namespace selector does not match is refused", ns: "red", ann: map[string]string{"seamark.io/pool": "team-only"}, wantErr: `pool "team-only" named by seamark.io/pool does not admit this Service: its namespaceSelector does not match namespace "red"`},
		{name: "an unknown namespace has no labels", ns: "ghost", want: []string{"preferred", "a-same-priority", "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := service(tt.ns, "svc", tt.labels, tt.ann)
			req, err := ParseService(svc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.PoolsFor(svc, req)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("want error %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, PoolNames(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoolOf(t *testing.T) {
	cfg := lookupConfig(t)
	for addr, want := range map[string]string{
		"203.0.113.0":     "default", // a network address still belongs to its pool
		"203.0.113.77":    "default",
		"198.51.100.127":  "preferred",
		"198.51.100.128":  "a-same-priority",
		"198.51.100.247":  "team-only",
		"198.51.100.248":  "",
		"198.18.255.1":    "",
		"2001:db8::1":     "leaving",
		"2001:db8:1::1":   "",
		"0.0.0.0":         "",
		"255.255.255.255": "",
	} {
		got := ""
		if p := cfg.PoolOf(netip.MustParseAddr(addr)); p != nil {
			got = p.Name
		}
		if got != want {
			t.Errorf("PoolOf(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestPeersFor(t *testing.T) {
	res := Resources{Peers: []seamarkv1alpha1.BGPPeer{
		withPeer(peer("rack-a", 0, "198.18.1.1", 64512, 64513), func(s *seamarkv1alpha1.BGPPeerSpec) { s.NodeSelector = sel(map[string]string{"rack": "a"}) }),
		withPeer(peer("rack-b", 0, "198.18.1.2", 64512, 64513), func(s *seamarkv1alpha1.BGPPeerSpec) { s.NodeSelector = sel(map[string]string{"rack": "b"}) }),
		peer("core", 1, "198.18.9.9", 64500, 64513),
		peer("core-again", 2, "198.18.9.9", 64501, 64513),
	}}
	cfg, problems := Build(res)
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	names := func(ps []*Peer) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	peers, shadowed := cfg.PeersFor(labels.Set{"rack": "a"})
	if diff := cmp.Diff([]string{"core", "rack-a"}, names(peers)); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"core-again"}, names(shadowed)); diff != "" {
		t.Errorf("the younger peer with the same address and port must be shadowed (-want +got):\n%s", diff)
	}
	if peers, _ := cfg.PeersFor(labels.Set{}); !cmp.Equal([]string{"core"}, names(peers)) {
		t.Errorf("a node without labels peers with %v, want [core]", names(peers))
	}
}

func TestAdvertisementsFor(t *testing.T) {
	res := Resources{
		Pools: []seamarkv1alpha1.IPPool{
			withPool(pool("bgp", 0, "203.0.113.0/24"), func(p *seamarkv1alpha1.IPPool) { p.Labels = map[string]string{"announce": "bgp"} }),
			pool("plain", 0, "198.51.100.0/24"),
		},
		BGPAdvertisements: []seamarkv1alpha1.BGPAdvertisement{
			bgpAdv("all", nil),
			bgpAdv("bgp-pools", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.IPPoolSelector = sel(map[string]string{"announce": "bgp"})
			}),
			bgpAdv("edge-nodes", func(s *seamarkv1alpha1.BGPAdvertisementSpec) { s.NodeSelector = sel(map[string]string{"edge": "true"}) }),
			bgpAdv("web", func(s *seamarkv1alpha1.BGPAdvertisementSpec) {
				s.ServiceSelector = sel(map[string]string{"app": "web"})
			}),
		},
	}
	cfg, problems := Build(res)
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	names := func(as []*BGPAdvertisement) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Name)
		}
		return out
	}
	tests := []struct {
		name      string
		pool      *Pool
		svc, node labels.Set
		want      []string
	}{
		{"a plain pool on a plain node", cfg.Pools["plain"], nil, nil, []string{"all"}},
		{"a labelled pool", cfg.Pools["bgp"], nil, nil, []string{"all", "bgp-pools"}},
		{"an edge node", cfg.Pools["plain"], nil, labels.Set{"edge": "true"}, []string{"all", "edge-nodes"}},
		{"a web Service", cfg.Pools["plain"], labels.Set{"app": "web"}, nil, []string{"all", "web"}},
		{"an address in no pool matches only advertisements without a pool selector", nil, labels.Set{"app": "web"}, labels.Set{"edge": "true"}, []string{"all", "edge-nodes", "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(cfg.BGPAdvertisementsFor(tt.pool, tt.svc, tt.node)), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
