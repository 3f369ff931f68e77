package bgp

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/seamark-io/seamark/plan"
	"github.com/seamark-io/seamark/speaker/bfd"
)

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrStopped is returned by Reconcile after Shutdown.
	ErrStopped = errors.New("bgp speaker is shut down")
	// ErrInvalidPeer wraps every problem with a PeerConfig. The peer's running session, if any, is
	// left untouched.
	ErrInvalidPeer = errors.New("invalid BGP peer")
	// ErrInvalidPath wraps every problem with a Path. The offending path is not announced; the other
	// paths of the peer are.
	ErrInvalidPath = errors.New("invalid BGP path")
)

// GracefulShutdownCommunity is the well-known GRACEFUL_SHUTDOWN community 65535:0 (RFC 8326).
// Shutdown adds it to every path before withdrawing, so routers that honour it (lowering the
// local preference) move traffic away while the node still forwards.
const GracefulShutdownCommunity uint32 = 0xFFFF_0000

// Defaults applied to zero values of PeerConfig.
const (
	// DefaultPort is the BGP port.
	DefaultPort uint16 = 179
	// DefaultRestartTime is the graceful-restart time advertised when GracefulRestart is set and
	// RestartTime is zero; the same default as FRR.
	DefaultRestartTime = 120 * time.Second
	// maxRestartTime is the largest restart time the 12-bit capability field can carry.
	maxRestartTime = 4095 * time.Second
	// minHoldTime is the smallest non-zero hold time RFC 4271 allows.
	minHoldTime = 3 * time.Second
)

// PeerConfig is everything that defines one BGP session. Any change to it resets that session (and
// only that one); path changes never do.
type PeerConfig struct {
	// Name is the BGPPeer object name. The key of the map given to Reconcile is authoritative; Name
	// may be left empty, but must match the key when set.
	Name string
	// Address is the router's address. Its family decides the session's address family: an IPv4
	// session carries IPv4-unicast only and an IPv6 session IPv6-unicast only (see Speaker).
	Address netip.Addr
	// Port is the router's TCP port; 0 means 179.
	Port uint16
	// ASN is the router's AS number (4-byte). ASN == LocalASN makes the session iBGP.
	ASN uint32
	// LocalASN is the AS number the node speaks as.
	LocalASN uint32
	// RouterID is the BGP identifier; it must be an IPv4 address. When unset, an IPv4
	// SourceAddress is used.
	RouterID netip.Addr
	// HoldTime is the proposed hold time in whole seconds: 0 means GoBGP's default (90 s), otherwise
	// at least 3 s. GoBGP cannot run a session without keepalives (RFC 4271 hold time 0).
	HoldTime time.Duration
	// KeepaliveTime is the keepalive interval; 0 means a third of the hold time.
	KeepaliveTime time.Duration
	// ConnectRetryTime is the time between connection attempts; 0 means GoBGP's default (120 s).
	ConnectRetryTime time.Duration
	// EBGPMultihopTTL is the IP TTL of an eBGP session's packets; 0 or 1 means directly connected
	// (TTL 1). Ignored for iBGP.
	EBGPMultihopTTL uint8
	// MaxPrefixes is how many routes the router may send on the session before the speaker closes
	// it (Cease, administrative reset, with "maximum number of prefixes reached" as the shutdown
	// communication; see enforcePrefixLimit) and connects again 5 s later; 0 means no limit. No
	// received route is ever imported, but GoBGP keeps each in the session's Adj-RIB-In until the
	// session closes.
	MaxPrefixes uint32
	// SourceAddress is the local address the session connects from, and so the next hop of every
	// path. When unset, the kernel picks it from the route to Address.
	SourceAddress netip.Addr
	// Password enables TCP-MD5 (RFC 2385) when non-empty.
	Password string
	// GracefulRestart advertises the graceful-restart capability (RFC 4724) for the session's
	// family, so the router keeps our routes for RestartTime if the speaker dies without closing
	// the session.
	GracefulRestart bool
	// RestartTime is the advertised restart time; 0 means DefaultRestartTime. At most 4095 s.
	RestartTime time.Duration
	// BFD runs BFD beside the session. Unlike every other field, a change to it never resets the
	// session: the BFD session is started, stopped or re-timed in place.
	BFD BFDConfig
}

// withoutBFD is c without its BFD settings: what a running session is compared on.
func (c PeerConfig) withoutBFD() PeerConfig {
	c.BFD = BFDConfig{}
	return c
}

// ibgp reports whether the session is internal BGP.
func (c PeerConfig) ibgp() bool { return c.ASN == c.LocalASN }

// LargeCommunity is a BGP large community Global:Local1:Local2 (RFC 8092); the planning's own type,
// so that a plan's paths are handed over without copying.
type LargeCommunity = plan.LargeCommunity

func compareLarge(a, b LargeCommunity) int {
	if c := cmp.Compare(a.Global, b.Global); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Local1, b.Local1); c != 0 {
		return c
	}
	return cmp.Compare(a.Local2, b.Local2)
}

// Path is one prefix to announce to one peer, with its attributes (see plan.Path). The next hop is
// always the session's local address.
type Path = plan.Path

// pathsEqual reports whether two normalized paths announce the same thing.
func pathsEqual(p, o Path) bool {
	return p.Prefix == o.Prefix && p.LocalPref == o.LocalPref &&
		slices.Equal(p.Communities, o.Communities) &&
		slices.Equal(p.LargeCommunities, o.LargeCommunities)
}

// PeerDesired is the desired state of one peer: its session settings and the exact set of paths
// announced to it.
type PeerDesired struct {
	// Config is the session's settings.
	Config PeerConfig
	// Paths are keyed by prefix: a prefix may appear once. Paths of the family the session does not
	// carry are ignored (logged at V(1)).
	Paths []Path
}

// SessionState is the RFC 4271 state of a BGP session as seen by the speaker.
type SessionState string

// Session states.
const (
	StateUnknown     SessionState = "Unknown"
	StateIdle        SessionState = "Idle"
	StateConnect     SessionState = "Connect"
	StateActive      SessionState = "Active"
	StateOpenSent    SessionState = "OpenSent"
	StateOpenConfirm SessionState = "OpenConfirm"
	StateEstablished SessionState = "Established"
)

// PeerStatus is a point-in-time view of one peer's session.
type PeerStatus struct {
	// Name is the peer's name (the Reconcile map key).
	Name string
	// Address is the router's address.
	Address netip.Addr
	// State is the session state.
	State SessionState
	// Up is State == StateEstablished.
	Up bool
	// Announced is the number of paths in the peer's RIB (sent to the router when Up).
	Announced int
	// Since is when the session last went up or down (or was created).
	Since time.Time
	// LastError is the last problem GoBGP reported for the session (failed connect, notification,
	// hold timer expiry); empty when none since the session last came up.
	LastError string
	// BFDState is the state of the peer's BFD session (speaker/bfd: AdminDown, Down, Init, Up), or
	// empty when BFD is off for the peer.
	BFDState string
}

// Options configures a Speaker.
type Options struct {
	// Logger receives session state changes and, under the name "gobgp", GoBGP's own log: its warnings
	// at V(0), its info at V(1) and its debug at V(2).
	Logger logr.Logger
	// BFD runs the BFD sessions of peers whose PeerConfig.BFD is enabled; without it such peers
	// run without BFD and Reconcile reports an error for them.
	BFD *bfd.Manager
}
