package speaker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// quietLogger keeps the router's GoBGP from logging every session event
// to stderr; only errors are printed.
type quietLogger struct{}

func (quietLogger) Panic(msg string, f gobgplog.Fields) { panic(msg) }
func (quietLogger) Fatal(msg string, f gobgplog.Fields) {
	fmt.Fprintln(os.Stderr, "router:", msg, f)
	os.Exit(2)
}
func (quietLogger) Error(msg string, f gobgplog.Fields) { fmt.Fprintln(os.Stderr, "router:", msg, f) }
func (quietLogger) Warn(string, gobgplog.Fields)        {}
func (quietLogger) Info(string, gobgplog.Fields)        {}
func (quietLogger) Debug(string, gobgplog.Fields)       {}
func (quietLogger) SetLevel(gobgplog.LogLevel)          {}
func (quietLogger) GetLevel() gobgplog.LogLevel         { return gobgplog.ErrorLevel }

// testRouter is an in-process GoBGP acting as the upstream router: it
// listens on a loopback address, accepts sessions from passive neighbors
// and keeps what they announce, so tests read it back. (speaker/bgp's own
// test router lives in its _test files, which cannot be imported.)
type testRouter struct {
	srv *server.BgpServer
}

// routerSpec configures a test router.
type routerSpec struct {
	Addr      string   // listen address, 127.0.0.x
	Port      int32    // listen port
	ASN       uint32   // the router's AS
	Neighbors []string // speaker source addresses, all of PeerASN
	PeerASN   uint32
}

func startRouter(spec routerSpec) (*testRouter, error) {
	srv := server.NewBgpServer(server.LoggerOption(quietLogger{}))
	go srv.Serve()
	ctx := context.Background()
	if err := srv.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: &gobgpapi.Global{
		Asn: spec.ASN, RouterId: "198.18.0.254", ListenPort: spec.Port, ListenAddresses: []string{spec.Addr},
	}}); err != nil {
		return nil, fmt.Errorf("starting router on %s port %d: %w", spec.Addr, spec.Port, err)
	}
	for _, n := range spec.Neighbors {
		var afis []*gobgpapi.AfiSafi
		for _, afi := range []gobgpapi.Family_Afi{gobgpapi.Family_AFI_IP, gobgpapi.Family_AFI_IP6} {
			afis = append(afis, &gobgpapi.AfiSafi{Config: &gobgpapi.AfiSafiConfig{
				Family: &gobgpapi.Family{Afi: afi, Safi: gobgpapi.Family_SAFI_UNICAST}, Enabled: true,
			}})
		}
		if err := srv.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: &gobgpapi.Peer{
			Conf:      &gobgpapi.PeerConf{NeighborAddress: n, PeerAsn: spec.PeerASN},
			Transport: &gobgpapi.Transport{PassiveMode: true},
			Timers:    &gobgpapi.Timers{Config: &gobgpapi.TimersConfig{IdleHoldTimeAfterReset: 1}},
			AfiSafis:  afis,
		}}); err != nil {
			_ = srv.StopBgp(ctx, &gobgpapi.StopBgpRequest{})
			return nil, fmt.Errorf("adding neighbor %s: %w", n, err)
		}
	}
	return &testRouter{srv: srv}, nil
}

func newTestRouter(t testing.TB, spec routerSpec) *testRouter {
	t.Helper()
	r, err := startRouter(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.srv.StopBgp(context.Background(), &gobgpapi.StopBgpRequest{}) })
	return r
}

// received returns the prefixes the router holds from neighbor.
func (r *testRouter) received(neighbor string) (map[netip.Prefix]bool, error) {
	out := map[netip.Prefix]bool{}
	for _, afi := range []gobgpapi.Family_Afi{gobgpapi.Family_AFI_IP, gobgpapi.Family_AFI_IP6} {
		var decodeErr error
		err := r.srv.ListPath(context.Background(), &gobgpapi.ListPathRequest{
			TableType: gobgpapi.TableType_ADJ_IN, Name: neighbor,
			Family: &gobgpapi.Family{Afi: afi, Safi: gobgpapi.Family_SAFI_UNICAST},
		}, func(d *gobgpapi.Destination) {
			for _, p := range d.Paths {
				nlri, err := apiutil.GetNativeNlri(p)
				if err != nil {
					decodeErr = err
					continue
				}
				pfx, err := netip.ParsePrefix(nlri.String())
				if err != nil {
					decodeErr = err
					continue
				}
				out[pfx] = true
			}
		})
		if err != nil {
			return nil, fmt.Errorf("listing adj-RIB-in of %s: %w", neighbor, err)
		}
		if decodeErr != nil {
			return nil, fmt.Errorf("decoding a received path: %w", decodeErr)
		}
	}
	return out, nil
}

// established reports whether the session with neighbor is up.
func (r *testRouter) established(neighbor string) bool {
	up := false
	_ = r.srv.ListPeer(context.Background(), &gobgpapi.ListPeerRequest{Address: neighbor}, func(p *gobgpapi.Peer) {
		up = p.GetState().GetSessionState() == gobgpapi.PeerState_ESTABLISHED
	})
	return up
}

// routerHelperEnv makes the test binary run a router instead of the tests.
const routerHelperEnv = "SEAMARK_SPEAKER_ROUTER_HELPER"

// helperSpec is what the parent hands the child router.
type helperSpec struct {
	Router routerSpec
	// Expect is the number of prefixes after which the child prints
	// "received N" once.
	Expect int
}

// runRouterHelper runs a router in this (child) process: it prints
// "ready" once listening and "received N" once it holds Expect prefixes
// from its first neighbor, and exits when stdin closes (the parent died
// or is done) or after ten minutes.
func runRouterHelper(raw string) {
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "decoding router helper spec:", err)
		os.Exit(2)
	}
	r, err := startRouter(spec.Router)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		got, err := r.received(spec.Router.Neighbors[0])
		if err == nil && len(got) >= spec.Expect {
			fmt.Printf("received %d\n", len(got))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Until(deadline))
	os.Exit(3)
}

// childRouter is a router in a child process.
type childRouter struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startChildRouter(t testing.TB, spec helperSpec) *childRouter {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), routerHelperEnv+"="+string(raw))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the router helper: %v", err)
	}
	c := &childRouter{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	c.waitLine(t, "ready", time.Minute)
	return c
}

// waitLine waits for a line starting with prefix and returns it.
func (c *childRouter) waitLine(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("router helper exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timer.C:
			t.Fatalf("timed out after %s waiting for the router helper to print %q", timeout, prefix)
		}
	}
}
