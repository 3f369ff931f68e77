package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	gobgpapi "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/config/oc"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// notEstablishedHint ends the log line of a session that cannot come up. A TCP-MD5 mismatch looks
// exactly like an unreachable router from our side (Linux drops the segments silently), so the hint
// names the usual suspects.
const notEstablishedHint = "check the peer's address, ASN and TCP-MD5 password"

// firstNotEstablishedWarning is the number of consecutive failed attempts after which a session that
// never came up is logged; the line repeats at 2x, 4x, ... that many so it stays visible without
// flooding the log.
const firstNotEstablishedWarning = 2

// globalPolicyName is GoBGP's name for the server-wide (global RIB) policy assignment;
// acceptLocalPolicyName is our import policy that lets only locally originated paths in.
const (
	globalPolicyName      = "global"
	acceptLocalPolicyName = "seamark-accept-local"
)

// session is one BGP session: a GoBGP server of its own whose RIB holds exactly the paths for this
// peer, with the peer's local ASN and router ID.
type session struct {
	name string
	cfg  PeerConfig
	fam  family
	log  logr.Logger
	srv  *pooledServer
	// cancelWatch stops the peer-state watch and the prefix-limit check.
	cancelWatch context.CancelFunc
	// limitDone is closed when the prefix-limit check has returned (nil without a limit).
	limitDone chan struct{}

	// advertised is what the session's RIB holds, keyed by prefix: the true running state. It is
	// only touched by the goroutine holding Speaker.mu (or one it started for this session).
	advertised map[netip.Prefix]Path
	// skipped is how many desired paths of the other family were ignored last time, to log changes.
	skipped int
	// announced mirrors len(advertised) for Status and metrics, which do not take Speaker.mu.
	announced atomic.Int64

	// bfdMu guards bfd and serialises what BFD does to the GoBGP peer with stop.
	bfdMu sync.Mutex
	bfd   *bfdLink

	mu        sync.Mutex // guards the fields below, written from GoBGP's goroutines
	state     SessionState
	since     time.Time
	lastError string
	// downReason is the reason GoBGP gave for the last end of an established session ("Peer
	// Down"), kept until the session's down transition reports it: GoBGP's FSM logs it before it
	// queues the state change, and a session that is closed right after it came up (a prefix
	// limit) can report it even before the Established event arrives, which clears lastError.
	downReason string
	attempts   int // failed attempts since the session was last established
	warnAt     int // attempts at which "BGP session not established" is logged next
	stopping   bool
}

// pooledServer is a GoBGP server with its log adapter. GoBGP v3's Serve loop never returns, so a
// server is reused (StopBgp, then StartBgp for the next session) instead of being discarded with a
// goroutine and its tables still referenced.
type pooledServer struct {
	srv *server.BgpServer
	log *gobgpLogger
}

func newPooledServer() *pooledServer {
	l := newGoBGPLogger()
	srv := server.NewBgpServer(server.LoggerOption(l))
	go srv.Serve()
	return &pooledServer{srv: srv, log: l}
}

func newSession(name string, cfg PeerConfig, log logr.Logger) *session {
	return &session{
		name:       name,
		cfg:        cfg,
		fam:        familyOf(cfg.Address),
		log:        log,
		advertised: make(map[netip.Prefix]Path),
		state:      StateIdle,
		since:      time.Now(),
		warnAt:     firstNotEstablishedWarning,
	}
}

// start configures ps for the session and brings it up: global settings, the reject-all import
// policy, the state watch, the paths, and the peer last. Adding the paths before the peer means the
// first UPDATEs after OPEN carry the whole set and, with graceful restart, End-of-RIB follows it, so
// a router holding stale routes from our previous life never drops routes we still announce. A path
// error leaves the session running (the failed paths are retried by the next Reconcile); any other
// error stops it.
func (ss *session) start(ctx context.Context, ps *pooledServer, want map[netip.Prefix]Path) (pathErr, err error) {
	ss.srv = ps
	ps.log.attach(ss.log.WithName("gobgp").WithValues("peer", ss.name), ss.onProblem)
	srv := ps.srv

	if err := srv.StartBgp(ctx, &gobgpapi.StartBgpRequest{Global: gobgpGlobal(ss.cfg)}); err != nil {
		return nil, fmt.Errorf("starting BGP server: %w", err)
	}
	// Nodes only announce: whatever the router sends stays in the adj-RIB-in and never reaches the
	// RIB, so a misconfigured router cannot steer anything on the node. GoBGP applies the global
	// import policy to locally added paths too, so ours are accepted by a statement first.
	if err := srv.AddPolicy(ctx, &gobgpapi.AddPolicyRequest{Policy: &gobgpapi.Policy{
		Name: acceptLocalPolicyName,
		Statements: []*gobgpapi.Statement{{
			Name:       acceptLocalPolicyName,
			Conditions: &gobgpapi.Conditions{RouteType: gobgpapi.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &gobgpapi.Actions{RouteAction: gobgpapi.RouteAction_ACCEPT},
		}},
	}}); err != nil {
		return nil, fmt.Errorf("defining the import policy: %w", err)
	}
	if err := srv.SetPolicyAssignment(ctx, &gobgpapi.SetPolicyAssignmentRequest{Assignment: &gobgpapi.PolicyAssignment{
		Name:          globalPolicyName,
		Direction:     gobgpapi.PolicyDirection_IMPORT,
		Policies:      []*gobgpapi.Policy{{Name: acceptLocalPolicyName}},
		DefaultAction: gobgpapi.RouteAction_REJECT,
	}}); err != nil {
		return nil, fmt.Errorf("assigning the reject-all import policy: %w", err)
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	ss.cancelWatch = cancel
	if err := srv.WatchEvent(watchCtx, &gobgpapi.WatchEventRequest{Peer: &gobgpapi.WatchEventRequest_Peer{}}, ss.onEvent); err != nil {
		return nil, fmt.Errorf("watching the session state: %w", err)
	}
	pathErr = ss.syncPaths(ctx, want)
	if err := srv.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: gobgpPeer(ss.cfg)}); err != nil {
		return pathErr, fmt.Errorf("adding peer %s: %w", ss.cfg.Address, err)
	}
	if ss.cfg.MaxPrefixes > 0 {
		ss.limitDone = make(chan struct{})
		go ss.enforcePrefixLimit(watchCtx, ps)
	}
	return pathErr, nil
}

// prefixCheckInterval is how often a session with a MaxPrefixes limit counts the routes the router
// sent. GoBGP's own prefix limit is not used: it counts the whole Adj-RIB-In after every UPDATE, so a
// router that sends its routes one per UPDATE (a community or AS path each, as a full table does)
// costs time quadratic in their number — 20,000 such routes took 4.6 s to receive with the limit set
// instead of 1.7 s without (BenchmarkReceiveFlood), and 100,000 would take minutes of CPU. One count
// per interval costs a walk of what is held (about 2 ms for 100,000 routes); the price is that up
// to one interval's worth of routes may arrive beyond the limit before the session is closed.
const prefixCheckInterval = 200 * time.Millisecond

// enforcePrefixLimit closes the session while the router has sent more than MaxPrefixes routes:
// Cease, administrative reset (GoBGP's API cannot send the "maximum number of prefixes reached"
// subcode), with that text as the shutdown communication (RFC 8203) the router logs. GoBGP drops
// the Adj-RIB-In with the session and reconnects after its idle hold (IdleHoldTimeAfterReset).
// It returns when ctx ends.
func (ss *session) enforcePrefixLimit(ctx context.Context, ps *pooledServer) {
	defer close(ss.limitDone)
	addr, limit := ss.cfg.Address.String(), uint64(ss.cfg.MaxPrefixes)
	t := time.NewTicker(prefixCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		received, err := receivedRoutes(ctx, ps.srv, addr)
		if err != nil || received <= limit {
			continue
		}
		// The Peer Down that follows names only the administrative reset; the cause goes with it.
		cause := fmt.Sprintf("the router sent more routes than maxReceivedPrefixes allows: %d received, the limit is %d", received, limit)
		ps.log.resetCause.Store(&cause)
		if err := ps.srv.ResetPeer(ctx, &gobgpapi.ResetPeerRequest{Address: addr, Communication: prefixLimitCommunication}); err != nil && ctx.Err() == nil {
			ss.log.Info("Could not close a BGP session over its prefix limit", "peer", ss.name, "address", addr, "error", err.Error())
		}
	}
}

// receivedRoutes is how many routes srv holds from neighbor (every neighbor when ""), in every
// family: GoBGP's Adj-RIB-In count, before the import policy.
func receivedRoutes(ctx context.Context, srv *server.BgpServer, neighbor string) (uint64, error) {
	var n uint64
	err := srv.ListPeer(ctx, &gobgpapi.ListPeerRequest{Address: neighbor}, func(p *gobgpapi.Peer) {
		for _, af := range p.GetAfiSafis() {
			n += af.GetState().GetReceived()
		}
	})
	return n, err
}

// idleHoldAfterReset is the seconds GoBGP waits after a reset before it connects again: its fixed
// idle hold after any other drop.
const idleHoldAfterReset = 5

// restartDeferral is the longest a session that comes up as a restart (see gobgpPeer) holds its
// paths back waiting for the router's End-of-RIB: about the time a router takes to send its table;
// a router that advertises graceful restart but never sends End-of-RIB gets our paths after it.
const restartDeferral = 5

// prefixLimitCommunication is the shutdown communication of a session closed over its prefix limit.
const prefixLimitCommunication = "maximum number of prefixes reached"

// stop tears the session down: the peer is deleted first (the router gets a CEASE notification and
// drops our routes at once), BFD is stopped with AdminDown, then the RIB is emptied without any peer
// to send to, and the server is stopped. It reports whether the server is clean for reuse.
func (ss *session) stop(ctx context.Context) (reusable bool) {
	ss.markStopping()
	if ss.cancelWatch != nil {
		ss.cancelWatch()
	}
	if ss.limitDone != nil {
		<-ss.limitDone // before the server is stopped and reused
	}
	srv := ss.srv.srv
	clean := true
	if err := srv.DeletePeer(ctx, &gobgpapi.DeletePeerRequest{Address: ss.cfg.Address.String()}); err != nil {
		ss.log.V(1).Info("Could not delete BGP peer", "peer", ss.name, "error", err.Error())
	}
	// After the BGP session: the router hears AdminDown, a planned end, not a failure.
	ss.stopBFD(ctx)
	for prefix, p := range ss.advertised {
		if err := ss.withdraw(ctx, p); err != nil {
			clean = false
			continue
		}
		delete(ss.advertised, prefix)
	}
	ss.announced.Store(int64(len(ss.advertised)))
	_ = srv.StopBgp(ctx, &gobgpapi.StopBgpRequest{})
	ss.srv.log.detach()
	return clean
}

// syncPaths makes the session's RIB hold exactly want: it withdraws what is no longer wanted, then
// announces what is new or changed. An attribute change is a plain AddPath of the new version, which
// replaces the old one (implicit withdraw), so the router never sees the prefix disappear. A failed
// call leaves advertised as it really is (a failed AddPath: still the old version or absent; a failed
// withdrawal: still present), so the next Reconcile retries exactly what is missing.
func (ss *session) syncPaths(ctx context.Context, want map[netip.Prefix]Path) error {
	var errs errorList
	for prefix, p := range ss.advertised {
		if _, ok := want[prefix]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs.add(err)
			break
		}
		if err := ss.withdraw(ctx, p); err != nil {
			errs.add(err)
			continue
		}
		delete(ss.advertised, prefix)
	}
	for prefix, p := range want {
		if old, ok := ss.advertised[prefix]; ok && pathsEqual(old, p) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs.add(err)
			break
		}
		if err := ss.announce(ctx, p); err != nil {
			errs.add(err)
			continue
		}
		ss.advertised[prefix] = p
	}
	ss.announced.Store(int64(len(ss.advertised)))
	return errs.err(fmt.Sprintf("updating paths of BGP peer %s", ss.name))
}

// announce adds p (plus extra communities) to the RIB, replacing any path for the same prefix.
func (ss *session) announce(ctx context.Context, p Path, extra ...uint32) error {
	path, err := apiPath(p, extra...)
	if err != nil {
		return err
	}
	if _, err := ss.srv.srv.AddPath(ctx, &gobgpapi.AddPathRequest{TableType: gobgpapi.TableType_GLOBAL, Path: path}); err != nil {
		return fmt.Errorf("announcing %s: %w", p.Prefix, err)
	}
	return nil
}

// withdraw removes p from the RIB by naming the exact path. It deliberately does not use the UUID
// that AddPath returns: GoBGP v3.37 resolves a UUID by scanning its UUID map and formatting a key for
// every path in the RIB, so each call is O(RIB) — measured at 42 s to withdraw 10,000 paths, against
// 0.18 s by path. With one server per peer and an import policy that rejects everything, the only
// path for a prefix in the RIB is ours, so naming it is exactly as precise. DeletePath without a path
// and UUID deletes every path; the path here is never nil.
func (ss *session) withdraw(ctx context.Context, p Path) error {
	path, err := apiPath(p)
	if err != nil {
		return err
	}
	if err := ss.srv.srv.DeletePath(ctx, &gobgpapi.DeletePathRequest{
		TableType: gobgpapi.TableType_GLOBAL,
		Family:    path.Family,
		Path:      path,
	}); err != nil {
		return fmt.Errorf("withdrawing %s: %w", p.Prefix, err)
	}
	return nil
}

// sentUpdates returns the number of UPDATE messages sent on the session so far.
func (ss *session) sentUpdates(ctx context.Context) uint64 {
	var n uint64
	_ = ss.srv.srv.ListPeer(ctx, &gobgpapi.ListPeerRequest{Address: ss.cfg.Address.String()}, func(p *gobgpapi.Peer) {
		if m := p.GetState().GetMessages().GetSent(); m != nil {
			n = m.Update
		}
	})
	return n
}

// onEvent receives GoBGP's peer-state events.
func (ss *session) onEvent(r *gobgpapi.WatchEventResponse) {
	ev := r.GetPeer()
	if ev == nil || ev.Type != gobgpapi.WatchEventResponse_PeerEvent_STATE {
		return
	}
	ss.setState(stateFromAPI(ev.GetPeer().GetState().GetSessionState()))
}

func (ss *session) setState(st SessionState) {
	ss.mu.Lock()
	prev := ss.state
	if ss.stopping || st == prev {
		ss.mu.Unlock()
		return
	}
	ss.state = st
	up, wasUp := st == StateEstablished, prev == StateEstablished
	if up != wasUp {
		ss.since = time.Now()
	}
	var warn bool
	switch {
	case up:
		ss.attempts, ss.warnAt, ss.lastError = 0, firstNotEstablishedWarning, ""
	case wasUp:
		ss.attempts, ss.warnAt = 0, firstNotEstablishedWarning
	case (prev == StateOpenSent || prev == StateOpenConfirm) && (st == StateIdle || st == StateActive || st == StateConnect):
		// The TCP connection came up but the OPEN exchange failed (wrong ASN, router ID clash,
		// unsupported capability): one more failed attempt.
		warn = ss.failedAttempt()
	}
	attempts, lastError := ss.attempts, ss.lastError
	if wasUp && !up {
		if ss.downReason != "" {
			lastError, ss.lastError = ss.downReason, ss.downReason
		}
		ss.downReason = ""
	}
	ss.mu.Unlock()

	// GoBGP only reports connect errors as debug lines; ask for them while the session is down.
	ss.srv.log.wantDebug.Store(!up)
	addr := ss.cfg.Address.String()
	switch {
	case up:
		ss.log.Info("BGP session established", "peer", ss.name, "address", addr)
	case wasUp:
		ss.log.Info("BGP session lost", "peer", ss.name, "address", addr, "state", st, "reason", lastError)
	default:
		ss.log.V(1).Info("BGP session state changed", "peer", ss.name, "address", addr, "from", prev, "to", st)
	}
	if warn {
		ss.logNotEstablished(st, attempts, lastError)
	}
}

// onProblem receives GoBGP's problem reports (see gobgpLogger).
func (ss *session) onProblem(problem string, connectFailed bool) {
	ss.mu.Lock()
	if ss.stopping {
		ss.mu.Unlock()
		return
	}
	ss.lastError = problem
	if strings.HasPrefix(problem, peerDown) {
		ss.downReason = problem
	}
	var warn bool
	if connectFailed && ss.state != StateEstablished {
		warn = ss.failedAttempt()
	}
	st, attempts := ss.state, ss.attempts
	ss.mu.Unlock()
	if warn {
		ss.logNotEstablished(st, attempts, problem)
	}
}

// failedAttempt counts a failed attempt and reports whether it is time to log. ss.mu must be held.
func (ss *session) failedAttempt() bool {
	ss.attempts++
	if ss.attempts < ss.warnAt {
		return false
	}
	ss.warnAt *= 2
	return true
}

func (ss *session) logNotEstablished(st SessionState, attempts int, lastError string) {
	ss.log.Info("BGP session not established", "peer", ss.name, "address", ss.cfg.Address.String(),
		"state", st, "failedAttempts", attempts, "lastError", lastError, "hint", notEstablishedHint)
}

func (ss *session) status() PeerStatus {
	ss.mu.Lock()
	st := PeerStatus{
		Name:      ss.name,
		Address:   ss.cfg.Address,
		State:     ss.state,
		Up:        ss.state == StateEstablished,
		Announced: int(ss.announced.Load()),
		Since:     ss.since,
		LastError: ss.lastError,
	}
	ss.mu.Unlock()
	st.BFDState = ss.bfdState()
	return st
}

// liveState asks GoBGP for the session's state at this moment. ss.state, fed by the event watch,
// lags it: GoBGP hands events to watchers through a queue and a goroutine of their own, so a session
// that GoBGP already runs as Established (and sends UPDATEs on) can still read OpenSent there. Every
// decision about what to send to the router is taken from liveState, never from ss.state; ss.state
// only feeds Status, metrics and logs. A server that cannot answer reads as StateUnknown.
func (ss *session) liveState(ctx context.Context) SessionState {
	st := StateUnknown
	if err := ss.srv.srv.ListPeer(ctx, &gobgpapi.ListPeerRequest{Address: ss.cfg.Address.String()}, func(p *gobgpapi.Peer) {
		st = stateFromAPI(p.GetState().GetSessionState())
	}); err != nil {
		return StateUnknown
	}
	return st
}

func stateFromAPI(s gobgpapi.PeerState_SessionState) SessionState {
	switch s {
	case gobgpapi.PeerState_IDLE:
		return StateIdle
	case gobgpapi.PeerState_CONNECT:
		return StateConnect
	case gobgpapi.PeerState_ACTIVE:
		return StateActive
	case gobgpapi.PeerState_OPENSENT:
		return StateOpenSent
	case gobgpapi.PeerState_OPENCONFIRM:
		return StateOpenConfirm
	case gobgpapi.PeerState_ESTABLISHED:
		return StateEstablished
	}
	return StateUnknown
}

// checkPeer validates c for the peer called name and returns it with defaults filled in, so that
// two configs that mean the same compare equal.
func checkPeer(name string, c PeerConfig) (PeerConfig, error) {
	bad := func(format string, args ...any) (PeerConfig, error) {
		return PeerConfig{}, fmt.Errorf("%w %q: %s", ErrInvalidPeer, name, fmt.Sprintf(format, args...))
	}
	if c.Name != "" && c.Name != name {
		return bad("config name %q differs from the key", c.Name)
	}
	c.Name = name
	c.Address = c.Address.Unmap()
	if !c.Address.IsValid() || c.Address.IsUnspecified() {
		return bad("address %q is not a usable IP address", c.Address)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.ASN == 0 || c.LocalASN == 0 {
		return bad("ASN and local ASN must both be set (got %d and %d)", c.ASN, c.LocalASN)
	}
	c.SourceAddress = c.SourceAddress.Unmap()
	if c.SourceAddress.IsValid() && familyOf(c.SourceAddress) != familyOf(c.Address) {
		return bad("source address %s and peer address %s are of different families", c.SourceAddress, c.Address)
	}
	c.RouterID = c.RouterID.Unmap()
	if !c.RouterID.IsValid() && c.SourceAddress.Is4() {
		c.RouterID = c.SourceAddress
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		return bad("router ID %q is not an IPv4 address (BGP identifiers are 32 bits)", c.RouterID)
	}
	if c.HoldTime < 0 || c.KeepaliveTime < 0 || c.ConnectRetryTime < 0 || c.RestartTime < 0 {
		return bad("durations must not be negative")
	}
	if c.HoldTime != 0 && c.HoldTime < minHoldTime {
		return bad("hold time %s is below the minimum of %s", c.HoldTime, minHoldTime)
	}
	if c.KeepaliveTime != 0 && c.HoldTime != 0 && c.KeepaliveTime > c.HoldTime {
		return bad("keepalive time %s exceeds the hold time %s", c.KeepaliveTime, c.HoldTime)
	}
	if c.GracefulRestart && c.RestartTime == 0 {
		c.RestartTime = DefaultRestartTime
	}
	if c.RestartTime > maxRestartTime {
		return bad("restart time %s exceeds the maximum of %s", c.RestartTime, maxRestartTime)
	}
	return c, nil
}

// changedFields names the PeerConfig fields that differ, for the reset log line (values are left out:
// one of them may be the password).
func changedFields(a, b PeerConfig) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		if va.Field(i).Interface() != vb.Field(i).Interface() {
			out = append(out, va.Type().Field(i).Name)
		}
	}
	return out
}

// seconds converts d to GoBGP's whole seconds, never rounding a set value down to 0 (unset).
func seconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return max(uint64(d/time.Second), 1)
}

func gobgpGlobal(c PeerConfig) *gobgpapi.Global {
	af := oc.AFI_SAFI_TYPE_IPV4_UNICAST
	if familyOf(c.Address) == familyIPv6 {
		af = oc.AFI_SAFI_TYPE_IPV6_UNICAST
	}
	return &gobgpapi.Global{
		Asn:      c.LocalASN,
		RouterId: c.RouterID.String(),
		// Never listen: every session dials out, and a listening socket would take the node's
		// port 179 from anything else.
		ListenPort: -1,
		// Only the session's family has a table, which keeps GoBGP's per-family walks short.
		Families: []uint32{uint32(oc.AfiSafiTypeToIntMap[af])},
	}
}

func gobgpPeer(c PeerConfig) *gobgpapi.Peer {
	fam := familyOf(c.Address)
	p := &gobgpapi.Peer{
		Conf: &gobgpapi.PeerConf{
			NeighborAddress: c.Address.String(),
			PeerAsn:         c.ASN,
			LocalAsn:        c.LocalASN,
			AuthPassword:    c.Password,
			Description:     c.Name,
		},
		// After a session drops, GoBGP waits a fixed 5 s (idle hold) before it reconnects; its
		// IdleHoldTimeAfterReset applies to explicit resets (the speaker's only one is the prefix
		// limit's), and is the same 5 s.
		Timers: &gobgpapi.Timers{Config: &gobgpapi.TimersConfig{
			ConnectRetry:           seconds(c.ConnectRetryTime),
			HoldTime:               seconds(c.HoldTime),
			KeepaliveInterval:      seconds(c.KeepaliveTime),
			IdleHoldTimeAfterReset: idleHoldAfterReset,
		}},
		Transport: &gobgpapi.Transport{RemotePort: uint32(c.Port)},
		AfiSafis: []*gobgpapi.AfiSafi{{
			Config: &gobgpapi.AfiSafiConfig{Family: fam.api(), Enabled: true},
			// The per-family GR flag puts the family in the capability's forwarding-state tuples;
			// without it the router would not keep the family's routes.
			MpGracefulRestart: &gobgpapi.MpGracefulRestart{Config: &gobgpapi.MpGracefulRestartConfig{Enabled: c.GracefulRestart}},
		}},
	}
	if c.SourceAddress.IsValid() {
		p.Transport.LocalAddress = c.SourceAddress.String()
	}
	if c.EBGPMultihopTTL > 1 && !c.ibgp() {
		p.EbgpMultihop = &gobgpapi.EbgpMultihop{Enabled: true, MultihopTtl: uint32(c.EBGPMultihopTTL)}
	}
	if c.GracefulRestart {
		// Every GoBGP peer the speaker creates comes up as a restart (RFC 4724 §4.1): the OPEN
		// carries the Restart State bit and, for the session's family, Forwarding State preserved,
		// which is true: the node forwards with kube-proxy, whatever the speaker does. Without it a
		// router that kept our routes as stale across a speaker crash drops them all the moment the
		// new session is up (RFC 4724 §4.2; FRR clears them at once), and traffic has no route until
		// our UPDATEs arrive: a gap of milliseconds that a lab request fell into as "no route to host"
		// (docs/operations.md). GoBGP then holds our paths until the router's End-of-RIB (at most
		// restartDeferral), sends them and its own End-of-RIB, and only that ends the router's
		// graceful restart, removing what we no longer announce. A session that is new to the router
		// (a new BGPPeer, a reset after a settings change) has nothing stale there; it only waits the
		// same End-of-RIB. GoBGP's own reconnects (the same peer after a drop) carry neither bit.
		p.GracefulRestart = &gobgpapi.GracefulRestart{
			Enabled: true, RestartTime: uint32(seconds(c.RestartTime)),
			LocalRestarting: true, DeferralTime: restartDeferral,
		}
	}
	return p
}
