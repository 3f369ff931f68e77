// Package bgp announces prefixes to routers over BGP. It is the only package in seamark that imports
// GoBGP: callers hand it plain values (peer settings and, per peer, the exact set of paths) and it
// diffs them against what is running.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seamark-io/seamark/speaker/bfd"
)

// Shutdown waits at most this long for the withdrawals to leave, and considers them sent once the
// UPDATE counters of every session stopped moving for settleQuiet.
const (
	settleMax   = 2 * time.Second
	settleQuiet = 200 * time.Millisecond
	settlePoll  = 50 * time.Millisecond
)

// Speaker is an embedded BGP speaker for one node.
//
// Design decisions:
//
//   - One GoBGP server per peer session. Each server's RIB holds exactly the paths (and attributes)
//     meant for that peer, with the peer's own local ASN and router ID, and no export policy is needed
//     to keep one peer's paths away from another. A change to one peer (even a reset) never touches
//     another's server.
//   - A session carries one address family, that of the peer's address: IPv4-unicast on an IPv4
//     session, IPv6-unicast (MP-BGP, RFC 4760) on an IPv6 session. IPv6 NLRI over an IPv4 session
//     would need an IPv6 next hop that the IPv4 session does not have (GoBGP would send the IPv4
//     session address), so paths of the other family are ignored for that peer; peer both families
//     to announce both.
//   - The next hop is left unspecified in every path; GoBGP fills in the session's local address
//     (SourceAddress, or what the kernel picked), for eBGP and iBGP.
//   - No listening socket (GoBGP ListenPort -1), and no passive peering. With one server per peer, a
//     passive session would need its own listener on the node's address and port 179; two passive
//     peers reached through the same node address cannot both bind it, and GoBGP v3 has no API to
//     hand an accepted connection to a server. Sharing one listening server would couple the
//     sessions that this design keeps apart, and the BGPPeer API has no passive field, so it is left
//     out.
//   - A global import policy rejects everything: nodes never learn routes.
//   - Graceful restart (RFC 4724), when enabled for a peer, advertises the capability with the restart
//     time and the session's family, so a router keeps our routes, marked stale, for the restart time
//     when the speaker dies without closing the session; every session the speaker creates comes up
//     as a restart, with the Restart State and Forwarding State bits, so the router keeps them until
//     our End-of-RIB instead of dropping them as the new session comes up (gobgpPeer). A planned
//     Shutdown withdraws instead, and a reset (settings change) closes the session with a CEASE
//     notification, after which the router drops the routes at once (the N-bit of RFC 8538 is not
//     advertised).
//   - BFD (speaker/bfd), when enabled for a peer, runs beside the session and only ever takes it down
//     after having been up: a BFD Down disables the GoBGP peer at once, a BFD Up re-creates it so it
//     connects at once (GoBGP's EnablePeer would wait its idle hold). A BGP session is never held
//     back waiting for BFD, so a router that runs BFD only for established sessions still peers.
//     BFD settings change in place, never resetting the BGP session.
//
// Reconcile, Shutdown, Status and the collectors are safe for concurrent use.
type Speaker struct {
	log logr.Logger
	bfd *bfd.Manager

	mu      sync.Mutex // serialises Reconcile and Shutdown
	stopped bool
	spare   []*pooledServer // stopped servers ready for reuse; guarded by mu

	sessMu   sync.RWMutex // guards the map, not the sessions
	sessions map[string]*session
}

// New returns a Speaker with no sessions.
func New(opts Options) *Speaker {
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Speaker{log: log, bfd: opts.BFD, sessions: make(map[string]*session)}
}

// reconcilePeer is the work Reconcile does for one desired peer.
type reconcilePeer struct {
	name    string
	cfg     PeerConfig
	want    map[netip.Prefix]Path
	skipped int
	cur     *session      // running session to update, or nil to start one
	srv     *pooledServer // server for a new session
	started *session
	err     error
}

// Reconcile makes the running sessions and their paths match desired (peer name → settings and
// paths). It is incremental: peers not in desired are removed, new peers are started, a peer whose
// PeerConfig changed is reset (only that one), and otherwise only the difference in paths is
// announced or withdrawn — a path change never resets a session.
//
// Errors do not stop the other peers. An invalid PeerConfig leaves that peer's running session as it
// is; invalid paths are skipped; a failed announcement or withdrawal is retried by the next
// Reconcile, since the speaker only records what GoBGP accepted. It returns ErrStopped after
// Shutdown.
func (s *Speaker) Reconcile(ctx context.Context, desired map[string]PeerDesired) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	var errs []error

	var work []*reconcilePeer
	for _, name := range slices.Sorted(maps.Keys(desired)) {
		d := desired[name]
		cfg, err := checkPeer(name, d.Config)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want, skipped, err := desiredPaths(d.Paths, familyOf(cfg.Address), cfg.ibgp())
		if err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", name, err))
		}
		work = append(work, &reconcilePeer{name: name, cfg: cfg, want: want, skipped: skipped, cur: s.session(name)})
	}

	for _, name := range slices.Sorted(maps.Keys(s.sessions)) {
		if _, ok := desired[name]; !ok {
			s.stopSession(ctx, s.sessions[name])
			s.log.Info("Removed BGP peer", "peer", name)
		}
	}
	for _, w := range work {
		// BFD settings are applied in place; every other setting resets the session.
		if w.cur != nil && w.cur.cfg != w.cfg.withoutBFD() {
			s.stopSession(ctx, w.cur)
			s.log.Info("Reset BGP session: the peer's settings changed", "peer", w.name,
				"address", w.cfg.Address.String(), "changed", changedFields(w.cur.cfg, w.cfg.withoutBFD()))
			w.cur = nil
		}
		if w.cur == nil {
			w.srv = s.takeServer()
		}
	}

	// Sessions are independent GoBGP servers, so peers are worked on in parallel.
	var wg sync.WaitGroup
	for _, w := range work {
		wg.Go(func() { s.reconcilePeer(ctx, w) })
	}
	wg.Wait()

	for _, w := range work {
		if w.err != nil {
			errs = append(errs, w.err)
		}
		if w.started != nil {
			s.sessMu.Lock()
			s.sessions[w.name] = w.started
			s.sessMu.Unlock()
		} else if w.srv != nil {
			s.spare = append(s.spare, w.srv)
		}
	}
	return errors.Join(errs...)
}

func (s *Speaker) reconcilePeer(ctx context.Context, w *reconcilePeer) {
	ss := w.cur
	if ss == nil {
		ss = newSession(w.name, w.cfg.withoutBFD(), s.log)
		pathErr, err := ss.start(ctx, w.srv, w.want)
		if err != nil {
			if !ss.stop(ctx) {
				w.srv = nil // not clean: never reused
			}
			w.err = errors.Join(pathErr, fmt.Errorf("starting BGP session with peer %s: %w", w.name, err))
			return
		}
		w.srv, w.started, w.err = nil, ss, pathErr
		s.log.Info("Added BGP peer", "peer", w.name, "address", w.cfg.Address.String(), "asn", w.cfg.ASN,
			"localASN", w.cfg.LocalASN, "family", ss.fam.String(), "paths", len(ss.advertised))
	} else {
		w.err = ss.syncPaths(ctx, w.want)
	}
	if err := ss.applyBFD(ctx, s.bfd, w.cfg.BFD); err != nil {
		w.err = errors.Join(w.err, err)
	}
	if w.skipped != ss.skipped {
		ss.skipped = w.skipped
		s.log.V(1).Info("Ignored paths of the family the BGP session does not carry", "peer", w.name,
			"family", ss.fam.String(), "ignored", w.skipped)
	}
}

// session returns the running session called name, or nil.
func (s *Speaker) session(name string) *session {
	s.sessMu.RLock()
	defer s.sessMu.RUnlock()
	return s.sessions[name]
}

// takeServer returns a stopped server from the pool or a new one. s.mu must be held.
func (s *Speaker) takeServer() *pooledServer {
	if n := len(s.spare); n > 0 {
		ps := s.spare[n-1]
		s.spare = s.spare[:n-1]
		return ps
	}
	return newPooledServer()
}

// stopSession stops ss and forgets it. s.mu must be held.
func (s *Speaker) stopSession(ctx context.Context, ss *session) {
	s.sessMu.Lock()
	delete(s.sessions, ss.name)
	s.sessMu.Unlock()
	if ss.stop(ctx) && !s.stopped {
		s.spare = append(s.spare, ss.srv)
	}
}

// Shutdown leaves BGP gracefully (RFC 8326): it re-announces every path with the GRACEFUL_SHUTDOWN
// community 65535:0 so routers move traffic away, waits drain (cut short when ctx is done), withdraws
// every path, waits until the withdrawals have been sent (the sessions' UPDATE counters settle, at most
// a couple of seconds), takes the BFD sessions administratively down, then closes the sessions. When ctx is done before the withdrawals, they are
// skipped: closing the sessions makes the routers drop the routes at once. Shutdown is idempotent;
// Reconcile fails with ErrStopped afterwards.
func (s *Speaker) Shutdown(ctx context.Context, drain time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.spare = nil

	s.sessMu.RLock()
	sessions := slices.SortedFunc(maps.Values(s.sessions), func(a, b *session) int { return strings.Compare(a.name, b.name) })
	s.sessMu.RUnlock()

	var errs []error
	var mu sync.Mutex
	each := func(f func(*session) error) {
		var wg sync.WaitGroup
		for _, ss := range sessions {
			wg.Go(func() {
				if err := f(ss); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}

	// Whether a session takes the GRACEFUL_SHUTDOWN announcement is decided from GoBGP's live state
	// (see session.liveState): the watched state can still say OpenSent for a session that came up
	// a moment ago, and skipping it would withdraw without warning the router.
	var candidates []string
	for _, ss := range sessions {
		if len(ss.advertised) == 0 {
			continue
		}
		if st := ss.liveState(ctx); st != StateEstablished {
			s.log.Info("Skipped graceful shutdown: session not established", "peer", ss.name, "state", st, "lastError", ss.status().LastError)
			continue
		}
		candidates = append(candidates, ss.name)
	}
	failed := map[string]bool{}
	each(func(ss *session) error {
		if !slices.Contains(candidates, ss.name) {
			return nil
		}
		var el errorList
		for _, p := range ss.advertised {
			el.add(ss.announce(ctx, p, GracefulShutdownCommunity))
		}
		err := el.err(fmt.Sprintf("announcing graceful shutdown to BGP peer %s", ss.name))
		if err != nil {
			mu.Lock()
			failed[ss.name] = true
			mu.Unlock()
		}
		return err
	})
	// Only the peers that took every announcement and are still up are
	// draining: the log line must not claim a drain the router never saw.
	var draining []string
	for _, ss := range sessions {
		if slices.Contains(candidates, ss.name) && !failed[ss.name] && ss.liveState(ctx) == StateEstablished {
			draining = append(draining, ss.name)
		}
	}
	if len(draining) > 0 && drain > 0 {
		s.log.Info("Announced graceful shutdown", "peers", draining, "drain", drain.String())
		t := time.NewTimer(drain)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			errs = append(errs, fmt.Errorf("waiting for the drain time: %w", ctx.Err()))
		}
	}

	if ctx.Err() == nil {
		each(func(ss *session) error {
			var el errorList
			for prefix, p := range ss.advertised {
				if err := ss.withdraw(ctx, p); err != nil {
					el.add(err)
					continue
				}
				delete(ss.advertised, prefix)
			}
			ss.announced.Store(int64(len(ss.advertised)))
			if ss.liveState(ctx) == StateEstablished {
				ss.waitSent(ctx)
			}
			return el.err(fmt.Sprintf("withdrawing paths from BGP peer %s", ss.name))
		})
	}

	// BFD goes AdminDown after the withdrawals and before the sessions close, so the router takes
	// the end for a planned one (RFC 5882 §3.2) rather than a failure.
	each(func(ss *session) error {
		ss.markStopping()
		ss.stopBFD(ctx)
		return nil
	})
	for _, ss := range sessions {
		s.stopSession(ctx, ss)
	}
	s.log.Info("Stopped BGP speaker", "peers", len(sessions))
	return errors.Join(errs...)
}

// waitSent waits until the session's UPDATE counter has not moved for settleQuiet, at most settleMax.
// GoBGP queues outgoing messages, so a returned DeletePath does not mean the router heard of it.
func (ss *session) waitSent(ctx context.Context) {
	deadline := time.Now().Add(settleMax)
	last, quietSince := ss.sentUpdates(ctx), time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(settlePoll)
		n := ss.sentUpdates(ctx)
		if n != last {
			last, quietSince = n, time.Now()
			continue
		}
		if time.Since(quietSince) >= settleQuiet {
			return
		}
	}
}

// Status returns the state of every session, sorted by peer name.
func (s *Speaker) Status() []PeerStatus {
	s.sessMu.RLock()
	out := make([]PeerStatus, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss.status())
	}
	s.sessMu.RUnlock()
	slices.SortFunc(out, func(a, b PeerStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

var (
	sessionUpDesc = prometheus.NewDesc("seamark_bgp_session_up",
		"Whether the BGP session with the peer is established (1) or not (0).", []string{"peer"}, nil)
	announcedDesc = prometheus.NewDesc("seamark_bgp_announced_prefixes",
		"Number of prefixes the speaker announces to the peer.", []string{"peer"}, nil)
	sessionStateDesc = prometheus.NewDesc("seamark_bgp_session_state",
		"State of the BGP session with the peer, numbered as in RFC 4271: 1 Idle, 2 Connect, 3 Active, 4 OpenSent, 5 OpenConfirm, 6 Established (0 unknown).",
		[]string{"peer"}, nil)
)

// stateNumber is the RFC 4271 number of a session state (0 for Unknown).
var stateNumber = map[SessionState]float64{StateIdle: 1, StateConnect: 2, StateActive: 3, StateOpenSent: 4, StateOpenConfirm: 5, StateEstablished: 6}

// Collectors returns the speaker's Prometheus collectors for the caller to register:
// seamark_bgp_session_up{peer}, seamark_bgp_session_state{peer} and seamark_bgp_announced_prefixes{peer}:
// one series each per peer of the node. Values are read at scrape time, so removed peers disappear with
// them.
func (s *Speaker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{(*collector)(s)}
}

type collector Speaker

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sessionUpDesc
	ch <- sessionStateDesc
	ch <- announcedDesc
}

// Collect implements prometheus.Collector from the sessions' status, read now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range (*Speaker)(c).Status() {
		up := 0.0
		if st.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(sessionUpDesc, prometheus.GaugeValue, up, st.Name)
		ch <- prometheus.MustNewConstMetric(sessionStateDesc, prometheus.GaugeValue, stateNumber[st.State], st.Name)
		ch <- prometheus.MustNewConstMetric(announcedDesc, prometheus.GaugeValue, float64(st.Announced), st.Name)
	}
}
