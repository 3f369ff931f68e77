package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Path
		ibgp    bool
		want    Path
		wantErr error
	}{
		{
			name: "host bits are ignored",
			in:   Path{Prefix: netip.MustParsePrefix("203.0.113.7/24")},
			want: Path{Prefix: netip.MustParsePrefix("203.0.113.0/24")},
		},
		{
			name: "communities are sorted and de-duplicated",
			in:   Path{Prefix: lbAddr, Communities: []uint32{noExport, comm100, noExport}},
			want: Path{Prefix: lbAddr, Communities: []uint32{comm100, noExport}},
		},
		{
			name: "large communities are sorted and de-duplicated",
			in:   Path{Prefix: lbAddr, LargeCommunities: []LargeCommunity{{Global: 2, Local1: 0, Local2: 0}, {Global: 1, Local1: 2, Local2: 3}, {Global: 1, Local1: 2, Local2: 1}, {Global: 2, Local1: 0, Local2: 0}}},
			want: Path{Prefix: lbAddr, LargeCommunities: []LargeCommunity{{Global: 1, Local1: 2, Local2: 1}, {Global: 1, Local1: 2, Local2: 3}, {Global: 2, Local1: 0, Local2: 0}}},
		},
		{
			name: "empty community lists equal absent ones",
			in:   Path{Prefix: lbAddr, Communities: []uint32{}, LargeCommunities: []LargeCommunity{}},
			want: Path{Prefix: lbAddr},
		},
		{
			name: "local preference is dropped for eBGP",
			in:   Path{Prefix: lbAddrV6, LocalPref: 200},
			want: Path{Prefix: lbAddrV6},
		},
		{
			name: "local preference is kept for iBGP",
			in:   Path{Prefix: lbAddrV6, LocalPref: 200},
			ibgp: true,
			want: Path{Prefix: lbAddrV6, LocalPref: 200},
		},
		{
			name:    "a zero prefix is rejected",
			in:      Path{},
			wantErr: ErrInvalidPath,
		},
		{
			name:    "an IPv4-mapped IPv6 prefix is rejected",
			in:      Path{Prefix: netip.MustParsePrefix("::ffff:198.51.100.10/128")},
			wantErr: ErrInvalidPath,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := Path{Prefix: tc.in.Prefix, Communities: slices.Clone(tc.in.Communities), LargeCommunities: slices.Clone(tc.in.LargeCommunities)}
			got, err := normalize(tc.in, tc.ibgp)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got, cmpNetip); diff != "" {
				t.Errorf("normalize (-want +got):\n%s", diff)
			}
			if !slices.Equal(orig.Communities, tc.in.Communities) || !slices.Equal(orig.LargeCommunities, tc.in.LargeCommunities) {
				t.Errorf("normalize modified the caller's slices")
			}
		})
	}
}

func TestDesiredPaths(t *testing.T) {
	want, skipped, err := desiredPaths([]Path{
		{Prefix: lbAddr, Communities: []uint32{comm100}},
		{Prefix: netip.MustParsePrefix("198.51.100.10/32")}, // duplicate: the first one wins
		{Prefix: lbAddrV6}, // other family
		{},                 // invalid
		{Prefix: lbRange},
	}, familyIPv4, false)
	if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), "2 errors") {
		t.Errorf("error = %v, want the duplicate and the invalid path reported", err)
	}
	if skipped != 1 {
		t.Errorf("skipped = %d, want the IPv6 path", skipped)
	}
	if diff := cmp.Diff(map[netip.Prefix]Path{
		lbAddr:  {Prefix: lbAddr, Communities: []uint32{comm100}},
		lbRange: {Prefix: lbRange},
	}, want, cmpNetip); diff != "" {
		t.Errorf("desiredPaths (-want +got):\n%s", diff)
	}
}

func TestCheckPeer(t *testing.T) {
	valid := PeerConfig{Address: routerV4, ASN: 64512, LocalASN: 64513, RouterID: netip.MustParseAddr("198.18.0.10")}
	with := func(f func(*PeerConfig)) PeerConfig { c := valid; f(&c); return c }
	for _, tc := range []struct {
		name    string
		in      PeerConfig
		want    PeerConfig
		wantErr string
	}{
		{
			name: "defaults are filled in",
			in:   with(func(c *PeerConfig) { c.GracefulRestart = true }),
			want: with(func(c *PeerConfig) {
				c.Name, c.Port, c.GracefulRestart, c.RestartTime = "p", 179, true, DefaultRestartTime
			}),
		},
		{
			name: "an IPv4 source address is the default router ID",
			in:   with(func(c *PeerConfig) { c.RouterID, c.SourceAddress = netip.Addr{}, netip.MustParseAddr("127.0.0.11") }),
			want: with(func(c *PeerConfig) {
				c.Name, c.Port, c.RouterID, c.SourceAddress = "p", 179, netip.MustParseAddr("127.0.0.11"), netip.MustParseAddr("127.0.0.11")
			}),
		},
		{name: "the name must match the key", in: with(func(c *PeerConfig) { c.Name = "q" }), wantErr: `config name "q" differs`},
		{name: "the address is required", in: with(func(c *PeerConfig) { c.Address = netip.Addr{} }), wantErr: "not a usable IP address"},
		{name: "both AS numbers are required", in: with(func(c *PeerConfig) { c.LocalASN = 0 }), wantErr: "ASN and local ASN must both be set"},
		{name: "an IPv6 session needs an IPv4 router ID", in: with(func(c *PeerConfig) {
			c.Address, c.RouterID, c.SourceAddress = routerV6, netip.Addr{}, routerV6
		}), wantErr: "router ID"},
		{name: "the source address must match the family", in: with(func(c *PeerConfig) { c.SourceAddress = routerV6 }), wantErr: "different families"},
		{name: "hold times below 3 s are refused", in: with(func(c *PeerConfig) { c.HoldTime = 2 * time.Second }), wantErr: "below the minimum"},
		{name: "keepalive must not exceed the hold time", in: with(func(c *PeerConfig) { c.HoldTime, c.KeepaliveTime = 3*time.Second, 4*time.Second }), wantErr: "exceeds the hold time"},
		{name: "the restart time must fit 12 bits", in: with(func(c *PeerConfig) { c.RestartTime = 4096 * time.Second }), wantErr: "exceeds the maximum"},
		{name: "negative durations are refused", in: with(func(c *PeerConfig) { c.ConnectRetryTime = -time.Second }), wantErr: "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkPeer("p", tc.in)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidPeer) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want ErrInvalidPeer mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpNetip); diff != "" {
				t.Errorf("checkPeer (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChangedFieldsNamesButNeverShowsThePassword(t *testing.T) {
	a := PeerConfig{Password: "old", HoldTime: 9 * time.Second}
	b := PeerConfig{Password: "new", HoldTime: 6 * time.Second}
	if diff := cmp.Diff([]string{"HoldTime", "Password"}, changedFields(a, b)); diff != "" {
		t.Errorf("changedFields (-want +got):\n%s", diff)
	}
}

func TestDescribeProblem(t *testing.T) {
	for _, tc := range []struct {
		msg    string
		fields gobgplog.Fields
		want   string
	}{
		{"failed to connect", gobgplog.Fields{"Topic": "Peer", "Error": errors.New("dial tcp: i/o timeout")}, "failed to connect: dial tcp: i/o timeout"},
		{"received notification", gobgplog.Fields{"Code": uint8(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR), "Subcode": uint8(bgp.BGP_ERROR_SUB_BAD_PEER_AS)},
			"received notification: " + bgp.NewNotificationErrorCode(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS).String()},
		{"sent notification", gobgplog.Fields{"Data": bgp.NewMessageError(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0, nil, "").(*bgp.MessageError)}, //nolint:errorlint // NewMessageError returns the concrete type, never wrapped,
			"sent notification: " + bgp.NewNotificationErrorCode(bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, 0).String()},
		{"hold timer expired", gobgplog.Fields{"Topic": "Peer"}, "hold timer expired"},
	} {
		if got := describeProblem(tc.msg, tc.fields); got != tc.want {
			t.Errorf("describeProblem(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// The session's diagnosis takes the cause from GoBGP's lines that name it, not from the lines that
// follow (a state change's "invalid-msg", a Peer Down's bare notification code), and GoBGP's own
// notification lines leave the default level to the session's one line per state change.
func TestGoBGPLoggerKeepsTheCause(t *testing.T) {
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 0})
	var problems []string
	l := newGoBGPLogger()
	l.attach(log, func(p string, _ bool) { problems = append(problems, p) })

	badAS := bgp.NewMessageError(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS, nil, "as number mismatch expected 64999, received 64512").(*bgp.MessageError) //nolint:errorlint // the concrete type, never wrapped
	l.Warn("sent notification", gobgplog.Fields{"Data": badAS})
	l.Debug("state changed", gobgplog.Fields{"old": "BGP_FSM_OPENSENT", "new": "BGP_FSM_IDLE", "reason": "invalid-msg"})
	l.Warn("Session will be reset due to malformed BGP message", gobgplog.Fields{"Error": errors.New("path total attribute length exceeds message length")})
	l.Info("Peer Down", gobgplog.Fields{"Reason": "notification-sent code 3(update) subcode 1(malformed attribute list)"})

	want := []string{
		"session closed in OpenSent: sent notification: " + bgp.NewNotificationErrorCode(bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, bgp.BGP_ERROR_SUB_BAD_PEER_AS).String() + ": as number mismatch expected 64999, received 64512",
		"Peer Down: notification-sent code 3(update) subcode 1(malformed attribute list) (malformed BGP message: path total attribute length exceeds message length)",
	}
	if got := []string{problems[len(problems)-3], problems[len(problems)-1]}; !slices.Equal(got, want) {
		t.Errorf("problems %q, want the last of the OPEN exchange and the Peer Down to be %q", problems, want)
	}
	if len(lines) != 0 {
		t.Errorf("logged at the default level: %q, want nothing (the session logs the cause)", lines)
	}
}

func TestGoBGPLoggerMapsLevelsAndReportsConnectFailures(t *testing.T) {
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 1})
	var problems []string
	l := newGoBGPLogger()
	l.attach(log, func(p string, connectFailed bool) { problems = append(problems, fmt.Sprint(p, " ", connectFailed)) })

	if l.GetLevel() != gobgplog.DebugLevel {
		t.Errorf("GetLevel = %v while the session is down, want debug (connect errors are debug lines)", l.GetLevel())
	}
	l.Warn("hold timer expired", gobgplog.Fields{"Key": "127.0.0.2"})
	l.Info("Add a peer configuration", gobgplog.Fields{"Key": "127.0.0.2"})
	l.Debug("failed to connect", gobgplog.Fields{"Error": "connection refused"})
	l.wantDebug.Store(false)
	if l.GetLevel() != gobgplog.InfoLevel {
		t.Errorf("GetLevel = %v with the session up and V(2) off, want info", l.GetLevel())
	}

	wantLines := []string{
		`"level"=0 "msg"="hold timer expired" "key"="127.0.0.2"`,
		`"level"=1 "msg"="Add a peer configuration" "key"="127.0.0.2"`,
	}
	if diff := cmp.Diff(wantLines, lines); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"hold timer expired false", "failed to connect: connection refused true"}, problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestAPIPathEncoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    Path
		extra []uint32
		want  rxPath
	}{
		{
			name: "IPv4 uses NEXT_HOP, left unspecified for GoBGP to fill in",
			in:   Path{Prefix: lbAddr, Communities: []uint32{comm100}, LargeCommunities: []LargeCommunity{large1}, LocalPref: 200},
			want: rxPath{Prefix: lbAddr, NextHop: netip.IPv4Unspecified(), Communities: []uint32{comm100}, LargeCommunities: []LargeCommunity{large1}, LocalPref: 200},
		},
		{
			name: "IPv6 uses MP_REACH_NLRI",
			in:   Path{Prefix: lbAddrV6},
			want: rxPath{Prefix: lbAddrV6, NextHop: netip.IPv6Unspecified(), MPReach: true},
		},
		{
			name:  "extra communities are appended",
			in:    Path{Prefix: lbAddr, Communities: []uint32{comm100}},
			extra: []uint32{GracefulShutdownCommunity},
			want:  rxPath{Prefix: lbAddr, NextHop: netip.IPv4Unspecified(), Communities: []uint32{comm100, GracefulShutdownCommunity}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := apiPath(tc.in, tc.extra...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePath(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpNetip); diff != "" {
				t.Errorf("apiPath (-want +got):\n%s", diff)
			}
		})
	}
}

// ribSession starts a session whose peer is never reachable (nothing listens on its port), so tests
// exercise the RIB bookkeeping alone.
func ribSession(t testing.TB, fam family, port uint16) *session {
	t.Helper()
	cfg := testPeer("rib", routerV4, port, "127.0.0.20", speakerASN)
	if fam == familyIPv6 {
		cfg = testPeer("rib", routerV6, port, "::1", speakerASN)
	}
	cfg, err := checkPeer("rib", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ss := newSession("rib", cfg, logr.Discard())
	if _, err := ss.start(context.Background(), newPooledServer(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.stop(context.Background()) })
	return ss
}

// rib returns what the session's GoBGP RIB really holds.
func (ss *session) rib(t testing.TB) map[netip.Prefix]Path {
	t.Helper()
	out := map[netip.Prefix]Path{}
	err := ss.srv.srv.ListPath(context.Background(), &gobgpapi.ListPathRequest{TableType: gobgpapi.TableType_GLOBAL, Family: ss.fam.api()},
		func(d *gobgpapi.Destination) {
			for _, p := range d.Paths {
				rx, err := decodePath(p)
				if err != nil {
					t.Errorf("decoding RIB path: %v", err)
					continue
				}
				out[rx.Prefix] = Path{Prefix: rx.Prefix, Communities: rx.Communities, LargeCommunities: rx.LargeCommunities, LocalPref: rx.LocalPref}
			}
		})
	if err != nil {
		t.Fatalf("listing the RIB: %v", err)
	}
	return out
}

// stopAfter is a context whose Err turns non-nil after n calls: a way to interrupt syncPaths after n
// GoBGP calls, the same bookkeeping path as a failed call.
type stopAfter struct {
	context.Context
	n atomic.Int64
}

func (c *stopAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestSyncPathsKeepsTheRunningStateWhenInterrupted(t *testing.T) {
	ss := ribSession(t, familyIPv4, basePort+40)
	first := map[netip.Prefix]Path{lbAddr: {Prefix: lbAddr}, lbRange: {Prefix: lbRange, Communities: []uint32{comm100}}}
	if err := ss.syncPaths(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second := map[netip.Prefix]Path{
		lbRange: {Prefix: lbRange, Communities: []uint32{noExport}},
		netip.MustParsePrefix("198.51.100.20/32"):  {Prefix: netip.MustParsePrefix("198.51.100.20/32")},
		netip.MustParsePrefix("198.51.100.21/32"):  {Prefix: netip.MustParsePrefix("198.51.100.21/32")},
		netip.MustParsePrefix("198.51.100.128/25"): {Prefix: netip.MustParsePrefix("198.51.100.128/25")},
	}
	// From first to second takes five GoBGP calls (one withdrawal, one replacement, three additions);
	// interrupt after each number of them.
	for n := range int64(5) {
		if err := ss.syncPaths(context.Background(), first); err != nil {
			t.Fatal(err)
		}
		ctx := &stopAfter{Context: context.Background()}
		ctx.n.Store(n)
		err := ss.syncPaths(ctx, second)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted after %d calls: error = %v, want context.Canceled", n, err)
		}
		if diff := cmp.Diff(ss.rib(t), ss.advertised, cmpNetip); diff != "" {
			t.Fatalf("interrupted after %d calls: bookkeeping differs from the RIB (-rib +bookkeeping):\n%s", n, diff)
		}
	}
	if err := ss.syncPaths(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(second, ss.rib(t), cmpNetip); diff != "" {
		t.Errorf("RIB after the retry (-want +got):\n%s", diff)
	}
}

// FuzzSyncPaths drives a session's RIB through random desired sets (with random interruptions) and
// checks it against a reference model: the bookkeeping always equals GoBGP's RIB, and an uninterrupted
// sync makes the RIB equal the desired set.
func FuzzSyncPaths(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0x00, 0x00, 0x0f, 0x0f})
	f.Add([]byte{0x01, 0x80, 0x03, 0x81, 0x07, 0x82, 0x00, 0x83})
	f.Add([]byte{0xaa, 0x55, 0x55, 0xaa, 0xff, 0x13, 0x00, 0x00})
	ss := ribSession(f, familyIPv6, basePort+41)
	candidates := make([]netip.Prefix, 8)
	for i := range candidates {
		a := netip.MustParseAddr("2001:db8:f::").As16()
		a[15] = byte(i)
		candidates[i] = netip.PrefixFrom(netip.AddrFrom16(a), 128)
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		// Start from nothing so runs are independent.
		if err := ss.syncPaths(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		var log []string
		for i := 0; i+1 < len(ops); i += 2 {
			mask, attrs := ops[i], ops[i+1]
			var paths []Path
			for j, prefix := range candidates {
				if mask&(1<<j) == 0 {
					continue
				}
				p := Path{Prefix: prefix}
				if attrs&(1<<j) != 0 {
					p.Communities = []uint32{uint32(65000<<16) | uint32(attrs>>4)}
					p.LargeCommunities = []LargeCommunity{{Global: 64512, Local1: uint32(attrs & 3), Local2: 1}}
				}
				paths = append(paths, p)
			}
			// An IPv4 path is always desired too: the IPv6 session must ignore it.
			paths = append(paths, Path{Prefix: lbAddr})
			want, skipped, err := desiredPaths(paths, familyIPv6, false)
			if err != nil || skipped != 1 {
				t.Fatalf("desiredPaths: %v, %d skipped", err, skipped)
			}
			ctx := context.Background()
			interrupted := attrs&0x0c == 0x0c
			if interrupted {
				c := &stopAfter{Context: ctx}
				c.n.Store(int64(mask % 4))
				ctx = c
			}
			log = append(log, fmt.Sprintf("sync %08b attrs %08b interrupted=%v", mask, attrs, interrupted))
			err = ss.syncPaths(ctx, want)
			if !interrupted && err != nil {
				t.Fatalf("syncPaths: %v\nops: %s", err, strings.Join(log, "\n"))
			}
			rib := ss.rib(t)
			if diff := cmp.Diff(rib, ss.advertised, cmpNetip); diff != "" {
				t.Fatalf("bookkeeping differs from the RIB (-rib +bookkeeping):\n%s\nops:\n%s", diff, strings.Join(log, "\n"))
			}
			if !interrupted {
				if diff := cmp.Diff(want, rib, cmpNetip); diff != "" {
					t.Fatalf("RIB differs from the desired set (-want +got):\n%s\nops:\n%s", diff, strings.Join(log, "\n"))
				}
			}
			if got := int(ss.announced.Load()); got != len(ss.advertised) {
				t.Fatalf("announced = %d, want %d", got, len(ss.advertised))
			}
		}
	})
}
