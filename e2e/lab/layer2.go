package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// Layer 2 in the lab. The nodes' fabric is one layer 2 segment (the bridge
// in sm-fabric) with sm-l2client on it, so the lab has a pool inside the
// fabric's subnets, answered for over ARP and NDP by one elected node per
// address: L2PoolName, selected by the L2Advertisement L2AdvertisementName.
// A Service takes its address from that pool with the annotation
// seamark.io/pool: lab-l2 (the pool does not auto-assign). The default
// BGPAdvertisement selects every pool, so these addresses are also
// announced to the router: both advertisements apply.
const (
	L2PoolName          = "lab-l2"
	L2AdvertisementName = "lab-l2"
	// L2PoolLabel marks the layer 2 pool for the L2Advertisement's
	// ipPoolSelector.
	L2PoolLabel = "lab.seamark.io/layer2"
	// MemberlistSecretName is the speakers' default --memberlist-secret.
	MemberlistSecretName = "seamark-memberlist"
	// MemberlistKey is the lab's gossip key (the Secret's "key"). It is
	// a secret to the speakers: no log or Event may show it.
	MemberlistKey = "sm-lab-gossip-4f1c9d27e0b8a6"
	// GossipPort is the memberlist port of every speaker.
	GossipPort = 7946
)

// L2PoolCIDRs are the layer 2 pool's ranges: the top of the fabric's
// subnets (the router is .1, nodes .11 and up, sm-l2client .100).
var L2PoolCIDRs = []seamarkv1alpha1.CIDROrRange{"198.18.1.192/26", "2001:db8:18:1::c0/122"}

// L2Annotations make a Service take its address from the layer 2 pool.
func L2Annotations() map[string]string {
	return map[string]string{seamarkv1alpha1.AnnotationPool: L2PoolName}
}

// layer2Defaults are the objects ApplyDefaults adds for layer 2: the
// gossip Secret (the chart creates one), the pool and the advertisement.
func layer2Defaults() []client.Object {
	off := false
	return []client.Object{
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: SeamarkNamespace, Name: MemberlistSecretName},
			Data:       map[string][]byte{"key": []byte(MemberlistKey)},
		},
		&seamarkv1alpha1.IPPool{
			ObjectMeta: metav1.ObjectMeta{Name: L2PoolName, Labels: map[string]string{L2PoolLabel: "true"}},
			Spec:       seamarkv1alpha1.IPPoolSpec{CIDRs: L2PoolCIDRs, AutoAssign: &off},
		},
		&seamarkv1alpha1.L2Advertisement{
			ObjectMeta: metav1.ObjectMeta{Name: L2AdvertisementName},
			Spec: seamarkv1alpha1.L2AdvertisementSpec{
				IPPoolSelector: &metav1.LabelSelector{MatchLabels: map[string]string{L2PoolLabel: "true"}},
			},
		},
	}
}

var (
	macMu    sync.Mutex
	macCache = map[string]string{}
)

// FabricMAC is node n's MAC address on the fabric: the one a layer 2
// client resolves the node's addresses, and the addresses it owns, to.
func FabricMAC(n Node) (net.HardwareAddr, error) {
	macMu.Lock()
	defer macMu.Unlock()
	if s, ok := macCache[n.Netns]; ok {
		return net.ParseMAC(s)
	}
	out, err := NetnsExec(n.Netns, "cat", "/sys/class/net/fabric/address")
	if err != nil {
		return nil, err
	}
	mac, err := net.ParseMAC(strings.TrimSpace(string(out)))
	if err != nil {
		return nil, fmt.Errorf("%s's fabric address: %w", n.Name, err)
	}
	macCache[n.Netns] = mac.String()
	return mac, nil
}

// NodeByMAC returns the lab node whose fabric link has mac.
func (l *Lab) NodeByMAC(mac string) (Node, bool) {
	for _, n := range l.NodeList {
		if m, err := FabricMAC(n); err == nil && strings.EqualFold(m.String(), mac) {
			return n, true
		}
	}
	return Node{}, false
}

// ARPingAll sends count ARP requests for addr from sm-l2client, one a
// second, and returns every distinct MAC address that answered, in the
// order first seen: exactly one when one node owns the address.
func ARPingAll(addr netip.Addr, count int) ([]string, error) {
	out, err := NetnsExec(NetnsL2Client, "arping", "-c", fmt.Sprint(count), "-w", fmt.Sprint(count+1), "-I", l2ClientDevice, addr.String())
	macs := distinct(arpingReply.FindAllStringSubmatch(string(out), -1), 2)
	if len(macs) == 0 {
		if err == nil {
			err = errors.New("arping exited 0")
		}
		return nil, fmt.Errorf("no ARP reply for %s on %s's %s: %w: %s", addr, NetnsL2Client, l2ClientDevice, err, strings.TrimSpace(string(out)))
	}
	return macs, nil
}

// NDiscAll sends two Neighbor Solicitations for addr from sm-l2client's
// link-local address to addr's solicited-node group and collects every
// Neighbor Advertisement for addr within a second, returning the distinct
// target link-layer addresses in the order first seen. (ndisc6 accepts
// only advertisements sent from the target address itself, which a
// layer 2 speaker, sending from its link-local address as routers do,
// never is; the kernel accepts both.)
func NDiscAll(addr netip.Addr) ([]string, error) {
	var c *ndp.Conn
	var ifi *net.Interface
	err := inNetns(NetnsL2Client, func() error {
		var err error
		if ifi, err = net.InterfaceByName(l2ClientDevice); err != nil {
			return err
		}
		c, _, err = ndp.Listen(ifi, ndp.LinkLocal)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("opening an NDP socket in %s: %w", NetnsL2Client, err)
	}
	defer func() { _ = c.Close() }()
	group, err := ndp.SolicitedNodeMulticast(addr)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: addr,
		Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}}}
	var macs []string
	seen := map[string]bool{}
	for range 2 {
		if err := c.WriteTo(ns, nil, group); err != nil {
			return nil, fmt.Errorf("sending a Neighbor Solicitation for %s: %w", addr, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			m, cm, _, err := c.ReadFrom()
			if err != nil {
				break // the deadline
			}
			na, ok := m.(*ndp.NeighborAdvertisement)
			if !ok || na.TargetAddress != addr || (cm != nil && cm.HopLimit != 255) {
				continue
			}
			for _, o := range na.Options {
				if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target && !seen[lla.Addr.String()] {
					seen[lla.Addr.String()] = true
					macs = append(macs, lla.Addr.String())
				}
			}
		}
	}
	if len(macs) == 0 {
		return nil, fmt.Errorf("no Neighbor Advertisement for %s on %s's %s", addr, NetnsL2Client, l2ClientDevice)
	}
	return macs, nil
}

// inNetns runs fn on a thread in network namespace ns: the sockets fn
// opens stay there.
func inNetns(ns string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer func() { _ = orig.Close() }()
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", ns, err)
	}
	defer func() { _ = h.Close() }()
	if err := netns.Set(h); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", ns, err)
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread would go back to the scheduler in the wrong
		// namespace: a broken machine, stop.
		panic(fmt.Sprintf("returning from network namespace %s: %v", ns, err))
	}
	return fnErr
}

func distinct(matches [][]string, group int) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range matches {
		mac := strings.ToLower(m[group])
		if !seen[mac] {
			seen[mac] = true
			out = append(out, mac)
		}
	}
	return out
}

// Neigh is sm-l2client's neighbour entry for addr (NeighChange's fields;
// LLAddr "" and State "" when there is none).
func Neigh(addr netip.Addr) (NeighChange, error) {
	out, err := NetnsExec(NetnsL2Client, "ip", "-j", "neigh", "show", addr.String(), "dev", l2ClientDevice)
	if err != nil {
		return NeighChange{}, err
	}
	var entries []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return NeighChange{}, fmt.Errorf("parsing ip -j neigh: %w: %q", err, out)
	}
	c := NeighChange{Addr: addr, Dev: l2ClientDevice}
	for _, e := range entries {
		if a, err := netip.ParseAddr(e.Dst); err == nil && a == addr {
			c.LLAddr, c.State = strings.ToLower(e.LLAddr), strings.Join(e.State, " ")
		}
	}
	return c, nil
}

// SetNeighStale marks sm-l2client's entry for addr STALE with mac, so
// that the next packet to addr makes the kernel confirm it with a unicast
// probe (ARP request or Neighbor Solicitation to mac) after
// delay_first_probe_time.
func SetNeighStale(addr netip.Addr, mac string) error {
	return ipCmd("-n", NetnsL2Client, "neigh", "replace", addr.String(), "dev", l2ClientDevice, "lladdr", mac, "nud", "stale")
}

// SetL2ClientProbeDelay sets sm-l2client's delay_first_probe_time (both
// families): how long an entry stays in DELAY before the kernel probes.
func SetL2ClientProbeDelay(d time.Duration) error {
	s := fmt.Sprint(max(1, int(d/time.Second)))
	_, err := NetnsExec(NetnsL2Client, "sysctl", "-qw",
		"net.ipv4.neigh."+l2ClientDevice+".delay_first_probe_time="+s,
		"net.ipv6.neigh."+l2ClientDevice+".delay_first_probe_time="+s)
	return err
}

// PokeFromL2Client sends one UDP datagram to addr (port 9, discard) from
// sm-l2client. It makes the kernel use, and so verify, its neighbour entry
// for addr, with no transport confirming it (TCP would): a STALE entry
// goes to DELAY and then to a unicast probe.
func PokeFromL2Client(addr netip.Addr) error {
	return inNetns(NetnsL2Client, func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 9)))
		if err != nil {
			return err
		}
		defer func() { _ = c.Close() }()
		_, err = c.Write([]byte("seamark lab"))
		return err
	})
}

// gossipTable is the nftables table that cuts a node's gossip.
const gossipTable = "sm_partition"

// CutGossip drops every memberlist packet (UDP and TCP port GossipPort)
// into and out of n, leaving ARP, NDP, BGP and Service traffic alone: a
// partition of the speakers' gossip only.
func CutGossip(n Node) error {
	rules := fmt.Sprintf(`table inet %[1]s {
	chain input { type filter hook input priority -300; policy accept; meta l4proto { tcp, udp } th dport %[2]d drop; meta l4proto { tcp, udp } th sport %[2]d drop; }
	chain output { type filter hook output priority -300; policy accept; meta l4proto { tcp, udp } th dport %[2]d drop; meta l4proto { tcp, udp } th sport %[2]d drop; }
}
`, gossipTable, GossipPort)
	cmd := []string{"sh", "-c", "printf '%s' \"$0\" | nft -f -", rules}
	_, err := NetnsExec(n.Netns, cmd...)
	return err
}

// HealGossip removes CutGossip's rules from n.
func HealGossip(n Node) error {
	_, err := NetnsExec(n.Netns, "nft", "delete", "table", "inet", gossipTable)
	return err
}

// L2Owner is the node IPAllocation.status.l2 names for addr ("" when
// none does).
func (l *Lab) L2Owner(ctx context.Context, addr netip.Addr) (string, error) {
	var list seamarkv1alpha1.IPAllocationList
	if err := l.Client.List(ctx, &list); err != nil {
		return "", err
	}
	for _, a := range list.Items {
		if p, err := netip.ParseAddr(string(a.Spec.Address)); err == nil && p == addr && a.Status.L2 != nil {
			return a.Status.L2.Node, nil
		}
	}
	return "", nil
}
