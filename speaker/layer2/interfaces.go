package layer2

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/seamark-io/seamark/plan"
)

// Interface is a local interface that may answer for addresses: up,
// broadcast-capable, and not a loopback, a bond or bridge member, a tunnel
// or a CNI device.
type Interface struct {
	// Name and Index of the interface.
	Name  string
	Index int
	// MAC is its Ethernet address.
	MAC net.HardwareAddr
	// Prefixes are its global unicast addresses with their prefix length.
	Prefixes []netip.Prefix
	// LinkLocal is its IPv6 link-local address, or the zero Addr.
	LinkLocal netip.Addr
}

// link is what candidates reads of one interface (netlink's view, reduced
// to plain values so the rule is a pure function).
type link struct {
	Name       string
	Index      int
	Kind       string // netlink link type: "device", "veth", "bridge", "bond", "vlan", "dummy", ...
	MAC        net.HardwareAddr
	Up         bool // administratively up and the carrier is not down
	Broadcast  bool
	Loopback   bool
	MasterKind string // kind of the master device, "" when not enslaved
	Addrs      []netip.Prefix
}

// notL2 are link kinds that never carry a LoadBalancer address on a
// segment: tunnels and devices without a real neighbour.
var notL2 = []string{"dummy", "vxlan", "geneve", "ipip", "sit", "gre", "ip6gre", "ip6tnl", "tuntap", "tun", "wireguard", "vti", "vti6", "nlmon", "ifb", "bareudp", "ipvlan"}

// cniNames are prefixes of devices that CNI plugins and kube-proxy create.
var cniNames = []string{"cni", "flannel", "cali", "cilium_", "lxc", "kube-ipvs", "kube-bridge", "docker", "weave", "vethwe", "tunl", "genev", "nodelocaldns", "antrea-", "ovn-", "ovs-", "cbr0", "vxlan"}

// candidates returns the interfaces that may answer, sorted by name:
// up, broadcast, Ethernet, not loopback, not enslaved to a bond or bridge
// (the bond or bridge itself answers), not a tunnel or CNI device. A veth
// counts only when it holds a global address: on a real node veths are pod
// plumbing without one, in a nested setup (a lab, a VM host) a veth with
// the node's subnet is the node's uplink.
func candidates(links []link) []Interface {
	var out []Interface
	for _, l := range links {
		if !l.Up || !l.Broadcast || l.Loopback || len(l.MAC) != 6 || l.MasterKind == "bond" || l.MasterKind == "bridge" ||
			slices.Contains(notL2, l.Kind) || slices.ContainsFunc(cniNames, func(p string) bool { return strings.HasPrefix(l.Name, p) }) {
			continue
		}
		ifc := Interface{Name: l.Name, Index: l.Index, MAC: l.MAC}
		for _, p := range l.Addrs {
			switch a := p.Addr(); {
			case a.IsLinkLocalUnicast():
				if a.Is6() && !ifc.LinkLocal.IsValid() {
					ifc.LinkLocal = a.WithZone("")
				}
			case a.IsGlobalUnicast():
				ifc.Prefixes = append(ifc.Prefixes, netip.PrefixFrom(a.WithZone(""), p.Bits()))
			}
		}
		if l.Kind == "veth" && len(ifc.Prefixes) == 0 {
			continue
		}
		slices.SortFunc(ifc.Prefixes, func(x, y netip.Prefix) int {
			return cmp.Or(x.Addr().Compare(y.Addr()), cmp.Compare(x.Bits(), y.Bits()))
		})
		out = append(out, ifc)
	}
	slices.SortFunc(out, func(a, b Interface) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Select returns the interfaces of ifaces that answer for addr:
//   - without patterns, those with a subnet that contains addr (the
//     network and broadcast addresses included: a pool may hand them out);
//   - with patterns (names or path.Match globs), those whose name matches
//     one, with or without an address, e.g. a VLAN sub-interface.
//
// A node with no such interface is not eligible for addr. The rule is
// plan.InterfaceAnswers, which the controller also runs.
func Select(ifaces []Interface, addr netip.Addr, patterns []string) []Interface {
	var out []Interface
	for _, ifc := range ifaces {
		if plan.InterfaceAnswers(ifc.Name, ifc.Prefixes, addr, patterns) {
			out = append(out, ifc)
		}
	}
	return out
}

// Meta is what a node tells the others about itself in its memberlist
// metadata (at most MetaMaxSize bytes).
type Meta struct {
	// Ready: the node takes part in elections (its caches synced, it has
	// joined, its key works). A node that is not ready owns nothing.
	Ready bool
	// Instance is random per speaker process: a "leaving" message names
	// the instance that leaves, so that a restarted speaker (a new
	// instance) is not taken for the one that left.
	Instance uint64
	// Interfaces are its candidate interfaces, so that every node can
	// tell whether it is eligible for an address (Select), and whose MAC a
	// claim comes from.
	Interfaces []Interface
}

// MetaMaxSize is memberlist's limit on node metadata.
const MetaMaxSize = 512

const metaVersion = 1

// errMetaTooLarge: the interfaces do not fit; the encoding keeps those
// that do.
var errMetaTooLarge = errors.New("interfaces do not fit in the memberlist metadata")

// encode returns the binary form: version, flags, instance (8 bytes),
// interface count, then per
// interface name length, name, MAC, prefix count and per prefix its length
// and 4 or 16 address bytes (the length byte's top bit marks IPv6). When the
// interfaces do not fit, the trailing ones are left out and errMetaTooLarge
// is returned with the truncated form.
func (m Meta) encode() ([]byte, error) {
	b := []byte{metaVersion, 0}
	if m.Ready {
		b[1] |= 1
	}
	b = binary.BigEndian.AppendUint64(b, m.Instance)
	b = append(b, 0)
	const count = 10
	var err error
	for _, ifc := range m.Interfaces {
		e := []byte{byte(len(ifc.Name))}
		e = append(e, ifc.Name...)
		e = append(e, ifc.MAC...)
		e = append(e, byte(len(ifc.Prefixes)))
		for _, p := range ifc.Prefixes {
			if p.Addr().Is4() {
				a := p.Addr().As4()
				e = append(append(e, byte(p.Bits())), a[:]...)
			} else {
				a := p.Addr().As16()
				e = append(append(e, byte(p.Bits())|0x80), a[:]...)
			}
		}
		if len(ifc.Name) > 255 || len(ifc.MAC) != 6 || len(ifc.Prefixes) > 255 || len(b)+len(e) > MetaMaxSize || b[count] == 255 {
			err = errMetaTooLarge
			break
		}
		b = append(b, e...)
		b[count]++
	}
	return b, err
}

// decodeMeta parses encode's form; anything else is an error (a node of an
// unknown version is not ready, so it owns nothing in our view).
func decodeMeta(b []byte) (Meta, error) {
	if len(b) < 11 || b[0] != metaVersion {
		return Meta{}, fmt.Errorf("unknown metadata (%d bytes)", len(b))
	}
	m := Meta{Ready: b[1]&1 != 0, Instance: binary.BigEndian.Uint64(b[2:10])}
	n := int(b[10])
	b = b[11:]
	take := func(k int) ([]byte, error) {
		if len(b) < k {
			return nil, errors.New("truncated metadata")
		}
		v := b[:k]
		b = b[k:]
		return v, nil
	}
	for range n {
		l, err := take(1)
		if err != nil {
			return Meta{}, err
		}
		name, err := take(int(l[0]))
		if err != nil {
			return Meta{}, err
		}
		mac, err := take(6)
		if err != nil {
			return Meta{}, err
		}
		np, err := take(1)
		if err != nil {
			return Meta{}, err
		}
		ifc := Interface{Name: string(name), MAC: slices.Clone(net.HardwareAddr(mac))}
		for range int(np[0]) {
			bits, err := take(1)
			if err != nil {
				return Meta{}, err
			}
			size, max := 4, 32
			if bits[0]&0x80 != 0 {
				size, max = 16, 128
			}
			raw, err := take(size)
			if err != nil {
				return Meta{}, err
			}
			a, _ := netip.AddrFromSlice(raw)
			l := int(bits[0] & 0x7f)
			if l > max {
				return Meta{}, fmt.Errorf("prefix length %d", l)
			}
			ifc.Prefixes = append(ifc.Prefixes, netip.PrefixFrom(a, l))
		}
		m.Interfaces = append(m.Interfaces, ifc)
	}
	if len(b) != 0 {
		return Meta{}, errors.New("trailing bytes in metadata")
	}
	return m, nil
}
