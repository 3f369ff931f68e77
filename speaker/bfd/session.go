package bfd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// Defaults of Timers, FRR's.
const (
	DefaultInterval   = 300 * time.Millisecond
	DefaultDetectMult = 3
)

// Bounds of the configurable timers. Below 10 ms a userspace implementation on a busy node declares
// healthy peers dead; above a minute BFD is pointless next to BGP's own hold time.
const (
	MinInterval = 10 * time.Millisecond
	MaxInterval = 60 * time.Second
)

// adminDownWait bounds how long Stop keeps sending AdminDown while waiting for the remote to
// acknowledge it (by reporting Down).
const adminDownWait = 2 * time.Second

// SessionConfig is one single-hop session.
type SessionConfig struct {
	// Name identifies the session in logs and metrics: the BGP peer's name.
	Name string
	// Remote is the peer's address.
	Remote netip.Addr
	// Local is the address the session sends from: the BGP session's local address. When invalid,
	// the address the kernel routes to Remote from is used, as it is for the BGP session.
	Local netip.Addr
	// Timers are the intervals and multiplier; zero fields take the defaults (300 ms, 300 ms, 3).
	Timers Timers
}

// SessionStatus is a point-in-time view of a session.
type SessionStatus struct {
	// Name is the session's name.
	Name string
	// Local and Remote are its addresses; Local is the one actually used.
	Local, Remote netip.Addr
	// State is the local state; Up is State == StateUp.
	State State
	Up    bool
	// Diag is the local diagnostic: why the session last went down.
	Diag Diag
	// RemoteState and RemoteDiag are as the remote last reported them.
	RemoteState State
	RemoteDiag  Diag
	// Downs counts the times the session left Up. LastDownBenign says the last of them was no
	// path failure (see benignDown): clients should not tear anything down for it (RFC 5882 §3.2).
	Downs          uint64
	LastDownBenign bool
	// LocalDiscriminator and RemoteDiscriminator identify the session on each side (0: not known).
	LocalDiscriminator, RemoteDiscriminator uint32
	// TxInterval is the periodic interval before jitter; DetectionTime is how long the session
	// waits for a packet before it declares the remote down (0 while nothing was heard).
	TxInterval, DetectionTime time.Duration
	// Polling is true while a Poll Sequence (a timer change) is outstanding.
	Polling bool
	// Since is when State last changed.
	Since time.Time
	// Transitions counts state changes; Up and Down counts are what flap alarms need.
	Transitions uint64
	// Received and Sent count valid packets received and packets sent.
	Received, Sent uint64
	// LastReceived is when the last valid packet arrived; zero if none did.
	LastReceived time.Time
}

// Session is one running BFD session; Manager.Add returns it.
type Session struct {
	m      *Manager
	name   string
	remote netip.Addr
	local  netip.Addr
	discr  uint32
	conn   *net.UDPConn
	log    logr.Logger

	rx      chan Packet
	ops     chan func(*fsm, time.Time)
	stop    chan struct{}
	done    chan struct{}
	changes chan struct{}

	mu     sync.Mutex
	status SessionStatus

	received, sent, sendErrors atomic.Uint64
	stopOnce                   sync.Once
	// ack is closed by run once AdminDown went out and the remote acknowledged it (or was never
	// heard from); only run touches it, after Stop's operation set it.
	ack chan struct{}
}

// Changes is signalled (coalescing: one pending signal at most) whenever the session's state
// changes; read Status for the new one. It is never closed.
func (s *Session) Changes() <-chan struct{} { return s.changes }

// Status returns the session's current state.
func (s *Session) Status() SessionStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Received, st.Sent = s.received.Load(), s.sent.Load()
	return st
}

// SetTimers changes the intervals and multiplier in place: a Poll Sequence carries the change to
// the remote, and the session never goes down for it. Zero fields take the defaults.
func (s *Session) SetTimers(t Timers) error {
	t, err := checkTimers(t)
	if err != nil {
		return err
	}
	select {
	case s.ops <- func(m *fsm, now time.Time) { m.setTimers(now, t) }:
		return nil
	case <-s.done:
		return ErrClosed
	}
}

// Stop takes the session administratively down, so the remote does not treat the end of the
// packets as a failure (RFC 5880 §6.8.16), then closes it: it sends AdminDown until the remote
// reports Down (at once when the remote was never heard from), at most a couple of seconds, cut
// short when ctx ends. Stop is idempotent.
func (s *Session) Stop(ctx context.Context) {
	s.stopOnce.Do(func() {
		acked := make(chan struct{})
		select {
		case s.ops <- func(m *fsm, now time.Time) { m.adminDown(now); s.ack = acked }:
			t := time.NewTimer(adminDownWait)
			select {
			case <-acked:
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		case <-s.done:
		}
		s.close()
	})
}

// close ends the session without AdminDown (its goroutine, its socket, its registration).
func (s *Session) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.m.remove(s)
	_ = s.conn.Close()
}

// deliver hands a demultiplexed packet to the session's goroutine, dropping it when the goroutine
// is behind (a flood must not grow memory).
func (s *Session) deliver(p Packet) bool {
	select {
	case s.rx <- p:
		return true
	default:
		return false
	}
}

// run is the session's goroutine: it owns the state machine.
func (s *Session) run(m *fsm) {
	defer close(s.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	buf := make([]byte, 0, packetLen)
	var acked bool // the remote reported Down after our AdminDown
	s.publish(m, time.Now(), false)
	for {
		now := time.Now()
		changed := m.expire(now)
		for {
			p, ok := m.poll(now)
			if !ok {
				break
			}
			if _, err := s.conn.Write(p.Append(buf[:0])); err != nil {
				// A dead peer answers with ICMP port unreachable, which the next write reports; the
				// detection timer, not the socket, decides the session's state.
				if n := s.sendErrors.Add(1); n == 1 || n%100 == 0 {
					s.log.V(1).Info("Could not send BFD packet", "peer", s.name, "remote", s.remote.String(), "error", err.Error(), "failures", n)
				}
				continue
			}
			s.sent.Add(1)
			if s.ack != nil && p.State == StateAdminDown && (acked || m.remoteDiscr == 0) {
				close(s.ack)
				s.ack = nil
			}
		}
		s.publish(m, now, changed)

		next := m.next()
		wait := time.Duration(0)
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-s.stop:
			return
		case p := <-s.rx:
			s.received.Add(1)
			s.mu.Lock()
			s.status.LastReceived = time.Now()
			s.mu.Unlock()
			if s.ack != nil && (p.State == StateDown || p.State == StateAdminDown) {
				acked = true
			}
			if m.receive(time.Now(), p) {
				s.publish(m, time.Now(), true)
			}
		case op := <-s.ops:
			before := m.state
			op(m, time.Now())
			if m.state != before {
				s.publish(m, time.Now(), true)
			}
		case <-timer.C:
		}
	}
}

// publish copies the state machine into the status; changed signals Changes and logs.
func (s *Session) publish(m *fsm, now time.Time, changed bool) {
	s.mu.Lock()
	prev := s.status.State
	st := &s.status
	if changed && st.State != m.state {
		st.Since = now
		st.Transitions++
	}
	st.State, st.Up, st.Diag = m.state, m.state == StateUp, m.localDiag
	st.RemoteState, st.RemoteDiag, st.RemoteDiscriminator = m.remoteState, m.remoteDiag, m.remoteDiscr
	if changed && prev == StateUp && m.state != StateUp {
		st.Downs++
		st.LastDownBenign = benignDown(m)
	}
	st.TxInterval, st.Polling = m.txInterval(), m.polling
	st.DetectionTime = 0
	if !m.detectedAt.IsZero() {
		st.DetectionTime = m.detectTime()
	}
	s.mu.Unlock()
	if !changed || prev == m.state {
		return
	}
	select {
	case s.changes <- struct{}{}:
	default:
	}
	kv := []any{"peer", s.name, "remote", s.remote.String(), "local", s.local.String(), "from", prev.String(), "to", m.state.String()}
	switch {
	case m.state == StateUp:
		s.log.Info("BFD session up", kv...)
	case prev == StateUp:
		s.log.Info("BFD session down", append(kv, "diag", m.localDiag.String(), "remoteState", m.remoteState.String(),
			"remoteDiag", m.remoteDiag.String(), "remoteReplacedSession", m.remoteReplaced, "remoteDiscriminator", m.remoteDiscr)...)
	default:
		s.log.V(1).Info("BFD session state changed", append(kv, "diag", m.localDiag.String())...)
	}
}

// benignDown reports whether the session, just gone from Up to m.state, went down without a path
// failure: we stopped it; or the remote signalled Down without reporting a failure of its own — it
// took the session administratively down, replaced it (a new discriminator), or reports no
// diagnostic or "neighbor signaled down" (FRR sends that from a session it deletes when bgpd
// re-registers it with its local address, a moment after the BGP session comes up). A detection
// timeout on either side, or a remote reporting its path or forwarding plane down, is a failure.
func benignDown(m *fsm) bool {
	switch {
	case m.state == StateAdminDown:
		return true
	case m.localDiag != DiagNeighborDown:
		return false
	case m.remoteReplaced || m.remoteState == StateAdminDown:
		return true
	}
	switch m.remoteDiag {
	case DiagNone, DiagNeighborDown, DiagAdminDown:
		return true
	}
	return false
}

// checkTimers fills in defaults and refuses what is out of bounds.
func checkTimers(t Timers) (Timers, error) {
	if t.DesiredMinTx == 0 {
		t.DesiredMinTx = DefaultInterval
	}
	if t.RequiredMinRx == 0 {
		t.RequiredMinRx = DefaultInterval
	}
	if t.DetectMult == 0 {
		t.DetectMult = DefaultDetectMult
	}
	for _, d := range []time.Duration{t.DesiredMinTx, t.RequiredMinRx} {
		if d < MinInterval || d > MaxInterval {
			return Timers{}, fmt.Errorf("%w: interval %s is not between %s and %s", ErrInvalidConfig, d, MinInterval, MaxInterval)
		}
	}
	return t, nil
}

// newSession opens the transmit socket and starts the goroutine; Manager.Add registers it.
func newSession(m *Manager, cfg SessionConfig, discr uint32) (*Session, error) {
	conn, err := dialTx(cfg.Local, cfg.Remote)
	if err != nil {
		return nil, err
	}
	local := cfg.Local
	if ap, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		if a, ok := netip.AddrFromSlice(ap.IP); ok {
			local = a.Unmap().WithZone(ap.Zone)
		}
	}
	s := &Session{
		m: m, name: cfg.Name, remote: cfg.Remote, local: local, discr: discr, conn: conn, log: m.log,
		rx:      make(chan Packet, 16),
		ops:     make(chan func(*fsm, time.Time)),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		changes: make(chan struct{}, 1),
	}
	now := time.Now()
	s.status = SessionStatus{Name: cfg.Name, Local: local, Remote: cfg.Remote, State: StateDown, LocalDiscriminator: discr, Since: now}
	return s, nil
}

// ErrInvalidConfig wraps every problem with a SessionConfig.
var ErrInvalidConfig = errors.New("invalid BFD session")

// ErrClosed is returned for operations on a stopped session or a closed Manager.
var ErrClosed = errors.New("bfd session closed")

// jitter is the production jitter source.
func jitter() float64 { return rand.Float64() }
