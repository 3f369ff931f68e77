package lab

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// Prefix is the prefix of every network namespace and root-namespace link
// the lab creates; teardown removes everything that carries it.
const Prefix = "sm-"

// Namespaces of the topology (e2e/README.md). The two bridges live in namespaces of
// their own rather than in the root namespace, where br_netfilter would hand
// bridged frames to the host's firewall.
const (
	NetnsMgmt   = "sm-mgmt"   // management bridge: root ns, control plane, nodes
	NetnsFabric = "sm-fabric" // fabric bridge: router and nodes
	NetnsCP     = "sm-cp"     // etcd, kube-apiserver, kube-controller-manager
	NetnsRouter = "sm-router" // FRR
	NetnsClient = "sm-client" // traffic source behind the router
	RootLink    = "sm-mgmt0"  // the root namespace's port on the management bridge
)

// Addresses of the topology: fabric, management and client networks in
// 198.18.0.0/15 and 2001:db8::/32 (e2e/README.md, "Addresses").
var (
	RootMgmtAddr     = netip.MustParseAddr("198.18.0.1")
	APIServerAddr    = netip.MustParseAddr("198.18.0.2")
	RouterFabricAddr = netip.MustParseAddr("198.18.1.1")
	RouterFabricV6   = netip.MustParseAddr("2001:db8:18:1::1")
	RouterClientAddr = netip.MustParseAddr("198.18.2.1")
	RouterClientV6   = netip.MustParseAddr("2001:db8:18:2::1")
	ClientAddr       = netip.MustParseAddr("198.18.2.2")
	ClientV6         = netip.MustParseAddr("2001:db8:18:2::2")
)

// ClusterCIDRs are the pod networks of the lab, one per family (kube-proxy's
// clusterCIDR): node i's pods get 198.18.(64+i).0/24 and
// 2001:db8:64:i::/64.
var ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.64.0/18"), netip.MustParsePrefix("2001:db8:64::/48")}

// MaxNodes is the number of nodes whose pod /24 fits in ClusterCIDRs[0].
const MaxNodes = 63

// Node is one lab node: a network namespace with a speaker, kube-proxy, the
// veths of its pods and a Node object.
type Node struct {
	// Name is the Node object's name (sm1, sm2, ...).
	Name string
	// Netns is its network namespace (sm-node1, ...).
	Netns string
	// Addr and AddrV6 are its fabric addresses (InternalIP).
	Addr, AddrV6 netip.Addr
	// Mgmt is its address on the management bridge.
	Mgmt netip.Addr
	// PodCIDR and PodCIDRV6 are its spec.podCIDRs.
	PodCIDR, PodCIDRV6 netip.Prefix
}

// NodeAt describes node i (1-based, at most MaxNodes).
func NodeAt(i int) Node {
	return Node{
		Name:      fmt.Sprintf("sm%d", i),
		Netns:     fmt.Sprintf("sm-node%d", i),
		Addr:      netip.AddrFrom4([4]byte{198, 18, 1, byte(10 + i)}),
		AddrV6:    netip.MustParseAddr(fmt.Sprintf("2001:db8:18:1::%x", 0x10+i)),
		Mgmt:      netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}),
		PodCIDR:   netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(64 + i), 0}), 24),
		PodCIDRV6: netip.MustParsePrefix(fmt.Sprintf("2001:db8:64:%x::/64", i)),
	}
}

// ipCmd runs `ip args...`.
func ipCmd(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// ipBatch runs a list of ip commands in one process (`ip -n ns -batch -`;
// ns "" is the root namespace), to build the topology quickly.
func ipBatch(ns string, lines []string) error {
	var stderr bytes.Buffer
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	cmd := exec.Command("ip", args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the topology: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// NetnsExec runs argv in network namespace ns and returns its standard
// output.
func NetnsExec(ns string, argv ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), ns, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// createTopology builds the namespaces, bridges, links and addresses of
// e2e/README.md for nodes.
func createTopology(nodes []Node) error {
	// Commands are grouped by namespace: consecutive commands for one
	// namespace run in one `ip -n NS -batch -`.
	type step struct{ ns, line string }
	var steps []step
	add := func(ns, format string, a ...any) { steps = append(steps, step{ns, fmt.Sprintf(format, a...)}) }
	all := []string{NetnsMgmt, NetnsFabric, NetnsCP, NetnsRouter, NetnsClient, NetnsL2Client}
	for _, n := range nodes {
		all = append(all, n.Netns)
	}
	for _, ns := range all {
		add("", "netns add %s", ns)
	}
	for _, ns := range []string{NetnsMgmt, NetnsFabric} {
		add(ns, "link add name br0 type bridge")
		add(ns, "link set br0 up")
	}
	// The root namespace's only link: its port on the management bridge.
	add("", "link add %s type veth peer name root netns %s", RootLink, NetnsMgmt)
	add("", "addr add %s/24 dev %s", RootMgmtAddr, RootLink)
	add("", "link set %s up", RootLink)
	add(NetnsMgmt, "link set root master br0 up")
	// port links a new interface dev in ns to the bridge in bridgeNS.
	port := func(bridgeNS, portName, ns, dev string) {
		add(bridgeNS, "link add name %s type veth peer name %s netns %s", portName, dev, ns)
		add(bridgeNS, "link set %s master br0 up", portName)
	}
	port(NetnsMgmt, "cp", NetnsCP, "mgmt")
	for i, n := range nodes {
		port(NetnsMgmt, fmt.Sprintf("node%d", i+1), n.Netns, "mgmt")
	}
	port(NetnsFabric, "router", NetnsRouter, "fabric")
	port(NetnsFabric, "l2client", NetnsL2Client, l2ClientDevice)
	for i, n := range nodes {
		port(NetnsFabric, fmt.Sprintf("node%d", i+1), n.Netns, "fabric")
	}

	add(NetnsCP, "link set lo up")
	add(NetnsCP, "link set mgmt up")
	add(NetnsCP, "addr add %s/24 dev mgmt", APIServerAddr)

	add(NetnsRouter, "link set lo up")
	add(NetnsRouter, "link set fabric up")
	add(NetnsRouter, "addr add %s/24 dev fabric", RouterFabricAddr)
	add(NetnsRouter, "addr add %s/64 dev fabric nodad", RouterFabricV6)
	add(NetnsRouter, "link add client type veth peer name uplink netns %s", NetnsClient)
	add(NetnsRouter, "link set client up")
	add(NetnsRouter, "addr add %s/24 dev client", RouterClientAddr)
	add(NetnsRouter, "addr add %s/64 dev client nodad", RouterClientV6)

	add(NetnsClient, "link set lo up")
	add(NetnsClient, "link set uplink up")
	add(NetnsClient, "addr add %s/24 dev uplink", ClientAddr)
	add(NetnsClient, "addr add %s/64 dev uplink nodad", ClientV6)
	add(NetnsClient, "route add default via %s", RouterClientAddr)
	add(NetnsClient, "route add default via %s", RouterClientV6)

	// The layer 2 client: on the nodes' segment, its default route via
	// the router like a host's.
	add(NetnsL2Client, "link set lo up")
	add(NetnsL2Client, "link set %s up", l2ClientDevice)
	add(NetnsL2Client, "addr add %s/24 dev %s", L2ClientAddr, l2ClientDevice)
	add(NetnsL2Client, "addr add %s/64 dev %s nodad", L2ClientV6, l2ClientDevice)
	add(NetnsL2Client, "route add default via %s", RouterFabricAddr)
	add(NetnsL2Client, "route add default via %s", RouterFabricV6)

	for _, n := range nodes {
		add(n.Netns, "link set lo up")
		add(n.Netns, "link set mgmt up")
		add(n.Netns, "addr add %s/24 dev mgmt", n.Mgmt)
		add(n.Netns, "link set fabric up")
		add(n.Netns, "addr add %s/24 dev fabric", n.Addr)
		add(n.Netns, "addr add %s/64 dev fabric nodad", n.AddrV6)
		// Replies to the client go back through the router.
		add(n.Netns, "route add default via %s", RouterFabricAddr)
		add(n.Netns, "route add default via %s", RouterFabricV6)
		// Other nodes' pods are reached over the fabric (what a CNI's
		// host routes do), from the node's fabric address: that is the
		// address a masqueraded request shows the pod.
		for _, o := range nodes {
			if o.Name != n.Name {
				add(n.Netns, "route add %s via %s src %s", o.PodCIDR, o.Addr, n.Addr)
				add(n.Netns, "route add %s via %s src %s", o.PodCIDRV6, o.AddrV6, n.AddrV6)
			}
		}
	}
	for i := 0; i < len(steps); {
		j := i
		var lines []string
		for ; j < len(steps) && steps[j].ns == steps[i].ns; j++ {
			lines = append(lines, steps[j].line)
		}
		if err := ipBatch(steps[i].ns, lines); err != nil {
			return err
		}
		i = j
	}
	// The router forwards, and hashes flows on ports too (policy 1): with the
	// default L3 hash every request from the one client would take the same
	// next hop and ECMP would be invisible.
	if _, err := NetnsExec(NetnsRouter, "sysctl", "-qw",
		"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1",
	); err != nil {
		return err
	}
	// The nodes forward to their pods and to other nodes' pods. Reverse
	// path filtering is loose: a reply may come back on another link than
	// the one its request's route names (ECMP), and strict mode drops it.
	// Pod veths are created after this and take the defaults: no duplicate
	// address detection, which would hold their addresses tentative.
	for _, n := range nodes {
		if _, err := NetnsExec(n.Netns, "sysctl", "-qw",
			"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
			"net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2",
			"net.ipv6.conf.default.accept_dad=0",
		); err != nil {
			return err
		}
	}
	return nil
}

// listLabNetns lists the network namespaces named with Prefix.
func listLabNetns() []string {
	out, _ := exec.Command("ip", "netns", "list").Output()
	var ns []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], Prefix) {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// listLabLinks lists root-namespace links named with Prefix.
func listLabLinks() []string {
	out, _ := exec.Command("ip", "-o", "link", "show").Output()
	var links []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, Prefix) {
			links = append(links, name)
		}
	}
	return links
}

// netnsPids lists the processes running in namespace ns.
func netnsPids(ns string) []int {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// destroyTopology stops whatever still runs in the lab's namespaces and
// deletes them and the root namespace's lab links. It works from what
// exists, not from a record, so it also cleans up after an interrupted run.
func destroyTopology() error {
	nss := listLabNetns()
	var pids []int
	for _, ns := range nss {
		pids = append(pids, netnsPids(ns)...)
	}
	stopPids(pids, 3*time.Second)
	var errs []string
	// Root-namespace links first: deleting a namespace destroys its end of
	// a veth, and the root end with it, but asynchronously (the kernel's
	// namespace cleanup), so a link listed after the namespace went may be
	// gone by the time it is deleted.
	for _, l := range listLabLinks() {
		if err := ipCmd("link", "del", l); err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, ns := range nss {
		if err := ipCmd("netns", "del", ns); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("tearing down the topology: %s", strings.Join(errs, "; "))
	}
	return nil
}

// SetCable plugs (true) or pulls (false) node n's fabric cable: its port
// on the fabric bridge goes up or down, so the node neither sends nor
// receives on the fabric while its addresses and routes stay (carrier
// loss, not an administrative down).
func SetCable(n Node, plugged bool) error {
	state := "down"
	if plugged {
		state = "up"
	}
	return ipCmd("-n", NetnsFabric, "link", "set", strings.TrimPrefix(n.Netns, Prefix), state)
}
