package speaker

import (
	"net/netip"

	"github.com/seamark-io/seamark/plan"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// Input is everything a plan is computed from (see plan.Input).
type Input = plan.Input

// PeerProblem is one BGPPeer setting the plan could not honour on this node.
type PeerProblem = plan.PeerProblem

// Reasons of PeerProblems (see package plan).
const (
	ProblemShadowed     = plan.ProblemShadowed
	ProblemNoRouterID   = plan.ProblemNoRouterID
	ProblemHoldTimeZero = plan.ProblemHoldTimeZero
)

// Plan is what one node announces, in the types of speaker/bgp and
// speaker/layer2: plan.Compute's result, adapted.
type Plan struct {
	// Peers are keyed by BGPPeer name; paths are sorted by prefix. Peers
	// maps directly onto bgp.Speaker.Reconcile.
	Peers map[string]bgp.PeerDesired
	// Problems are peer settings the node cannot use as written, sorted by
	// peer and reason, for the caller to log.
	Problems []PeerProblem
	// L2 are the addresses answered for over ARP/NDP, sorted, each with the
	// nodes every advertisement lets own it; speaker/layer2 elects the
	// owner among those that are live and have an interface for it.
	L2 []layer2.Address
	// L2Enabled: at least one L2Advertisement exists, so the node takes
	// part in layer 2 gossip even while it has nothing to answer for.
	L2Enabled bool
}

// Compute returns the plan for in.Node: plan.Compute (the rules are
// written there), with the sessions as speaker/bgp takes them (paths are
// shared, not copied) and the layer 2 addresses as speaker/layer2 takes
// them.
func Compute(in Input) Plan {
	p := plan.Compute(in)
	out := Plan{Peers: make(map[string]bgp.PeerDesired, len(p.Peers)), Problems: p.Problems, L2Enabled: p.L2Enabled}
	for name, s := range p.Peers {
		out.Peers[name] = bgp.PeerDesired{Config: peerConfig(s.Config), Paths: s.Paths}
	}
	if p.L2 != nil {
		out.L2 = make([]layer2.Address, len(p.L2))
		for i, a := range p.L2 {
			var rules []layer2.Rule
			for _, r := range a.Rules {
				rules = append(rules, layer2.Rule{Nodes: r.Nodes, Interfaces: r.Interfaces, Refresh: r.Refresh})
			}
			out.L2[i] = layer2.Address{Addr: a.Addr, Key: a.Key, Rules: rules}
		}
	}
	return out
}

func peerConfig(c plan.PeerConfig) bgp.PeerConfig {
	return bgp.PeerConfig{
		Name:             c.Name,
		Address:          c.Address,
		Port:             c.Port,
		ASN:              c.ASN,
		LocalASN:         c.LocalASN,
		RouterID:         c.RouterID,
		HoldTime:         c.HoldTime,
		KeepaliveTime:    c.KeepaliveTime,
		ConnectRetryTime: c.ConnectRetryTime,
		EBGPMultihopTTL:  c.EBGPMultihopTTL,
		MaxPrefixes:      c.MaxPrefixes,
		SourceAddress:    c.SourceAddress,
		Password:         c.Password,
		GracefulRestart:  c.GracefulRestart,
		RestartTime:      c.RestartTime,
		BFD: bgp.BFDConfig{Enabled: c.BFD.Enabled, ReceiveInterval: c.BFD.ReceiveInterval,
			TransmitInterval: c.BFD.TransmitInterval, DetectMultiplier: c.BFD.DetectMultiplier},
	}
}

func parseAddr(s string) (netip.Addr, bool) { return plan.ParseAddr(s) }
