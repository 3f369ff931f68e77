//go:build linux

package bgp

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
	"strconv"
	"strings"
	"testing"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"

	"github.com/seamark-io/seamark/speaker/bfd"
)

// The BFD wiring test peers the speaker (in the test's own network namespace, where GoBGP dials
// from) with FRR's bgpd and bfdd in a namespace the test creates (bfdt-<random>-r), joined by a veth
// pair whose host end is bfdt-<random>s. Addresses are from 198.18.201.0/24. Root only.
const frrBin = "/usr/lib/frr"

var (
	bfdSpeakerAddr = netip.MustParseAddr("198.18.201.1")
	bfdRouterAddr  = netip.MustParseAddr("198.18.201.2")
)

type frrRouter struct {
	ns, hostIf, routerIf, dir string
	procs                     []*exec.Cmd
}

func sh(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newFRRRouter starts zebra, bfdd and bgpd in a new namespace with a passive neighbour for the
// speaker, BFD on it (profile "fast", 300 ms × 3) and timers 3/9 s.
func newFRRRouter(t *testing.T, extraBGP ...string) *frrRouter {
	t.Helper()
	requireRoot(t)
	for _, d := range []string{"zebra", "bfdd", "bgpd"} {
		if _, err := os.Stat(filepath.Join(frrBin, d)); err != nil {
			t.Skipf("needs FRR's %s at %s (apt-get install frr): %v", d, frrBin, err)
		}
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	dir, err := os.MkdirTemp("", "bfdt-frr-")
	if err != nil {
		t.Fatal(err)
	}
	r := &frrRouter{ns: "bfdt-" + id + "-r", hostIf: "bfdt-" + id + "s", routerIf: "bfdt-" + id + "r", dir: dir}
	t.Cleanup(func() {
		for _, c := range r.procs {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		if t.Failed() {
			for _, n := range []string{"bgpd.log", "bfdd.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
					t.Logf("%s:\n%s", n, b)
				}
			}
		}
		_ = exec.Command("ip", "route", "del", "blackhole", bfdRouterAddr.String()+"/32").Run()
		_ = exec.Command("ip", "link", "del", r.hostIf).Run()
		_ = exec.Command("ip", "netns", "del", r.ns).Run()
		_ = os.RemoveAll(dir)
	})
	sh(t, "ip", "netns", "add", r.ns)
	sh(t, "ip", "link", "add", r.hostIf, "type", "veth", "peer", "name", r.routerIf, "netns", r.ns)
	sh(t, "ip", "addr", "add", bfdSpeakerAddr.String()+"/24", "dev", r.hostIf)
	sh(t, "ip", "link", "set", r.hostIf, "up")
	sh(t, "ip", "-n", r.ns, "addr", "add", bfdRouterAddr.String()+"/24", "dev", r.routerIf)
	sh(t, "ip", "-n", r.ns, "link", "set", r.routerIf, "up")
	sh(t, "ip", "-n", r.ns, "link", "set", "lo", "up")

	files := map[string]string{
		"zebra.conf": "hostname " + r.ns + "\n",
		"bfdd.conf":  "hostname " + r.ns + "\nbfd\n profile fast\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n !\n!\n",
		"bgpd.conf": fmt.Sprintf(`hostname %s
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 neighbor %s remote-as %d
 neighbor %s passive
 neighbor %s timers 3 9
 neighbor %s bfd
 neighbor %s bfd profile fast
%s!
`, r.ns, routerASN, bfdRouterAddr, bfdSpeakerAddr, speakerASN, bfdSpeakerAddr, bfdSpeakerAddr, bfdSpeakerAddr, bfdSpeakerAddr, strings.Join(extraBGP, "")),
	}
	u, err := user.Lookup("frr")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"zebra", "bfdd", "bgpd"} {
		cmd := exec.Command("ip", "netns", "exec", r.ns, filepath.Join(frrBin, d), "-u", "frr", "-g", "frr",
			"-f", filepath.Join(dir, d+".conf"), "-i", filepath.Join(dir, d+".pid"), "-z", filepath.Join(dir, "zserv.api"),
			"--vty_socket", dir, "-P", "0", "--log", "file:"+filepath.Join(dir, d+".log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", d, err)
		}
		r.procs = append(r.procs, cmd)
		waitFor(t, 10*time.Second, d+" answering", func() (bool, string) {
			if d == "zebra" {
				_, err := os.Stat(filepath.Join(dir, "zserv.api"))
				return err == nil, fmt.Sprint(err)
			}
			_, err := r.vtysh("show version")
			return err == nil, fmt.Sprint(err)
		})
	}
	return r
}

// silence makes the speaker's side fall silent towards the router, as a node that lost power does:
// a blackhole route for the router's address, so nothing the speaker sends (no BFD, no keepalive,
// no FIN) arrives. A link down would not do: the veth's carrier loss reaches the router's end, and
// FRR drops an eBGP session on interface down by itself (fast-external-failover).
func (r *frrRouter) silence(t *testing.T, on bool) {
	t.Helper()
	op := "add"
	if !on {
		op = "del"
	}
	sh(t, "ip", "route", op, "blackhole", bfdRouterAddr.String()+"/32")
}

func (r *frrRouter) vtysh(cmds ...string) (string, error) {
	args := []string{"--vty_socket", r.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("vtysh", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("vtysh %q: %w: %s", cmds, err, out)
	}
	return string(out), nil
}

// state is what FRR says about the speaker: BGP state, established count, prefixes received, BFD.
type frrView struct {
	BGPState      string
	Established   int
	Prefixes      int
	BFDStatus     string
	BFDRemoteRx   int
	BFDRemoteMult int
	BFDRemoteDiag string
}

func (r *frrRouter) view(t *testing.T) frrView {
	t.Helper()
	var v frrView
	if out, err := r.vtysh("show bgp neighbors " + bfdSpeakerAddr.String() + " json"); err == nil {
		var n map[string]struct {
			State       string `json:"bgpState"`
			Established int    `json:"connectionsEstablished"`
			AF          map[string]struct {
				Accepted int `json:"acceptedPrefixCounter"`
			} `json:"addressFamilyInfo"`
		}
		if json.Unmarshal([]byte(out), &n) == nil {
			e := n[bfdSpeakerAddr.String()]
			v.BGPState, v.Established, v.Prefixes = e.State, e.Established, e.AF["ipv4Unicast"].Accepted
		}
	}
	if out, err := r.vtysh("show bfd peers json"); err == nil {
		var peers []struct {
			Peer       string `json:"peer"`
			Status     string `json:"status"`
			RemoteRx   int    `json:"remote-receive-interval"`
			RemoteMult int    `json:"remote-detect-multiplier"`
			RemoteDiag string `json:"remote-diagnostic"`
		}
		if json.Unmarshal([]byte(out), &peers) == nil {
			for _, p := range peers {
				if p.Peer == bfdSpeakerAddr.String() {
					v.BFDStatus, v.BFDRemoteRx, v.BFDRemoteMult, v.BFDRemoteDiag = p.Status, p.RemoteRx, p.RemoteMult, p.RemoteDiag
				}
			}
		}
	}
	return v
}

// TestBFDWithFRR runs BGP and BFD against FRR's bgpd and bfdd: both come up; a timer change on the
// BGPPeer reaches FRR without resetting BGP or BFD; a speaker that falls silent is detected by FRR's
// BFD, which drops the route and tells the speaker, whose GoBGP peer is disabled; when the path
// returns, BFD and BGP come back without GoBGP's idle hold; Shutdown sends BFD AdminDown after the
// withdrawal.
func TestBFDWithFRR(t *testing.T) {
	r := newFRRRouter(t)
	log, _ := newTestLogger(t)
	mgr := bfd.New(bfd.Options{Logger: log.WithName("bfd")})
	t.Cleanup(func() { _ = mgr.Close() })
	s := New(Options{Logger: log, BFD: mgr})
	shutdownOnCleanup(t, s)
	cfg := PeerConfig{Name: "frr", Address: bfdRouterAddr, ASN: routerASN, LocalASN: speakerASN, SourceAddress: bfdSpeakerAddr,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectRetryTime: time.Second,
		BFD: BFDConfig{Enabled: true, ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}}
	desired := map[string]PeerDesired{"frr": {Config: cfg, Paths: []Path{{Prefix: lbAddr}}}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	waitFor(t, 30*time.Second, "BGP and BFD up at FRR and here", func() (bool, string) {
		v, st := r.view(t), s.Status()[0]
		return v.BGPState == "Established" && v.Prefixes == 1 && v.BFDStatus == "up" && st.BFDState == "Up", fmt.Sprintf("FRR %+v, speaker %+v", v, st)
	})
	established := r.view(t).Established

	// Timers change: FRR sees them, nothing resets.
	cfg.BFD = BFDConfig{Enabled: true, ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 5}
	desired["frr"] = PeerDesired{Config: cfg, Paths: []Path{{Prefix: lbAddr}}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	waitFor(t, 10*time.Second, "the new BFD timers at FRR", func() (bool, string) {
		v := r.view(t)
		return v.BFDRemoteRx == 100 && v.BFDRemoteMult == 5, fmt.Sprintf("%+v", v)
	})
	if v := r.view(t); v.Established != established || v.BGPState != "Established" || v.BFDStatus != "up" {
		t.Errorf("the timer change reset something at FRR: %+v (established %d before)", v, established)
	}

	// The speaker falls silent: no FIN, no CEASE, no BFD reaches FRR. FRR's BFD declares it down
	// and tells it so; the speaker disables its peer. The blackhole is one-way: FRR's packets (state
	// Down) still arrive, so the speaker's session rightly moves on from Down to Init (RFC 5880
	// §6.8.6) — what must hold is that it is not Up and the peer stays disabled.
	r.silence(t, true)
	ss := s.session("frr")
	waitFor(t, 10*time.Second, "the GoBGP peer disabled by BFD", func() (bool, string) {
		var admin gobgpapi.PeerState_AdminState
		_ = ss.srv.srv.ListPeer(t.Context(), &gobgpapi.ListPeerRequest{Address: bfdRouterAddr.String()}, func(p *gobgpapi.Peer) {
			admin = p.GetState().GetAdminState()
		})
		st := s.Status()[0]
		return admin == gobgpapi.PeerState_DOWN && (st.BFDState == "Down" || st.BFDState == "Init") && !st.Up,
			fmt.Sprintf("admin %s, %+v", admin, st)
	})
	waitFor(t, 10*time.Second, "FRR dropping the route (its own BFD)", func() (bool, string) {
		v := r.view(t)
		return v.Prefixes == 0 && v.BFDStatus == "down", fmt.Sprintf("%+v", v)
	})

	r.silence(t, false)
	back := time.Now()
	waitFor(t, 30*time.Second, "BFD and BGP back", func() (bool, string) {
		v, st := r.view(t), s.Status()[0]
		return v.BGPState == "Established" && v.Prefixes == 1 && v.BFDStatus == "up" && st.Up, fmt.Sprintf("FRR %+v, speaker %+v", v, st)
	})
	t.Logf("BFD and BGP back %s after the link returned", time.Since(back).Round(10*time.Millisecond))

	// BFD turned off on the BGPPeer: AdminDown reaches FRR, and what FRR does with its BGP session
	// is logged (it is the router's choice; docs/bfd.md says what FRR 8.4 does).
	established = r.view(t).Established
	cfg.BFD = BFDConfig{}
	desired["frr"] = PeerDesired{Config: cfg, Paths: []Path{{Prefix: lbAddr}}}
	if err := s.Reconcile(t.Context(), desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	waitFor(t, 10*time.Second, "FRR seeing BFD AdminDown", func() (bool, string) {
		v := r.view(t)
		return v.BFDStatus == "down" && strings.Contains(v.BFDRemoteDiag, "administratively"), fmt.Sprintf("%+v", v)
	})
	time.Sleep(3 * time.Second)
	t.Logf("FRR after BFD was turned off: %+v (established %d before)", r.view(t), established)
	waitFor(t, 30*time.Second, "BGP established without BFD", func() (bool, string) {
		v, st := r.view(t), s.Status()[0]
		return v.BGPState == "Established" && v.Prefixes == 1 && st.Up && st.BFDState == "", fmt.Sprintf("FRR %+v, speaker %+v", v, st)
	})

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx, 0); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitFor(t, 10*time.Second, "no route at FRR", func() (bool, string) {
		v := r.view(t)
		return v.Prefixes == 0, fmt.Sprintf("%+v", v)
	})
}

// TestBFDAndGracefulRestart pins what FRR 8.4 does with both on (graceful restart negotiated on both
// sides, BFD at 300 ms × 3):
//
//   - the speaker process crashes (SIGKILL; the node lives, its kernel closes the TCP session without
//     a NOTIFICATION): FRR enters graceful-restart helper mode at once and keeps the routes, stale;
//     the BFD Down that follows (the packets stopped with the process) does not remove them;
//   - the node falls silent (power or link lost: no FIN, no NOTIFICATION): FRR's BFD fires while the
//     session is still established, FRR resets it for BFD and drops the routes, no graceful restart.
func TestBFDAndGracefulRestart(t *testing.T) {
	for _, tt := range []struct {
		name      string
		crash     bool
		wantStale bool
	}{
		{name: "speaker crash: graceful restart keeps the route, stale", crash: true, wantStale: true},
		{name: "node silent: BFD removes the route", crash: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newFRRRouter(t, " bgp graceful-restart\n")
			cfg := PeerConfig{Name: "frr", Address: bfdRouterAddr, ASN: routerASN, LocalASN: speakerASN, SourceAddress: bfdSpeakerAddr,
				HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectRetryTime: time.Second,
				GracefulRestart: true, RestartTime: 120 * time.Second, BFD: BFDConfig{Enabled: true}}
			desired := crashHelperConfig{Peer: cfg, Paths: []Path{{Prefix: lbAddr}}}
			var kill func()
			if tt.crash {
				kill = startCrashHelper(t, desired)
			} else {
				log, _ := newTestLogger(t)
				mgr := bfd.New(bfd.Options{Logger: log.WithName("bfd")})
				t.Cleanup(func() { _ = mgr.Close() })
				s := New(Options{Logger: log, BFD: mgr})
				shutdownOnCleanup(t, s)
				if err := s.Reconcile(t.Context(), map[string]PeerDesired{"frr": {Config: cfg, Paths: desired.Paths}}); err != nil {
					t.Fatalf("Reconcile: %v", err)
				}
				kill = func() { r.silence(t, true) }
			}
			// Established with BFD up, and stable: FRR re-registers its BFD session once after the
			// first establishment (see docs/bfd.md), which can reset that first session.
			var est int
			waitFor(t, 30*time.Second, "BGP and BFD up at FRR, stable for 3s", func() (bool, string) {
				v := r.view(t)
				if v.BGPState != "Established" || v.Prefixes != 1 || v.BFDStatus != "up" {
					est = 0
					return false, fmt.Sprintf("%+v", v)
				}
				if est != v.Established {
					est = v.Established
					time.Sleep(3 * time.Second)
					return false, "waiting to see it stable"
				}
				return true, ""
			})
			if out, _ := r.vtysh("show bgp neighbors " + bfdSpeakerAddr.String()); !strings.Contains(out, "Graceful Restart Capability: advertised and received") {
				t.Fatalf("graceful restart not negotiated:\n%s", out)
			}
			kill()
			waitFor(t, 15*time.Second, "FRR's BGP session and BFD down", func() (bool, string) {
				v := r.view(t)
				return v.BGPState != "Established" && v.BFDStatus == "down", fmt.Sprintf("%+v", v)
			})
			// Past FRR's BFD detection time (900 ms), so BFD had its say either way.
			time.Sleep(2 * time.Second)
			rib, err := r.vtysh("show bgp ipv4 unicast " + lbAddr.String() + " json")
			if err != nil {
				t.Fatal(err)
			}
			var route struct {
				Paths []struct {
					Stale bool `json:"stale"`
				} `json:"paths"`
			}
			if err := json.Unmarshal([]byte(rib), &route); err != nil {
				t.Fatalf("parsing %q: %v", rib, err)
			}
			stale := len(route.Paths) == 1 && route.Paths[0].Stale
			if tt.wantStale != stale || (!tt.wantStale && len(route.Paths) != 0) {
				t.Errorf("the route at FRR: %s; want stale %v", strings.Join(strings.Fields(rib), " "), tt.wantStale)
			}
			if !tt.crash {
				out, _ := r.vtysh("show bgp neighbors " + bfdSpeakerAddr.String() + " json")
				var n map[string]map[string]any
				_ = json.Unmarshal([]byte(out), &n)
				var why []string
				for k, v := range n[bfdSpeakerAddr.String()] {
					if strings.HasPrefix(k, "lastReset") || strings.HasPrefix(k, "lastNotification") || strings.HasPrefix(k, "lastError") {
						why = append(why, fmt.Sprintf("%s=%v", k, v))
					}
				}
				if !strings.Contains(strings.Join(why, " "), "BFD") {
					t.Errorf("FRR's last reset was not BFD's: %v", why)
				}
			}
		})
	}
}
