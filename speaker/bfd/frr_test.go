//go:build linux

package bfd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The interop tests run FRR's bfdd (Debian's frr package) in a network namespace, the router, wired
// by a veth pair to a second namespace, the node, where this package's sockets are opened. Both
// namespaces and the veth are named bfdt-<random>-… and removed on cleanup. Addresses are from
// 198.18.200.0/24 and 2001:db8:bfd::/64; being inside the test's own namespaces they never meet the
// lab's or another test's.
const frrDir = "/usr/lib/frr"

var (
	nodeAddr     = netip.MustParseAddr("198.18.200.1")
	routerAddr   = netip.MustParseAddr("198.18.200.2")
	nodeAddrV6   = netip.MustParseAddr("2001:db8:bfd::1")
	routerAddrV6 = netip.MustParseAddr("2001:db8:bfd::2")
	// nodeAddr2 is a second node address: a second IPv4 session through the same receive socket
	// (FRR keys single-hop sessions by peer and interface, so the second session needs a second
	// peer address at FRR, ours).
	nodeAddr2 = netip.MustParseAddr("198.18.200.4")
)

// requireRootAndFRR skips when the test cannot create namespaces or has no bfdd; CI runs as root
// with FRR installed.
func requireRootAndFRR(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and binds UDP port 3784")
	}
	if _, err := os.Stat(filepath.Join(frrDir, "bfdd")); err != nil {
		t.Skipf("needs FRR's bfdd at %s (apt-get install frr): %v", frrDir, err)
	}
}

// topo is a node namespace and a router namespace joined by a veth pair.
type topo struct {
	node, router     string // namespace names
	nodeIf, routerIf string // veth ends
	frr              string // FRR's directory (configs, pid files, vty sockets)
	procs            map[string]*exec.Cmd
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newTopo(t testing.TB) *topo {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	// Not t.TempDir: its parent is private to root, and the daemons run as the frr user.
	dir, err := os.MkdirTemp("", "bfdt-frr-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tp := &topo{
		node: "bfdt-" + id + "-n", router: "bfdt-" + id + "-r",
		nodeIf: "bfdt-" + id + "n", routerIf: "bfdt-" + id + "r",
		frr: dir, procs: map[string]*exec.Cmd{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"zebra.log", "bfdd.log", "bgpd.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					t.Logf("%s:\n%s", name, b)
				}
			}
		}
		defer func() { _ = os.RemoveAll(dir) }()
		for name := range tp.procs {
			tp.kill(name)
		}
		_ = exec.Command("ip", "netns", "del", tp.node).Run()
		_ = exec.Command("ip", "netns", "del", tp.router).Run()
	})
	run(t, "ip", "netns", "add", tp.node)
	run(t, "ip", "netns", "add", tp.router)
	run(t, "ip", "link", "add", tp.nodeIf, "netns", tp.node, "type", "veth", "peer", "name", tp.routerIf, "netns", tp.router)
	for _, c := range [][]string{
		{"ip", "-n", tp.node, "link", "set", "lo", "up"},
		{"ip", "-n", tp.router, "link", "set", "lo", "up"},
		{"ip", "-n", tp.node, "addr", "add", nodeAddr.String() + "/24", "dev", tp.nodeIf},
		{"ip", "-n", tp.router, "addr", "add", routerAddr.String() + "/24", "dev", tp.routerIf},
		{"ip", "-n", tp.node, "addr", "add", nodeAddr2.String() + "/24", "dev", tp.nodeIf},
		{"ip", "-n", tp.node, "addr", "add", nodeAddrV6.String() + "/64", "dev", tp.nodeIf, "nodad"},
		{"ip", "-n", tp.router, "addr", "add", routerAddrV6.String() + "/64", "dev", tp.routerIf, "nodad"},
		{"ip", "-n", tp.node, "link", "set", tp.nodeIf, "up"},
		{"ip", "-n", tp.router, "link", "set", tp.routerIf, "up"},
	} {
		run(t, c...)
	}
	return tp
}

// inNetns runs f on a thread that is in namespace ns: sockets f opens stay in ns for their life,
// whichever thread later uses them.
func inNetns(t testing.TB, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() { _ = orig.Close() }()
	target, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() { _ = target.Close() }()
	if err := setns(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("entering namespace %s: %v", ns, err)
	}
	defer func() {
		// A thread that cannot go back stays locked and dies with the goroutine.
		if err := setns(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	f()
}

func setns(f *os.File) error {
	if _, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
		return errno
	}
	return nil
}

// frrConf is bfdd's configuration: one peer, the node, per family.
func (tp *topo) bfddConf(rxMs, txMs, mult int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname %s\nlog timestamp precision 3\nbfd\n", tp.router)
	for _, p := range [][2]netip.Addr{{nodeAddr, routerAddr}, {nodeAddr2, routerAddr}, {nodeAddrV6, routerAddrV6}} {
		fmt.Fprintf(&b, " peer %s local-address %s interface %s\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier %d\n !\n",
			p[0], p[1], tp.routerIf, rxMs, txMs, mult)
	}
	b.WriteString("!\n")
	return b.String()
}

// startFRR starts zebra (bfdd needs it for interfaces) and bfdd in the router namespace.
func (tp *topo) startFRR(t testing.TB, bfddConf string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(tp.frr, "zebra.conf"), []byte("hostname "+tp.router+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(tp.frr, "bfdd.conf"), []byte(bfddConf), 0o644))
	u, err := user.Lookup("frr")
	must(err)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	must(filepath.Walk(tp.frr, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}))
	tp.startDaemon(t, "zebra")
	waitUntil(t, 10*time.Second, "zebra's API socket", func() (bool, string) {
		_, err := os.Stat(filepath.Join(tp.frr, "zserv.api"))
		return err == nil, fmt.Sprint(err)
	})
	tp.startDaemon(t, "bfdd")
	waitUntil(t, 10*time.Second, "bfdd answering vtysh", func() (bool, string) {
		_, err := tp.vtysh("show bfd peers json")
		return err == nil, fmt.Sprint(err)
	})
}

func (tp *topo) startDaemon(t testing.TB, name string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", tp.router, filepath.Join(frrDir, name),
		"-u", "frr", "-g", "frr",
		"-f", filepath.Join(tp.frr, name+".conf"),
		"-i", filepath.Join(tp.frr, name+".pid"),
		"-z", filepath.Join(tp.frr, "zserv.api"),
		"--vty_socket", tp.frr,
		"-P", "0",
		"--log", "file:"+filepath.Join(tp.frr, name+".log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	tp.procs[name] = cmd
}

// kill SIGKILLs a daemon this test started (ip netns exec execs it, so the pid is the daemon's).
func (tp *topo) kill(name string) {
	cmd := tp.procs[name]
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	delete(tp.procs, name)
	_ = os.Remove(filepath.Join(tp.frr, name+".pid"))
}

func (tp *topo) vtysh(command string) (string, error) {
	out, err := exec.Command("vtysh", "--vty_socket", tp.frr, "-c", command).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("vtysh -c %q: %w: %s", command, err, out)
	}
	return string(out), nil
}

// frrPeer is a session as `show bfd peers json` reports it.
type frrPeer struct {
	Peer             string `json:"peer"`
	Local            string `json:"local"`
	ID               uint32 `json:"id"`
	RemoteID         uint32 `json:"remote-id"`
	Status           string `json:"status"`
	Uptime           int    `json:"uptime"`
	Diagnostic       string `json:"diagnostic"`
	RemoteDiagnostic string `json:"remote-diagnostic"`
	RemoteRx         int    `json:"remote-receive-interval"`
	RemoteTx         int    `json:"remote-transmit-interval"`
	RemoteMult       int    `json:"remote-detect-multiplier"`
}

// frrPeerLocal returns FRR's view of its session with peer from its address local; false while
// bfdd does not answer (it is polled, and may be restarting) or has no such session.
func (tp *topo) frrPeerLocal(t testing.TB, peer, local netip.Addr) (frrPeer, bool) {
	t.Helper()
	out, err := tp.vtysh("show bfd peers json")
	if err != nil {
		return frrPeer{}, false
	}
	var peers []frrPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("parsing %q: %v", out, err)
	}
	for _, p := range peers {
		if p.Peer == peer.String() && p.Local == local.String() {
			return p, true
		}
	}
	return frrPeer{}, false
}

// waitUntil polls cond every 20 ms until it holds or timeout passes; cond says what it saw.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addSession starts a session in the node namespace.
func addSession(t testing.TB, tp *topo, m *Manager, cfg SessionConfig) *Session {
	t.Helper()
	var s *Session
	var err error
	inNetns(t, tp.node, func() { s, err = m.Add(cfg) })
	if err != nil {
		t.Fatalf("adding session %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}
