package config

import (
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// NamespaceLabels returns the labels of a namespace (empty if unknown).
func (c *Config) NamespaceLabels(namespace string) labels.Set {
	return c.namespaceLabels[namespace]
}

// PoolsFor returns the pools a Service may take addresses from, in
// precedence order (docs/allocation.md, "Precedence and families"):
//   - a Service naming a pool (seamark.io/pool) may use that pool only;
//   - a Service requesting addresses may use every pool that admits it,
//     autoAssign or not (a requested address must lie in one of them);
//   - otherwise the autoAssign pools that admit it, by priority, then name.
//
// A pool admits a Service when its serviceSelector matches the Service's
// labels and its namespaceSelector the labels of the Service's namespace.
// Terminating pools grant nothing new and are never returned. The error,
// for a named pool that cannot be used, is a sentence for the user.
func (c *Config) PoolsFor(svc *corev1.Service, req ServiceRequest) ([]*Pool, error) {
	svcLabels := labels.Set(svc.Labels)
	nsLabels := c.namespaceLabels[svc.Namespace]
	if req.Pool != "" {
		p, ok := c.Pools[req.Pool]
		switch {
		case !ok:
			return nil, fmt.Errorf("pool %q named by seamark.io/pool does not exist or is not usable; check `kubectl get ippool %s`", req.Pool, req.Pool)
		case p.Terminating:
			return nil, fmt.Errorf("pool %q named by seamark.io/pool is being deleted and grants no new addresses", req.Pool)
		case !p.serviceSelector.Matches(svcLabels):
			return nil, fmt.Errorf("pool %q named by seamark.io/pool does not admit this Service: its serviceSelector does not match the Service's labels", req.Pool)
		case !p.namespaceSelector.Matches(nsLabels):
			return nil, fmt.Errorf("pool %q named by seamark.io/pool does not admit this Service: its namespaceSelector does not match namespace %q", req.Pool, svc.Namespace)
		}
		return []*Pool{p}, nil
	}
	var out []*Pool
	for _, p := range c.poolOrder {
		if p.Terminating || (!p.AutoAssign && len(req.Addresses) == 0) || !p.Admits(svcLabels, nsLabels) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// PoolNames returns the names of pools, in order.
func PoolNames(pools []*Pool) []string {
	out := make([]string, len(pools))
	for i, p := range pools {
		out[i] = p.Name
	}
	return out
}

// PoolOf returns the pool whose ranges contain addr, or nil. It is
// O(log ranges).
func (c *Config) PoolOf(addr netip.Addr) *Pool {
	i := sort.Search(len(c.rangeIndex), func(i int) bool {
		return addr.Less(c.rangeIndex[i].r.First)
	})
	if i == 0 {
		return nil
	}
	if ir := c.rangeIndex[i-1]; ir.r.Contains(addr) {
		return ir.pool
	}
	return nil
}

// BGPAdvertisementsFor returns the BGP advertisements that apply to an
// address of pool (nil for addresses outside every pool) of a Service with
// serviceLabels, announced from a node with nodeLabels.
func (c *Config) BGPAdvertisementsFor(pool *Pool, serviceLabels, nodeLabels labels.Set) []*BGPAdvertisement {
	return selected(c.BGPAdvertisements, pool, serviceLabels, nodeLabels)
}

// L2AdvertisementsFor is BGPAdvertisementsFor for layer 2.
func (c *Config) L2AdvertisementsFor(pool *Pool, serviceLabels, nodeLabels labels.Set) []*L2Advertisement {
	return selected(c.L2Advertisements, pool, serviceLabels, nodeLabels)
}

func selected[A interface {
	Selects(*Pool, labels.Set, labels.Set) bool
}](all []A, pool *Pool, serviceLabels, nodeLabels labels.Set) []A {
	var out []A
	for _, a := range all {
		if a.Selects(pool, serviceLabels, nodeLabels) {
			out = append(out, a)
		}
	}
	return out
}

// PeersFor returns the peers a node with nodeLabels opens sessions with, by
// name. A node can hold one session per router address and port, so when
// several selected peers have the same address and port the oldest (then
// the first by name) wins and the others are returned as shadowed, for the
// caller to report.
func (c *Config) PeersFor(nodeLabels labels.Set) (peers, shadowed []*Peer) {
	type endpoint struct {
		addr netip.Addr
		port uint16
	}
	seen := map[endpoint]bool{}
	for _, p := range c.peerOrder {
		if !p.Selects(nodeLabels) {
			continue
		}
		e := endpoint{p.Address, p.Port}
		if seen[e] {
			shadowed = append(shadowed, p)
			continue
		}
		seen[e] = true
		peers = append(peers, p)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Name < peers[j].Name })
	return peers, shadowed
}
