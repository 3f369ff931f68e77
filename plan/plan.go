// Package plan is the speaker's pure planning: from the configuration and
// the cluster's objects, what one node announces over BGP and which nodes
// may own each layer 2 address. The speaker applies it; the controller and
// kubectl-seamark run the same functions per node to say whether, and why
// not, a Service is announced (Explain). It does no I/O and links neither
// GoBGP nor memberlist.
package plan

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// Input is everything a plan is computed from. The slices are read, never
// modified, and may be the informer cache's own objects.
type Input struct {
	// Config is the configuration snapshot; nil plans nothing.
	Config *config.Config
	// Node is the node the speaker runs on; nil (not known yet, or deleted)
	// plans nothing, so every session is closed.
	Node *corev1.Node
	// Services are all the cluster's Services.
	Services []corev1.Service
	// EndpointSlices are all the cluster's EndpointSlices. Only their
	// service-name label, address type, and each endpoint's nodeName and
	// conditions are read.
	EndpointSlices []discoveryv1.EndpointSlice
	// DefaultClass: Services without spec.loadBalancerClass are seamark's
	// (the --default-class flag, same meaning as the controller's).
	DefaultClass bool
	// Nodes are all the cluster's Nodes, for layer 2: every speaker elects
	// the owner of an address among all the nodes eligible for it. Only
	// names, labels and taints are read.
	Nodes []corev1.Node
	// Secrets are the Secrets of seamark's namespace (the plan does not
	// read them; the layer 2 gossip key is taken from one).
	Secrets []corev1.Secret
}

// Plan is what one node announces: per BGP peer, the session settings and
// the exact set of paths. The speaker maps Peers onto bgp.Speaker.Reconcile.
type Plan struct {
	// Peers are keyed by BGPPeer name; paths are sorted by prefix.
	Peers map[string]Session
	// Problems are peer settings the node cannot use as written, sorted by
	// peer and reason, for the caller to log.
	Problems []PeerProblem
	// L2 are the addresses answered for over ARP/NDP, sorted, each with the
	// nodes every advertisement lets own it; speaker/layer2 elects the
	// owner among those that are live and have an interface for it.
	L2 []L2Address
	// L2Enabled: at least one L2Advertisement exists, so the node takes
	// part in layer 2 gossip even while it has nothing to answer for.
	L2Enabled bool
}

// PeerProblem is one BGPPeer setting the plan could not honour on this node.
type PeerProblem struct {
	// Peer is the BGPPeer name.
	Peer string
	// Reason is one of the Problem* constants.
	Reason string
	// Message is a sentence for the operator.
	Message string
}

// Reasons of PeerProblems.
const (
	// ProblemShadowed: another, older BGPPeer of this node has the same
	// address and port; the node holds one session per router endpoint
	// (config.PeersFor), so this one is left out.
	ProblemShadowed = "Shadowed"
	// ProblemNoRouterID: the peer has no routerID, the node has no IPv4
	// InternalIP or ExternalIP, and the source address is not IPv4, so the
	// session has no BGP identifier and is left out.
	ProblemNoRouterID = "NoRouterID"
	// ProblemHoldTimeZero: holdTime 0 (no keepalives) cannot be run by
	// GoBGP; the session proposes GoBGP's default of 90s instead. A router
	// that itself proposes 0 still negotiates 0 (RFC 4271 takes the smaller).
	ProblemHoldTimeZero = "HoldTimeZero"
)

// Compute returns the plan for in.Node, per docs/architecture.md
// ("Announcing addresses"):
//
//   - The node's peers are config.PeersFor(node labels); shadowed ones are
//     reported. Sessions stay up on a node that may not announce anything,
//     so that becoming eligible again is only a path change.
//   - A node labelled node.kubernetes.io/exclude-from-external-load-balancers
//     (any value) or tainted node.kubernetes.io/out-of-service (any effect)
//     announces nothing; otherwise an advertisement applies when its
//     selectors match (config's rules: a nil pool — ClusterIPs, and addresses
//     outside every pool — matches only advertisements without
//     ipPoolSelector).
//   - LoadBalancerIP: the status.loadBalancer.ingress IPs of Services of type
//     LoadBalancer whose class is seamark.io/lb (or unset, with DefaultClass),
//     masked to the advertisement's aggregation length. ExternalIP: the
//     spec.externalIPs of any Service, as /32 or /128; both follow
//     externalTrafficPolicy, as kube-proxy applies it to both. ClusterIP:
//     spec.clusterIPs (not "None") as /32 or /128, following
//     internalTrafficPolicy. ClusterIPRange: every Ready ServiceCIDR as is,
//     from every eligible node; the range belongs to no pool and no Service,
//     so it matches advertisements without ipPoolSelector whose
//     serviceSelector matches a Service without labels.
//   - Policy Local: only a node with a usable endpoint of the Service on it
//     announces, kube-proxy's rule (KEP-1669): its ready endpoints, or, when
//     it has none ready, its serving-and-terminating ones. The fallback is
//     per node, exactly as kube-proxy picks local endpoints, so a node whose
//     pods are draining keeps attracting the traffic they still serve.
//     Policy Cluster: every eligible node, and with withdrawWhenNoEndpoints
//     only while the Service has a usable endpoint anywhere — ready ones, or
//     serving-terminating ones when none is ready, because kube-proxy still
//     sends Cluster traffic to those. Endpoint families are not told apart.
//   - Several Services, advertisements or aggregations may yield the same
//     prefix: it is announced if any of them announces it (shared addresses
//     are the union of their Services), with the union of the communities
//     and, toward iBGP peers, the highest local preference of the
//     advertisements that set one (the most preferred wins, so a shared
//     address is never demoted by a second Service). An explicit local
//     preference of 0 reads as unset (Path's 0).
//   - Per peer: only advertisements that name the peer (or no peer); IPv4
//     prefixes to IPv4 sessions and IPv6 prefixes to IPv6 sessions only (a
//     session carries its own family, see bgp.Speaker); local preference to
//     iBGP peers only.
//
// Compute does no I/O. It is O(S·A + E + P·N log N) for S Services, A
// advertisements, E endpoints, P peers and N announced prefixes.
func Compute(in Input) Plan {
	plan := Plan{Peers: map[string]Session{}}
	if in.Config == nil || in.Node == nil {
		return plan
	}
	cfg := in.Config
	nodeLabels := labels.Set(in.Node.Labels)

	peers, shadowed := cfg.PeersFor(nodeLabels)
	for _, p := range shadowed {
		plan.Problems = append(plan.Problems, PeerProblem{Peer: p.Name, Reason: ProblemShadowed,
			Message: fmt.Sprintf("BGPPeer %q has the address and port %s of an older BGPPeer of this node; only one session per router is opened", p.Name, netip.AddrPortFrom(p.Address, p.Port))})
	}
	defaultRouterID := nodeRouterID(in.Node)
	type activePeer struct {
		peer *config.Peer
		cfg  PeerConfig
	}
	var active []activePeer
	for _, p := range peers {
		pc, problems := peerConfig(p, defaultRouterID)
		plan.Problems = append(plan.Problems, problems...)
		if pc.Address.IsValid() {
			active = append(active, activePeer{p, pc})
		}
	}
	slices.SortFunc(plan.Problems, func(a, b PeerProblem) int {
		return cmp.Or(strings.Compare(a.Peer, b.Peer), strings.Compare(a.Reason, b.Reason))
	})

	var ann *announcements
	if len(active) > 0 && nodeEligible(in.Node) {
		ann = collect(in, nodeLabels)
	}
	for _, ap := range active {
		var paths []Path
		if ann != nil {
			paths = ann.pathsFor(ap.peer)
		}
		plan.Peers[ap.peer.Name] = Session{Config: ap.cfg, Paths: paths}
	}
	plan.L2Enabled = len(cfg.L2Advertisements) > 0
	if plan.L2Enabled {
		plan.L2 = collectL2(in)
	}
	return plan
}

// peerConfig maps a configured peer onto the session settings. A zero
// Address in the result means the peer cannot be used on this node.
func peerConfig(p *config.Peer, defaultRouterID netip.Addr) (PeerConfig, []PeerProblem) {
	var problems []PeerProblem
	pc := PeerConfig{
		Name:             p.Name,
		Address:          p.Address,
		Port:             p.Port,
		ASN:              p.ASN,
		LocalASN:         p.LocalASN,
		RouterID:         p.RouterID,
		HoldTime:         p.HoldTime,
		KeepaliveTime:    p.KeepaliveTime,
		ConnectRetryTime: p.ConnectRetryTime,
		EBGPMultihopTTL:  p.EBGPMultihop,
		MaxPrefixes:      p.MaxReceivedPrefixes,
		SourceAddress:    p.SourceAddress,
		Password:         p.Password,
		GracefulRestart:  p.GracefulRestart,
	}
	// The restart time only matters with graceful restart; carrying it
	// otherwise would reset the session for a setting without effect.
	if p.GracefulRestart {
		pc.RestartTime = p.RestartTime
	}
	if p.BFD.Enabled {
		pc.BFD = BFDConfig{Enabled: true, ReceiveInterval: p.BFD.ReceiveInterval,
			TransmitInterval: p.BFD.TransmitInterval, DetectMultiplier: p.BFD.DetectMultiplier}
	}
	if !pc.RouterID.IsValid() {
		pc.RouterID = defaultRouterID
	}
	if !pc.RouterID.IsValid() && !pc.SourceAddress.Is4() {
		return PeerConfig{}, []PeerProblem{{Peer: p.Name, Reason: ProblemNoRouterID,
			Message: fmt.Sprintf("BGPPeer %q has no routerID and this node has no IPv4 address to use instead; set spec.routerID", p.Name)}}
	}
	if p.HoldTime == 0 {
		// PeerConfig's zero hold time is GoBGP's default (90s, keepalive
		// 30s): the closest GoBGP can run.
		pc.HoldTime, pc.KeepaliveTime = 0, 0
		problems = append(problems, PeerProblem{Peer: p.Name, Reason: ProblemHoldTimeZero,
			Message: fmt.Sprintf("BGPPeer %q asks for holdTime 0 (no keepalives), which GoBGP cannot run; the session proposes 90s", p.Name)})
	}
	return pc, problems
}

// nodeRouterID is the node's first IPv4 InternalIP, else its first IPv4
// ExternalIP, else the zero Addr.
func nodeRouterID(n *corev1.Node) netip.Addr {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type != t {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Unmap().Is4() {
				return ip.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// nodeEligible reports whether the node may announce at all.
func nodeEligible(n *corev1.Node) bool {
	if _, ok := n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB]; ok {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Key == seamarkv1alpha1.TaintOutOfService {
			return false
		}
	}
	return true
}

// endpointState summarises one Service's endpoints as seen from one node.
type endpointState struct {
	readyAnywhere, servingTerminatingAnywhere bool
	readyHere, servingTerminatingHere         bool
}

// usable reports whether a node may announce a Service's address, given
// its traffic policy and the advertisement's withdrawWhenNoEndpoints.
func (e endpointState) usable(local, withdrawWhenNoEndpoints bool) bool {
	switch {
	case local:
		return e.readyHere || e.servingTerminatingHere
	case withdrawWhenNoEndpoints:
		return e.readyAnywhere || e.servingTerminatingAnywhere
	}
	return true
}

// indexEndpoints summarises the endpoints of every Service for node.
func indexEndpoints(items []discoveryv1.EndpointSlice, node string) map[types.NamespacedName]endpointState {
	out := make(map[types.NamespacedName]endpointState, len(items))
	scanEndpoints(items, func(key types.NamespacedName, nodeName *string, ready bool) {
		st := out[key]
		here := nodeName != nil && *nodeName == node
		if ready {
			st.readyAnywhere = true
			st.readyHere = st.readyHere || here
		} else {
			st.servingTerminatingAnywhere = true
			st.servingTerminatingHere = st.servingTerminatingHere || here
		}
		out[key] = st
	})
	return out
}

// scanEndpoints calls fn for every usable endpoint of every Service: ready
// ones (ready true) and serving-and-terminating ones (ready false), with
// the conditions read as the API defines them (nil ready and nil serving
// are true, nil terminating is false), as kube-proxy reads them.
func scanEndpoints(items []discoveryv1.EndpointSlice, fn func(key types.NamespacedName, nodeName *string, ready bool)) {
	for i := range items {
		s := &items[i]
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: name}
		for j := range s.Endpoints {
			ep := &s.Endpoints[j]
			c := ep.Conditions
			ready := c.Ready == nil || *c.Ready
			serving := c.Serving == nil || *c.Serving
			terminating := c.Terminating != nil && *c.Terminating
			switch {
			case ready:
				fn(key, ep.NodeName, true)
			case serving && terminating:
				fn(key, ep.NodeName, false)
			}
		}
	}
}

// clusterEndpoints are one Service's usable endpoints, per node.
type clusterEndpoints struct {
	readyAnywhere, servingTerminatingAnywhere bool
	ready, servingTerminating                 map[string]bool
}

// on is the Service's endpointState as seen from node.
func (c *clusterEndpoints) on(node string) endpointState {
	if c == nil {
		return endpointState{}
	}
	return endpointState{c.readyAnywhere, c.servingTerminatingAnywhere, c.ready[node], c.servingTerminating[node]}
}

// indexEndpointsAllNodes is indexEndpoints for every node at once.
func indexEndpointsAllNodes(items []discoveryv1.EndpointSlice) map[types.NamespacedName]*clusterEndpoints {
	out := map[types.NamespacedName]*clusterEndpoints{}
	scanEndpoints(items, func(key types.NamespacedName, nodeName *string, ready bool) {
		c := out[key]
		if c == nil {
			c = &clusterEndpoints{ready: map[string]bool{}, servingTerminating: map[string]bool{}}
			out[key] = c
		}
		if ready {
			c.readyAnywhere = true
		} else {
			c.servingTerminatingAnywhere = true
		}
		if nodeName == nil {
			return
		}
		if ready {
			c.ready[*nodeName] = true
		} else {
			c.servingTerminating[*nodeName] = true
		}
	})
	return out
}

// collectL2 returns the layer 2 addresses: the status.loadBalancer.ingress
// IPs of seamark's LoadBalancer Services (layer 2 answers for nothing
// else), each with one rule per L2Advertisement that selects it (by pool
// and Service), whose nodes are the ones BGP would let announce it:
// selected by the advertisement's nodeSelector, not excluded (nodeEligible),
// and with externalTrafficPolicy Local only those with a usable local
// endpoint (kube-proxy's rule, as for BGP); with withdrawWhenNoEndpoints a
// Cluster-policy address without any usable endpoint has no node. The
// election key is the lowest IPv4 address of the Service
// (ElectionKey); an address shared by several Services takes the
// union of their rules and the lowest of their keys.
//
// It is O(S·A·N) for S Services, A L2Advertisements and N nodes in the
// worst case (Local policy); Cluster-policy rules share one node slice per
// advertisement.
func collectL2(in Input) []L2Address {
	cfg := in.Config
	type advNodes struct {
		adv   *config.L2Advertisement
		nodes []string
	}
	nodes := slices.Clone(in.Nodes)
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	advs := make([]advNodes, len(cfg.L2Advertisements))
	for i, adv := range cfg.L2Advertisements {
		advs[i].adv = adv
		for j := range nodes {
			n := &nodes[j]
			if nodeEligible(n) && adv.SelectsNode(labels.Set(n.Labels)) {
				advs[i].nodes = append(advs[i].nodes, n.Name)
			}
		}
	}
	var endpoints map[types.NamespacedName]*clusterEndpoints
	type acc struct {
		key   netip.Addr
		rules []L2Rule
		seen  map[int]bool // advertisements already added with their shared node list
	}
	byAddr := map[netip.Addr]*acc{}
	for i := range in.Services {
		svc := &in.Services[i]
		if !config.Handles(svc, in.DefaultClass) {
			continue
		}
		var addrs []netip.Addr
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if a, ok := ParseAddr(ing.IP); ok {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		if endpoints == nil {
			endpoints = indexEndpointsAllNodes(in.EndpointSlices)
		}
		eps := endpoints[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}]
		local := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		key := ElectionKey(addrs)
		svcLabels := labels.Set(svc.Labels)
		for _, addr := range addrs {
			pool := cfg.PoolOf(addr)
			for ai, an := range advs {
				if !an.adv.SelectsAddress(pool, svcLabels) {
					continue
				}
				a := byAddr[addr]
				if a == nil {
					a = &acc{key: key, seen: map[int]bool{}}
					byAddr[addr] = a
				}
				a.key = ElectionKey([]netip.Addr{a.key, key})
				rule := L2Rule{Interfaces: an.adv.Interfaces, Refresh: an.adv.Refresh}
				switch {
				case local:
					for _, n := range an.nodes {
						if eps.on(n).usable(true, false) {
							rule.Nodes = append(rule.Nodes, n)
						}
					}
				case eps.on("").usable(false, an.adv.WithdrawWhenNoEndpoints):
					if a.seen[ai] {
						continue
					}
					a.seen[ai] = true
					rule.Nodes = an.nodes
				}
				if len(rule.Nodes) > 0 {
					a.rules = append(a.rules, rule)
				}
			}
		}
	}
	out := make([]L2Address, 0, len(byAddr))
	for addr, a := range byAddr {
		out = append(out, L2Address{Addr: addr, Key: a.key, Rules: a.rules})
	}
	slices.SortFunc(out, func(x, y L2Address) int { return x.Addr.Compare(y.Addr) })
	return out
}

// announcements are the prefixes this node announces, each with the set of
// advertisements that announce it.
type announcements struct {
	advs     []*config.BGPAdvertisement // those that select this node
	sets     advSets
	prefixes map[netip.Prefix]int // prefix → set id
}

func (a *announcements) add(p netip.Prefix, adv int) {
	a.prefixes[p] = a.sets.with(a.prefixes[p], adv)
}

// collect walks the Services and ServiceCIDRs and records which
// advertisement announces which prefix from this node.
func collect(in Input, nodeLabels labels.Set) *announcements {
	cfg := in.Config
	a := &announcements{sets: newAdvSets(), prefixes: map[netip.Prefix]int{}}
	for _, adv := range cfg.BGPAdvertisements {
		if adv.SelectsNode(nodeLabels) {
			a.advs = append(a.advs, adv)
		}
	}
	if len(a.advs) == 0 {
		return a
	}
	for i, adv := range a.advs {
		if adv.Announces(seamarkv1alpha1.AddressClusterIPRange) && adv.Selects(nil, nil, nodeLabels) {
			for _, p := range cfg.ServiceCIDRs {
				a.add(p, i)
			}
		}
	}

	var want struct{ lb, ext, cip bool }
	for _, adv := range a.advs {
		want.lb = want.lb || adv.Announces(seamarkv1alpha1.AddressLoadBalancerIP)
		want.ext = want.ext || adv.Announces(seamarkv1alpha1.AddressExternalIP)
		want.cip = want.cip || adv.Announces(seamarkv1alpha1.AddressClusterIP)
	}
	if !want.lb && !want.ext && !want.cip {
		return a
	}
	endpoints := indexEndpoints(in.EndpointSlices, in.Node.Name)

	// announce records addr of type t for every advertisement that
	// selects it and whose endpoint rule lets this node announce it.
	announce := func(t seamarkv1alpha1.AddressType, addr netip.Addr, pool *config.Pool, svcLabels labels.Set, eps endpointState, local bool) {
		for i, adv := range a.advs {
			if !adv.Announces(t) || !eps.usable(local, adv.WithdrawWhenNoEndpoints) || !adv.Selects(pool, svcLabels, nodeLabels) {
				continue
			}
			bits := addr.BitLen()
			if t == seamarkv1alpha1.AddressLoadBalancerIP {
				bits = adv.AggregationLengthV6
				if addr.Is4() {
					bits = adv.AggregationLength
				}
			}
			p, err := addr.Prefix(bits)
			if err != nil {
				continue // config bounds the lengths; cannot happen
			}
			a.add(p, i)
		}
	}

	for i := range in.Services {
		svc := &in.Services[i]
		svcLabels := labels.Set(svc.Labels)
		eps := endpoints[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}]
		extLocal := svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
		if want.lb && config.Handles(svc, in.DefaultClass) {
			for _, ing := range svc.Status.LoadBalancer.Ingress {
				if addr, ok := ParseAddr(ing.IP); ok {
					announce(seamarkv1alpha1.AddressLoadBalancerIP, addr, cfg.PoolOf(addr), svcLabels, eps, extLocal)
				}
			}
		}
		if want.ext {
			for _, s := range svc.Spec.ExternalIPs {
				if addr, ok := ParseAddr(s); ok {
					announce(seamarkv1alpha1.AddressExternalIP, addr, cfg.PoolOf(addr), svcLabels, eps, extLocal)
				}
			}
		}
		if want.cip && svc.Spec.Type != corev1.ServiceTypeExternalName {
			intLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
			ips := svc.Spec.ClusterIPs
			if len(ips) == 0 && svc.Spec.ClusterIP != "" {
				ips = []string{svc.Spec.ClusterIP}
			}
			for _, s := range ips {
				if addr, ok := ParseAddr(s); ok { // "None" does not parse
					announce(seamarkv1alpha1.AddressClusterIP, addr, nil, svcLabels, eps, intLocal)
				}
			}
		}
	}
	return a
}

// ParseAddr parses an address as the plan reads the addresses of
// Services: no zone, not unspecified, IPv4-mapped IPv6 as IPv4.
func ParseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Unmap().IsUnspecified() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// pathAttrs are the attributes of paths announced by one set of
// advertisements to one peer; nil when none of them announces to the peer.
// The slices are shared by every path with the same set and never modified.
type pathAttrs struct {
	communities []uint32
	large       []LargeCommunity
	localPref   uint32
}

// pathsFor returns the sorted paths for peer.
func (a *announcements) pathsFor(peer *config.Peer) []Path {
	v4 := peer.Address.Is4()
	cache := make([]*pathAttrs, len(a.sets.members))
	done := make([]bool, len(a.sets.members))
	paths := make([]Path, 0, len(a.prefixes))
	for prefix, set := range a.prefixes {
		if prefix.Addr().Is4() != v4 {
			continue
		}
		if !done[set] {
			cache[set], done[set] = a.attrs(a.sets.members[set], peer), true
		}
		at := cache[set]
		if at == nil {
			continue
		}
		paths = append(paths, Path{Prefix: prefix, Communities: at.communities, LargeCommunities: at.large, LocalPref: at.localPref})
	}
	slices.SortFunc(paths, func(x, y Path) int { return comparePrefix(x.Prefix, y.Prefix) })
	if len(paths) == 0 {
		return nil
	}
	return paths
}

// attrs merges the attributes of the advertisements advs toward peer.
func (a *announcements) attrs(advs []int, peer *config.Peer) *pathAttrs {
	var at *pathAttrs
	for _, i := range advs {
		adv := a.advs[i]
		if !adv.ToPeer(peer.Name) {
			continue
		}
		if at == nil {
			at = &pathAttrs{}
		}
		for _, c := range adv.Communities {
			if c.Large {
				at.large = append(at.large, LargeCommunity{Global: c.Global, Local1: c.Local1, Local2: c.Local2})
			} else {
				at.communities = append(at.communities, c.Value)
			}
		}
		if lp := adv.LocalPreference; lp != nil && peer.IBGP() {
			at.localPref = max(at.localPref, *lp)
		}
	}
	if at == nil {
		return nil
	}
	// Sorted and unique, the form speaker/bgp keeps without copying.
	slices.Sort(at.communities)
	at.communities = slices.Compact(at.communities)
	slices.SortFunc(at.large, compareLarge)
	at.large = slices.Compact(at.large)
	if len(at.communities) == 0 {
		at.communities = nil
	}
	if len(at.large) == 0 {
		at.large = nil
	}
	return at
}

func compareLarge(x, y LargeCommunity) int {
	return cmp.Or(cmp.Compare(x.Global, y.Global), cmp.Compare(x.Local1, y.Local1), cmp.Compare(x.Local2, y.Local2))
}

func comparePrefix(x, y netip.Prefix) int {
	return cmp.Or(x.Addr().Compare(y.Addr()), cmp.Compare(x.Bits(), y.Bits()))
}

// advSets interns sets of advertisement indices, so that each prefix holds
// one int and adding an advertisement to a prefix's set is one map lookup.
// There are few distinct sets (one per combination of advertisements that
// actually occurs), however many prefixes.
type advSets struct {
	members [][]int        // set id → sorted indices; id 0 is the empty set
	byKey   map[string]int // encoded members → set id
	next    map[[2]int]int // (set id, index) → set id of the union
}

func newAdvSets() advSets {
	return advSets{members: [][]int{nil}, byKey: map[string]int{"": 0}, next: map[[2]int]int{}}
}

// with returns the id of set ∪ {adv}.
func (s *advSets) with(set, adv int) int {
	if id, ok := s.next[[2]int{set, adv}]; ok {
		return id
	}
	m := s.members[set]
	id := set
	if i, found := slices.BinarySearch(m, adv); !found {
		m = slices.Insert(slices.Clone(m), i, adv)
		var b strings.Builder
		for _, v := range m {
			b.WriteString(strconv.Itoa(v))
			b.WriteByte(',')
		}
		key := b.String()
		var ok bool
		if id, ok = s.byKey[key]; !ok {
			id = len(s.members)
			s.members = append(s.members, m)
			s.byKey[key] = id
		}
	}
	s.next[[2]int{set, adv}] = id
	return id
}
