// The test routers are GoBGP servers that listen. Go 1.24+ listeners use Multipath TCP by default,
// and MPTCP sockets refuse TCP_MD5SIG (ENOPROTOOPT), so the routers could not verify TCP-MD5. The
// speaker itself only dials (plain TCP) and is not affected.
//go:debug multipathtcp=0

package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/seamark-io/seamark/speaker/bfd"
)

// crashHelperEnv makes the test binary run a speaker instead of the tests (see runCrashHelper).
const crashHelperEnv = "SEAMARK_BGP_CRASH_HELPER"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(crashHelperEnv); cfg != "" {
		runCrashHelper(cfg)
		return
	}
	os.Exit(m.Run())
}

// crashHelperConfig is what the parent test hands the child speaker.
type crashHelperConfig struct {
	Peer  PeerConfig
	Paths []Path
}

// runCrashHelper runs a speaker until it is killed: it reconciles the given peer, prints "ready" once
// the session is established (and its BFD session Up, when enabled), and then waits. Only a SIGKILL ends it (or, so it can never outlive a
// crashed parent for long, a minute).
func runCrashHelper(raw string) {
	var cfg crashHelperConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "decoding helper config:", err)
		os.Exit(2)
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	s := New(Options{Logger: log, BFD: bfd.New(bfd.Options{Logger: log})})
	ctx := context.Background()
	if err := s.Reconcile(ctx, map[string]PeerDesired{cfg.Peer.Name: {Config: cfg.Peer, Paths: cfg.Paths}}); err != nil {
		fmt.Fprintln(os.Stderr, "reconciling:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if st := s.Status(); len(st) == 1 && st[0].Up && (!cfg.Peer.BFD.Enabled || st[0].BFDState == "Up") {
			fmt.Println("ready")
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Until(deadline))
	os.Exit(3)
}

// requireRoot skips tests that need privileges (TCP-MD5 keys) when not root; CI runs as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: setting TCP-MD5 keys (TCP_MD5SIG) requires CAP_NET_ADMIN")
	}
}

// waitFor polls cond until it holds or timeout passes; cond explains what it saw when it does not
// hold, for the failure message.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
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
		time.Sleep(50 * time.Millisecond)
	}
}

// logLines captures a logr logger's output as JSON objects.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
}

// newTestLogger returns a logger at V(1) that records every line, and prints them if the test fails.
func newTestLogger(t *testing.T) (logr.Logger, *logLines) {
	ll := &logLines{}
	log := funcr.NewJSON(func(obj string) {
		var m map[string]any
		if err := json.Unmarshal([]byte(obj), &m); err != nil {
			m = map[string]any{"msg": obj}
		}
		ll.mu.Lock()
		ll.lines = append(ll.lines, m)
		ll.mu.Unlock()
	}, funcr.Options{Verbosity: 1})
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range ll.snapshot() {
				b, _ := json.Marshal(l)
				t.Log(string(b))
			}
		}
	})
	return log, ll
}

func (ll *logLines) snapshot() []map[string]any {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	return append([]map[string]any(nil), ll.lines...)
}

// find returns the lines whose message is msg and whose keys have the given string values.
func (ll *logLines) find(msg string, kv ...string) []map[string]any {
	var out []map[string]any
next:
	for _, l := range ll.snapshot() {
		if l["msg"] != msg {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(l[kv[i]]) != kv[i+1] {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func (ll *logLines) messages() string {
	var b strings.Builder
	for _, l := range ll.snapshot() {
		fmt.Fprintf(&b, "%v; ", l["msg"])
	}
	return b.String()
}

// Addresses and AS numbers of the tests. The routers listen on 127.0.0.2 (IPv4) and ::1 (IPv6), each
// test on its own port; the speaker connects from its own 127.0.0.1x address per session.
var (
	routerV4 = netip.MustParseAddr("127.0.0.2")
	routerV6 = netip.MustParseAddr("::1")
)

const (
	routerASN  uint32 = 64512
	speakerASN uint32 = 64513
	basePort          = 17900
)

// testPeer is a session to a test router with short timers.
func testPeer(name string, router netip.Addr, port uint16, source string, localASN uint32) PeerConfig {
	return PeerConfig{
		Name:             name,
		Address:          router,
		Port:             port,
		ASN:              routerASN,
		LocalASN:         localASN,
		RouterID:         netip.MustParseAddr("198.18.0.10"),
		HoldTime:         9 * time.Second,
		KeepaliveTime:    3 * time.Second,
		ConnectRetryTime: time.Second,
		SourceAddress:    netip.MustParseAddr(source),
	}
}

func shutdownOnCleanup(t *testing.T, s *Speaker) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx, 0)
	})
}
