package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Router ASNs of the lab: the router is AS 64512, the nodes AS 64513
// (eBGP, e2e/README.md).
const (
	RouterASN = 64512
	NodeASN   = 64513
)

// frrBin is where Debian's frr package installs the daemons.
const frrBin = "/usr/lib/frr"

// RouterConfig is what the lab's FRR configuration is made from.
type RouterConfig struct {
	Nodes []Node
	// Passwords holds TCP-MD5 passwords by node name; empty: none.
	Passwords map[string]string
	// GracefulRestart turns on graceful restart on the router (it is
	// always a helper; this also makes it a restarting speaker).
	GracefulRestart bool
	// IPv6 adds the nodes' IPv6 addresses as neighbors (peer group
	// nodes6); SetRouterIPv6 does so at run time. Off by default: without
	// an IPv6 BGPPeer they would only sit in Active.
	IPv6 bool
}

// frrDir is the router's directory: configuration, pid files, vty
// sockets and the zebra API socket.
func (l *Lab) frrDir() string { return l.path("frr", NetnsRouter) }

// bfddConf is bfdd's configuration: the profile the node peer groups use,
// with FRR's default timers (those of BGPPeer.spec.bfd, docs/bfd.md).
const bfddConf = `hostname sm-router
log timestamp precision 3
bfd
 profile seamark
  receive-interval 300
  transmit-interval 300
  detect-multiplier 3
 !
!
`

// StartRouter writes the router's configuration and starts zebra, bfdd and
// bgpd in its namespace, waiting until vtysh answers.
func (l *Lab) StartRouter(rc RouterConfig) error {
	dir := l.frrDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf, err := renderPerNeighbor(rc)
	if err != nil {
		return fmt.Errorf("rendering bgpd.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bgpd.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "zebra.conf"), []byte("hostname sm-router\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bfdd.conf"), []byte(bfddConf), 0o644); err != nil {
		return err
	}
	// The daemons drop privileges to the frr user (Debian's package
	// creates it); root is not in the frrvty group they insist on.
	if err := chownFRR(dir); err != nil {
		return err
	}
	common := func(d string) []string {
		return []string{
			"-u", "frr", "-g", "frr",
			"-f", filepath.Join(dir, d+".conf"),
			"-i", filepath.Join(dir, d+".pid"),
			"-z", filepath.Join(dir, "zserv.api"),
			"--vty_socket", dir,
			"-P", "0", // no TCP vty
			"--log", "file:" + filepath.Join(dir, d+".log"),
		}
	}
	if _, err := l.startProcess("zebra", NetnsRouter, append([]string{filepath.Join(frrBin, "zebra")}, common("zebra")...)...); err != nil {
		return err
	}
	if err := waitFor(10*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "zserv.api")); return err == nil }); err != nil {
		return fmt.Errorf("waiting for zebra (log %s): %w", filepath.Join(dir, "zebra.log"), err)
	}
	// bfdd's control socket, too, under the state directory (its default
	// is /var/run/frr).
	if _, err := l.startProcess("bfdd", NetnsRouter, append([]string{filepath.Join(frrBin, "bfdd"), "--bfdctl", filepath.Join(dir, "bfdd.sock")}, common("bfdd")...)...); err != nil {
		return err
	}
	if err := waitFor(10*time.Second, func() bool { _, err := l.Vtysh("show bfd peers json"); return err == nil }); err != nil {
		return fmt.Errorf("waiting for bfdd (log %s): %w", filepath.Join(dir, "bfdd.log"), err)
	}
	if _, err := l.startProcess("bgpd", NetnsRouter, append([]string{filepath.Join(frrBin, "bgpd")}, common("bgpd")...)...); err != nil {
		return err
	}
	if err := waitFor(10*time.Second, func() bool { _, err := l.Vtysh("show bgp summary json"); return err == nil }); err != nil {
		return fmt.Errorf("waiting for bgpd (log %s): %w", filepath.Join(dir, "bgpd.log"), err)
	}
	return nil
}

// renderPerNeighbor renders bgpd.conf with each password after its
// neighbor.
func renderPerNeighbor(rc RouterConfig) (string, error) {
	var b strings.Builder
	_, _ = fmt.Fprintf(&b, "! Written by seamark's lab.\nhostname sm-router\nlog timestamp precision 3\n!\n")
	_, _ = fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n", RouterASN, RouterFabricAddr)
	b.WriteString(` ! FRR >= 7.4 refuses to exchange eBGP routes without a policy; the lab
 ! has none: it takes whatever the nodes announce.
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
`)
	if rc.GracefulRestart {
		b.WriteString(" bgp graceful-restart\n")
	}
	for _, pg := range []string{"nodes", "nodes6"} {
		_, _ = fmt.Fprintf(&b, " neighbor %s peer-group\n neighbor %s remote-as %d\n neighbor %s timers 3 9\n neighbor %s timers connect 1\n", pg, pg, NodeASN, pg, pg)
		// The speakers dial (they never listen); the router only accepts.
		_, _ = fmt.Fprintf(&b, " neighbor %s passive\n", pg)
		// BFD for every node (docs/bfd.md); a node whose BGPPeer has
		// no BFD leaves its session Down, which FRR does not hold BGP
		// on.
		_, _ = fmt.Fprintf(&b, " neighbor %s bfd\n neighbor %s bfd profile seamark\n", pg, pg)
	}
	for _, n := range rc.Nodes {
		_, _ = fmt.Fprintf(&b, " neighbor %s peer-group nodes\n", n.Addr)
		if rc.IPv6 {
			_, _ = fmt.Fprintf(&b, " neighbor %s peer-group nodes6\n", n.AddrV6)
		}
		if pw := rc.Passwords[n.Name]; pw != "" {
			_, _ = fmt.Fprintf(&b, " neighbor %s password %s\n", n.Addr, pw)
			if rc.IPv6 {
				_, _ = fmt.Fprintf(&b, " neighbor %s password %s\n", n.AddrV6, pw)
			}
		}
	}
	for _, af := range []string{"ipv4", "ipv6"} {
		_, _ = fmt.Fprintf(&b, " address-family %s unicast\n  maximum-paths 8\n  maximum-paths ibgp 8\n  neighbor nodes activate\n  neighbor nodes6 activate\n exit-address-family\n", af)
	}
	b.WriteString("!\n")
	return b.String(), nil
}

// SetRouterIPv6 adds (on) or removes the nodes' IPv6 addresses as
// neighbors of the running router.
func (l *Lab) SetRouterIPv6(on bool) error {
	var lines []string
	for _, n := range l.NodeList {
		if on {
			lines = append(lines, fmt.Sprintf("neighbor %s peer-group nodes6", n.AddrV6))
		} else {
			lines = append(lines, fmt.Sprintf("no neighbor %s", n.AddrV6))
		}
	}
	return l.VtyshConfig(lines...)
}

// StopRouter stops bgpd, bfdd and zebra (SIGTERM; zebra then removes its
// routes from the kernel).
func (l *Lab) StopRouter() {
	_ = l.StopProcess("bgpd", 5*time.Second)
	_ = l.StopProcess("bfdd", 5*time.Second)
	_ = l.StopProcess("zebra", 5*time.Second)
}

// Vtysh runs one vtysh command against the router and returns its output.
func (l *Lab) Vtysh(command string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("vtysh", "--vty_socket", l.frrDir(), "-c", command)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Dir = l.frrDir()
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("vtysh -c %q: %w: %s", command, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return stdout.Bytes(), nil
}

// BGPPath is one path of a prefix in FRR's BGP table.
type BGPPath struct {
	// Peer is the address of the session the path came from.
	Peer string
	// NextHop is the path's next hop.
	NextHop string
	// Communities is FRR's rendering of the standard communities
	// ("64512:100 no-export"); LargeCommunities likewise.
	Communities, LargeCommunities string
	// LocalPref is the path's local preference (0 when absent).
	LocalPref int64
	// Multipath reports that the path is used with the best one (ECMP).
	Multipath, Best bool
	// Stale reports a path kept by graceful restart.
	Stale bool
}

// BGPPaths returns the paths of prefix (e.g. "198.51.100.1/32") in the
// router's BGP table; none when it is not there.
func (l *Lab) BGPPaths(prefix string) ([]BGPPath, error) {
	afi := "ipv4"
	if strings.Contains(prefix, ":") {
		afi = "ipv6"
	}
	out, err := l.Vtysh(fmt.Sprintf("show bgp %s unicast %s json", afi, prefix))
	if err != nil {
		return nil, err
	}
	var raw struct {
		Paths []struct {
			Peer struct {
				PeerID string `json:"peerId"`
			} `json:"peer"`
			Nexthops []struct {
				IP string `json:"ip"`
			} `json:"nexthops"`
			Community *struct {
				String string `json:"string"`
			} `json:"community"`
			LargeCommunity *struct {
				String string `json:"string"`
			} `json:"largeCommunity"`
			LocPrf    int64 `json:"locPrf"`
			Multipath bool  `json:"multipath"`
			Bestpath  *struct {
				OverallWinner bool `json:"overall"`
			} `json:"bestpath"`
			Stale bool `json:"stale"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", out, err)
	}
	var paths []BGPPath
	for _, p := range raw.Paths {
		bp := BGPPath{Peer: p.Peer.PeerID, LocalPref: p.LocPrf, Multipath: p.Multipath, Stale: p.Stale}
		if len(p.Nexthops) > 0 {
			bp.NextHop = p.Nexthops[0].IP
		}
		if p.Community != nil {
			bp.Communities = p.Community.String
		}
		if p.LargeCommunity != nil {
			bp.LargeCommunities = p.LargeCommunity.String
		}
		if p.Bestpath != nil {
			bp.Best = p.Bestpath.OverallWinner
		}
		paths = append(paths, bp)
	}
	return paths, nil
}

// SessionStates returns the state of each BGP neighbor of the router by
// address ("Established", "Active", ...).
func (l *Lab) SessionStates() (map[string]string, error) {
	out, err := l.Vtysh("show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	var raw map[string]struct {
		State string `json:"bgpState"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("parsing neighbors: %w", err)
	}
	st := map[string]string{}
	for addr, n := range raw {
		st[addr] = n.State
	}
	return st, nil
}

// KernelNextHops returns the gateways of the router kernel's route for
// prefix, in the order the kernel lists them; none when there is no route.
func (l *Lab) KernelNextHops(prefix string) ([]string, error) {
	fam := "-4"
	if strings.Contains(prefix, ":") {
		fam = "-6"
	}
	out, err := exec.Command("ip", "-n", NetnsRouter, fam, "-j", "route", "show", "exact", prefix).Output()
	if err != nil {
		return nil, fmt.Errorf("ip route show %s in %s: %w", prefix, NetnsRouter, err)
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", out, err)
	}
	var gws []string
	for _, r := range routes {
		if r.Gateway != "" {
			gws = append(gws, r.Gateway)
		}
		for _, nh := range r.Nexthops {
			gws = append(gws, nh.Gateway)
		}
	}
	return gws, nil
}

// chownFRR gives dir and its files to the frr user.
func chownFRR(dir string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("looking up the frr user (apt-get install frr): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}

func waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// VtyshConfig applies configuration lines to the router's running bgpd
// ("router bgp" context): the lab adds and removes neighbors at run time
// without restarting FRR.
func (l *Lab) VtyshConfig(lines ...string) error {
	return l.vtyshConfigure(fmt.Sprintf("bgpd (%s)", strings.Join(lines, "; ")), append([]string{fmt.Sprintf("router bgp %d", RouterASN)}, lines...))
}

// vtyshConfigure applies configuration lines in "configure terminal";
// what names them in errors.
func (l *Lab) vtyshConfigure(what string, lines []string) error {
	args := []string{"--vty_socket", l.frrDir(), "-c", "configure terminal"}
	for _, ln := range lines {
		args = append(args, "-c", ln)
	}
	var out bytes.Buffer
	cmd := exec.Command("vtysh", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = l.frrDir()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("configuring %s: %w: %s", what, err, strings.TrimSpace(out.String()))
	}
	// vtysh exits 0 on some refused lines; it prints why.
	if s := strings.TrimSpace(out.String()); s != "" {
		return fmt.Errorf("configuring %s: %s", what, s)
	}
	return nil
}

// SetBFDProfile sets the timers of the router's BFD profile the node peer
// groups use (bfdd applies them to the running sessions by Poll/Final).
func (l *Lab) SetBFDProfile(rxMs, txMs, mult int) error {
	return l.vtyshConfigure("bfdd's profile seamark", []string{"bfd", "profile seamark",
		fmt.Sprintf("receive-interval %d", rxMs), fmt.Sprintf("transmit-interval %d", txMs), fmt.Sprintf("detect-multiplier %d", mult)})
}

// GracefulRestartNegotiated reports whether the router's session with addr
// is established with the graceful restart capability advertised and
// received.
func (l *Lab) GracefulRestartNegotiated(addr string) (bool, error) {
	n, err := l.gracefulRestartInfo(addr)
	return n.State == "Established" && n.Caps.GracefulRestart == "advertisedAndReceived", err
}

// ForwardingPreserved returns the families for which the node at addr
// said, in the graceful restart capability of its OPEN, that it preserved
// forwarding (RFC 4724's F bit): the router keeps what it holds as stale
// for those until the node's End-of-RIB instead of dropping it when the
// session comes up.
func (l *Lab) ForwardingPreserved(addr string) ([]string, error) {
	n, err := l.gracefulRestartInfo(addr)
	// addressFamiliesByPeer is "none" (a string) without graceful restart.
	var fams map[string]json.RawMessage
	_ = json.Unmarshal(n.Caps.Families, &fams)
	var out []string
	for fam, f := range fams {
		var af struct {
			Preserved bool `json:"preserved"`
		}
		// FRR writes "none" instead of an object for a family without the bit.
		if json.Unmarshal(f, &af) == nil && af.Preserved {
			out = append(out, fam)
		}
	}
	slices.Sort(out)
	return out, err
}

type frrGracefulRestart struct {
	State string `json:"bgpState"`
	Caps  struct {
		GracefulRestart string          `json:"gracefulRestart"`
		Families        json.RawMessage `json:"addressFamiliesByPeer"`
	} `json:"neighborCapabilities"`
}

func (l *Lab) gracefulRestartInfo(addr string) (frrGracefulRestart, error) {
	out, err := l.Vtysh("show bgp neighbors " + addr + " json")
	if err != nil {
		return frrGracefulRestart{}, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		return frrGracefulRestart{}, fmt.Errorf("parsing neighbor %s: %w", addr, err)
	}
	var n frrGracefulRestart
	if b, ok := raw[addr]; ok {
		if err := json.Unmarshal(b, &n); err != nil {
			return n, fmt.Errorf("parsing neighbor %s: %w", addr, err)
		}
	}
	return n, nil
}

// BFDPeer is one of the router's BFD sessions as `show bfd peers json`
// reports it; intervals in milliseconds, Uptime in seconds.
type BFDPeer struct {
	Peer       string `json:"peer"`
	Local      string `json:"local"`
	Status     string `json:"status"`
	Uptime     int    `json:"uptime"`
	RxInterval int    `json:"receive-interval"`
	TxInterval int    `json:"transmit-interval"`
	Multiplier int    `json:"detect-multiplier"`
	RemoteRx   int    `json:"remote-receive-interval"`
	RemoteTx   int    `json:"remote-transmit-interval"`
	RemoteMult int    `json:"remote-detect-multiplier"`
}

// BFDPeers returns the router's BFD sessions.
func (l *Lab) BFDPeers() ([]BFDPeer, error) {
	out, err := l.Vtysh("show bfd peers json")
	if err != nil {
		return nil, err
	}
	var peers []BFDPeer
	if err := json.Unmarshal(out, &peers); err != nil {
		return nil, fmt.Errorf("parsing show bfd peers json %s: %w", out, err)
	}
	return peers, nil
}

// BGPSessionCounters is how often the router's session with a neighbor
// came up and went down: a session reset changes both.
type BGPSessionCounters struct {
	Established int `json:"connectionsEstablished"`
	Dropped     int `json:"connectionsDropped"`
}

// SessionCounters returns the router's counters of its session with addr.
func (l *Lab) SessionCounters(addr string) (BGPSessionCounters, error) {
	out, err := l.Vtysh("show bgp neighbors " + addr + " json")
	if err != nil {
		return BGPSessionCounters{}, err
	}
	var raw map[string]BGPSessionCounters
	if err := json.Unmarshal(out, &raw); err != nil {
		return BGPSessionCounters{}, fmt.Errorf("parsing neighbor %s: %w", addr, err)
	}
	c, ok := raw[addr]
	if !ok {
		return BGPSessionCounters{}, fmt.Errorf("the router has no neighbor %s: %s", addr, out)
	}
	return c, nil
}
