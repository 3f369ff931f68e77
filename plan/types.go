package plan

import (
	"net/netip"
	"path"
	"slices"
	"time"
)

// Session is the desired state of one BGP session of a node: its settings
// and the exact set of paths announced on it.
type Session struct {
	// Config is the session's settings.
	Config PeerConfig
	// Paths are sorted by prefix; a prefix appears once.
	Paths []Path
}

// PeerConfig is everything that defines one BGP session (speaker/bgp's
// PeerConfig, field for field; see there for the defaults of zero values).
type PeerConfig struct {
	Name             string
	Address          netip.Addr
	Port             uint16
	ASN              uint32
	LocalASN         uint32
	RouterID         netip.Addr
	HoldTime         time.Duration
	KeepaliveTime    time.Duration
	ConnectRetryTime time.Duration
	EBGPMultihopTTL  uint8
	MaxPrefixes      uint32
	SourceAddress    netip.Addr
	Password         string
	GracefulRestart  bool
	RestartTime      time.Duration
	BFD              BFDConfig
}

// BFDConfig enables BFD beside a session (speaker/bgp's BFDConfig).
type BFDConfig struct {
	Enabled                           bool
	ReceiveInterval, TransmitInterval time.Duration
	DetectMultiplier                  uint8
}

// LargeCommunity is a BGP large community Global:Local1:Local2 (RFC 8092).
type LargeCommunity struct {
	Global, Local1, Local2 uint32
}

// Path is one prefix to announce to one peer, with its attributes. The next
// hop is always the session's local address.
type Path struct {
	// Prefix is the announced prefix; host bits are ignored.
	Prefix netip.Prefix
	// Communities are standard communities, a:b encoded as a<<16|b (well-known ones included, e.g.
	// 65535:65281 NO_EXPORT). Order and duplicates do not matter.
	Communities []uint32
	// LargeCommunities are large communities. Order and duplicates do not matter.
	LargeCommunities []LargeCommunity
	// LocalPref is the LOCAL_PREF attribute; 0 means unset (GoBGP then sends the default 100, as every
	// iBGP UPDATE must carry one). It is only sent on iBGP sessions and ignored for eBGP peers
	// (RFC 4271 5.1.5).
	LocalPref uint32
}

// L2Address is one layer 2 address with the nodes that may own it
// (speaker/layer2's Address).
type L2Address struct {
	// Addr is the address answered for.
	Addr netip.Addr
	// Key is what the owner is elected by (ElectionKey of its Service).
	Key netip.Addr
	// Rules are the advertisements that select the address; a node is a
	// candidate when one rule lists it and it has an interface for the
	// address under that rule's interface patterns (InterfaceAnswers).
	Rules []L2Rule
}

// L2Rule is one L2Advertisement's say on an address (speaker/layer2's Rule).
type L2Rule struct {
	// Nodes are the names of the nodes the advertisement lets own the
	// address: selected, not excluded and, for the Local traffic policy,
	// with a usable endpoint. Sorted; may be shared between addresses.
	Nodes []string
	// Interfaces are names or globs; nil selects the interfaces whose
	// subnet contains the address.
	Interfaces []string
	// Refresh is the interval of the announcements after the first three;
	// 0 turns them off.
	Refresh time.Duration
}

// Lists reports whether the rule lets node own the address.
func (r L2Rule) Lists(node string) bool {
	_, ok := slices.BinarySearch(r.Nodes, node)
	return ok
}

// ElectionKey returns the key addresses of one Service are elected by: its
// lowest IPv4 address, so that the families of a dual-stack Service land on
// one node, else its lowest address. The zero Addr when addrs is empty.
func ElectionKey(addrs []netip.Addr) netip.Addr {
	var key netip.Addr
	for _, a := range addrs {
		switch {
		case !key.IsValid():
			key = a
		case a.Is4() && !key.Is4():
			key = a
		case a.Is4() == key.Is4() && a.Less(key):
			key = a
		}
	}
	return key
}

// InterfaceAnswers reports whether an interface named name with the
// subnets prefixes answers for addr under an advertisement's interface
// patterns:
//   - without patterns, when one of its subnets contains addr (the
//     network and broadcast addresses included: a pool may hand them out);
//   - with patterns (names or path.Match globs), when its name matches
//     one, with or without an address, e.g. a VLAN sub-interface.
func InterfaceAnswers(name string, prefixes []netip.Prefix, addr netip.Addr, patterns []string) bool {
	if len(patterns) > 0 {
		return slices.ContainsFunc(patterns, func(p string) bool { ok, _ := path.Match(p, name); return ok })
	}
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Masked().Contains(addr) })
}
