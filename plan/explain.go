package plan

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
)

// Why says why a node neither announces an address over BGP nor may own it
// over layer 2. The values are the phrases kubectl-seamark prints.
type Why string

// Why a node's plan leaves an address out (Explain), in the order Compute
// applies its rules, then why a planned node does not announce it after all
// (Assess).
const (
	// WhyAdvertisementSelectors: no BGPAdvertisement of LoadBalancerIP and
	// no L2Advertisement selects the address by its pool (ipPoolSelector)
	// and its Service's labels (serviceSelector).
	WhyAdvertisementSelectors Why = "advertisement selectors: no advertisement selects the address's pool and Service"
	// WhyExcluded: the node carries the exclusion label.
	WhyExcluded Why = "exclusion label: the node is labelled " + seamarkv1alpha1.LabelExcludeFromExternalLB
	// WhyOutOfService: the node carries the out-of-service taint.
	WhyOutOfService Why = "out-of-service taint: the node is tainted " + seamarkv1alpha1.TaintOutOfService
	// WhyNodeSelector: advertisements select the address, but none of them
	// selects this node.
	WhyNodeSelector Why = "node selector: no advertisement that selects the address selects this node"
	// WhyNoEndpoints: the Service has no usable endpoint anywhere and the
	// advertisements withdraw without endpoints.
	WhyNoEndpoints Why = "no endpoint: the Service has no ready endpoint anywhere (withdrawWhenNoEndpoints)"
	// WhyNoLocalEndpoint: externalTrafficPolicy Local, and no usable
	// endpoint of the Service runs on this node.
	WhyNoLocalEndpoint Why = "no local endpoint (externalTrafficPolicy Local)"
	// WhyNoPeer: a BGPAdvertisement lets the node announce the address, but
	// none of the node's BGPPeers takes it (the peers' nodeSelector, the
	// advertisement's peers, the address family).
	WhyNoPeer Why = "no BGP peer: none of this node's BGPPeers takes the address (peer nodeSelector, advertisement peers, address family)"

	// WhySpeakerNotReady: the node's SpeakerStatus is missing or not Ready.
	WhySpeakerNotReady Why = "speaker not ready"
	// WhyNoInterface: layer 2 would let the node own the address, but it
	// has no interface for it.
	WhyNoInterface Why = "no interface: no interface of this node answers for the address (subnet, or the L2Advertisement's interfaces)"
	// WhyPeersDown: the plan announces the address, but no session to the
	// peers it goes to is established.
	WhyPeersDown Why = "peer session down"
)

// Reason maps a node's Why onto the reason of the seamark.io/Announced
// condition; endpointsAnywhere tells NoLocalEndpoints from NoEndpoints.
func (w Why) Reason(endpointsAnywhere bool) string {
	switch w {
	case "":
		return seamarkv1alpha1.ReasonAnnounced
	case WhyAdvertisementSelectors:
		return seamarkv1alpha1.ReasonNoAdvertisement
	case WhyNoEndpoints:
		return seamarkv1alpha1.ReasonNoEndpoints
	case WhyNoLocalEndpoint:
		if !endpointsAnywhere {
			return seamarkv1alpha1.ReasonNoEndpoints
		}
		return seamarkv1alpha1.ReasonNoLocalEndpoints
	case WhySpeakerNotReady:
		return seamarkv1alpha1.ReasonSpeakersNotReady
	case WhyNoInterface:
		return seamarkv1alpha1.ReasonNoInterface
	case WhyPeersDown:
		return seamarkv1alpha1.ReasonPeersDown
	}
	return seamarkv1alpha1.ReasonNoEligibleNode
}

// reasonRank orders the reasons from the least to the furthest stage.
var reasonRank = map[string]int{
	seamarkv1alpha1.ReasonNoAdvertisement:  0,
	seamarkv1alpha1.ReasonNoEligibleNode:   1,
	seamarkv1alpha1.ReasonNoEndpoints:      2,
	seamarkv1alpha1.ReasonNoLocalEndpoints: 3,
	seamarkv1alpha1.ReasonSpeakersNotReady: 4,
	seamarkv1alpha1.ReasonNoInterface:      5,
	seamarkv1alpha1.ReasonPeersDown:        6,
	seamarkv1alpha1.ReasonAnnounced:        7,
}

// ServicePlan is what every node's plan does with the addresses of one
// Service.
type ServicePlan struct {
	// Addresses are the addresses the Service shows, sorted.
	Addresses []AddressPlan
	// EndpointsAnywhere: the Service has a usable endpoint on some node
	// (ready, or serving-terminating when none is ready).
	EndpointsAnywhere bool
	// Local: externalTrafficPolicy Local.
	Local bool
}

// AddressPlan is what every node's plan does with one address.
type AddressPlan struct {
	Addr netip.Addr
	// Pool is the name of the pool the address is in, "" if none.
	Pool string
	// Nodes are every node, by name.
	Nodes []NodeAddress
}

// NodeAddress is what one node's plan does with one address.
type NodeAddress struct {
	Node string
	// Peers are the BGPPeers the node's plan announces the address to,
	// sorted (whatever the state of their sessions).
	Peers []string
	// L2 are the rules under which the node may own the address over layer
	// 2 (whatever its interfaces); nil when no rule lists it.
	L2 []L2Rule
	// Why is set when Peers and L2 are both empty.
	Why Why
}

// Explain runs Compute for every node of in.Nodes with svc as the only
// Service and reads what each plan does with each address svc shows:
// the peers it goes to, whether layer 2 lets the node own it, or why
// neither. The verdict is Compute's; Why names the first rule of Compute's
// (docs/architecture.md, "Announcing addresses") the node fails. in.Node
// and in.Services are ignored; in.EndpointSlices need hold only svc's.
// svc must be one of seamark's (config.Handles).
//
// It is O(N·(A + P) + N·A₂·N) for N nodes, A BGP advertisements, P peers
// and A₂ L2Advertisements.
func Explain(in Input, svc *corev1.Service) ServicePlan {
	out := ServicePlan{Local: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal}
	var addrs []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if a, ok := ParseAddr(ing.IP); ok {
			addrs = append(addrs, a)
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	eps := indexEndpointsAllNodes(in.EndpointSlices)[key]
	out.EndpointsAnywhere = eps.on("").usable(false, true)
	if in.Config == nil || len(addrs) == 0 {
		return out
	}
	// The Service's own addresses only: no ServiceCIDR range.
	cfg := *in.Config
	cfg.ServiceCIDRs = nil
	base := Input{Config: &cfg, Services: []corev1.Service{*svc}, EndpointSlices: in.EndpointSlices, DefaultClass: in.DefaultClass}

	nodes := slices.Clone(in.Nodes)
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	var l2 []L2Address
	if len(cfg.L2Advertisements) > 0 {
		l2in := base
		l2in.Node, l2in.Nodes = &corev1.Node{}, nodes
		l2 = Compute(l2in).L2
	}
	plans := make([]Plan, len(nodes))
	for i := range nodes {
		nin := base
		nin.Node = &nodes[i]
		plans[i] = Compute(nin)
	}
	svcLabels := labels.Set(svc.Labels)
	for _, addr := range addrs {
		pool := cfg.PoolOf(addr)
		ap := AddressPlan{Addr: addr}
		if pool != nil {
			ap.Pool = pool.Name
		}
		var l2a *L2Address
		if i, ok := slices.BinarySearchFunc(l2, addr, func(x L2Address, a netip.Addr) int { return x.Addr.Compare(a) }); ok {
			l2a = &l2[i]
		}
		for i := range nodes {
			n := &nodes[i]
			na := NodeAddress{Node: n.Name}
			for name, s := range plans[i].Peers {
				if slices.ContainsFunc(s.Paths, func(p Path) bool { return p.Prefix.Contains(addr) }) {
					na.Peers = append(na.Peers, name)
				}
			}
			slices.Sort(na.Peers)
			if l2a != nil {
				for _, r := range l2a.Rules {
					if r.Lists(n.Name) {
						na.L2 = append(na.L2, r)
					}
				}
			}
			if len(na.Peers) == 0 && len(na.L2) == 0 {
				na.Why = why(&cfg, n, addr, pool, svcLabels, eps.on(n.Name), out.Local)
			}
			ap.Nodes = append(ap.Nodes, na)
		}
		out.Addresses = append(out.Addresses, ap)
	}
	return out
}

// why names the first of Compute's rules that keeps node from announcing
// addr, given that its plan neither announces it nor lists it for layer 2.
func why(cfg *config.Config, n *corev1.Node, addr netip.Addr, pool *config.Pool, svcLabels labels.Set, eps endpointState, local bool) Why {
	type adv struct {
		bgp      bool
		withdraw bool
		node     bool
	}
	var advs []adv
	for _, a := range cfg.BGPAdvertisements {
		if a.Announces(seamarkv1alpha1.AddressLoadBalancerIP) && a.SelectsAddress(pool, svcLabels) {
			advs = append(advs, adv{true, a.WithdrawWhenNoEndpoints, a.SelectsNode(labels.Set(n.Labels))})
		}
	}
	for _, a := range cfg.L2Advertisements {
		if a.SelectsAddress(pool, svcLabels) {
			advs = append(advs, adv{false, a.WithdrawWhenNoEndpoints, a.SelectsNode(labels.Set(n.Labels))})
		}
	}
	switch {
	case len(advs) == 0:
		return WhyAdvertisementSelectors
	case hasLabel(n):
		return WhyExcluded
	case !nodeEligible(n):
		return WhyOutOfService
	}
	advs = slices.DeleteFunc(advs, func(a adv) bool { return !a.node })
	if len(advs) == 0 {
		return WhyNodeSelector
	}
	advs = slices.DeleteFunc(advs, func(a adv) bool { return !eps.usable(local, a.withdraw) })
	switch {
	case len(advs) == 0 && local:
		return WhyNoLocalEndpoint
	case len(advs) == 0:
		return WhyNoEndpoints
	}
	return WhyNoPeer
}

func hasLabel(n *corev1.Node) bool {
	_, ok := n.Labels[seamarkv1alpha1.LabelExcludeFromExternalLB]
	return ok
}

// NodeOutcome is what one node does with one address, given what its
// speaker reports.
type NodeOutcome struct {
	Node string
	// Announcing are the peers the node announces the address to over an
	// established session.
	Announcing []string
	// Down are the peers the plan announces it to whose session is not
	// established.
	Down []string
	// MayOwn: layer 2 lets the node own the address, its speaker is Ready
	// and has an interface for it (the election among such nodes picks
	// the owner; IPAllocation.status.l2 records it).
	MayOwn bool
	// Interfaces are the node's interfaces that would answer, when MayOwn.
	Interfaces []string
	// Why is set when the node neither announces nor may own the address.
	Why Why
}

// Assess turns an address's plan into outcomes, given the SpeakerStatus of
// every node (by name; a missing one is a speaker that is not ready), and
// returns the address's reason: Announced when some node announces it or
// may own it, else the furthest stage any node reached.
func Assess(ap AddressPlan, speakers map[string]*seamarkv1alpha1.SpeakerStatus, endpointsAnywhere bool) ([]NodeOutcome, string) {
	out := make([]NodeOutcome, 0, len(ap.Nodes))
	reason := ""
	for _, na := range ap.Nodes {
		o := NodeOutcome{Node: na.Node, Why: na.Why}
		if o.Why == "" {
			assessNode(&o, na, ap.Addr, speakers[na.Node])
		}
		if r := o.Why.Reason(endpointsAnywhere); reason == "" || reasonRank[r] > reasonRank[reason] {
			reason = r
		}
		out = append(out, o)
	}
	if reason == "" {
		reason = seamarkv1alpha1.ReasonNoEligibleNode
	}
	return out, reason
}

func assessNode(o *NodeOutcome, na NodeAddress, addr netip.Addr, st *seamarkv1alpha1.SpeakerStatus) {
	if st == nil || !meta.IsStatusConditionTrue(st.Status.Conditions, seamarkv1alpha1.ConditionReady) {
		o.Why = WhySpeakerNotReady
		return
	}
	for _, p := range na.Peers {
		i := slices.IndexFunc(st.Status.Peers, func(s seamarkv1alpha1.PeerSessionStatus) bool { return s.Name == p })
		if i >= 0 && st.Status.Peers[i].State == "Established" {
			o.Announcing = append(o.Announcing, p)
		} else {
			o.Down = append(o.Down, p)
		}
	}
	if l := st.Status.Layer2; l != nil {
		for _, c := range l.Candidates {
			var prefixes []netip.Prefix
			for _, s := range c.Prefixes {
				if p, err := netip.ParsePrefix(s); err == nil {
					prefixes = append(prefixes, p)
				}
			}
			if slices.ContainsFunc(na.L2, func(r L2Rule) bool { return InterfaceAnswers(c.Name, prefixes, addr, r.Interfaces) }) {
				o.MayOwn = true
				o.Interfaces = append(o.Interfaces, c.Name)
			}
		}
	}
	switch {
	case len(o.Announcing) > 0 || o.MayOwn:
	case len(na.Peers) > 0:
		o.Why = WhyPeersDown
	default:
		o.Why = WhyNoInterface
	}
}

// ServiceReason is the reason of a Service's seamark.io/Announced
// condition: Announced when every address is, else the reason of the
// address that got least far. A Service without addresses has none ("").
func ServiceReason(sp ServicePlan, speakers map[string]*seamarkv1alpha1.SpeakerStatus) string {
	reason := ""
	for _, ap := range sp.Addresses {
		_, r := Assess(ap, speakers, sp.EndpointsAnywhere)
		if reason == "" || reasonRank[r] < reasonRank[reason] {
			reason = r
		}
	}
	return reason
}

// AnnouncedMessage is the message of the seamark.io/Announced condition
// for reason: a fixed sentence per reason, without node names or counts,
// so that the condition changes only with its reason.
func AnnouncedMessage(reason string) string {
	switch reason {
	case seamarkv1alpha1.ReasonAnnounced:
		return "Every address of the Service is announced by at least one node"
	case seamarkv1alpha1.ReasonNoAdvertisement:
		return "No BGPAdvertisement of LoadBalancerIP or L2Advertisement selects the address's pool and this Service; add or fix an advertisement's ipPoolSelector or serviceSelector"
	case seamarkv1alpha1.ReasonNoEligibleNode:
		return "No node may announce the address: the advertisements' nodeSelector selects none, the nodes are excluded (label) or out of service (taint), or no BGPPeer of theirs takes it; kubectl seamark explain names each node's reason"
	case seamarkv1alpha1.ReasonNoEndpoints:
		return "The Service has no ready endpoint, and its advertisements withdraw the address without one (withdrawWhenNoEndpoints, or externalTrafficPolicy Local)"
	case seamarkv1alpha1.ReasonNoLocalEndpoints:
		return "externalTrafficPolicy is Local and no node that may announce the address runs a ready endpoint of the Service"
	case seamarkv1alpha1.ReasonSpeakersNotReady:
		return "The speakers of the nodes that would announce the address are not Ready (see kubectl get speakerstatus)"
	case seamarkv1alpha1.ReasonNoInterface:
		return "The nodes that may own the address over layer 2 have no interface for it: no interface's subnet contains it, or the L2Advertisement's interfaces match none"
	case seamarkv1alpha1.ReasonPeersDown:
		return "The nodes that would announce the address have no established BGP session to the peers it goes to (see kubectl get speakerstatus)"
	}
	return ""
}
