package bfd

import (
	"time"
)

// slowTxInterval is the least DesiredMinTx advertised while a session is not Up (RFC 5880 §6.8.3).
const slowTxInterval = time.Second

// initialRemoteMinRx is bfd.RemoteMinRxInterval before anything was heard: 1 µs (RFC 5880 §6.8.1),
// so the first packets go out at our own slow rate.
const initialRemoteMinRx = time.Microsecond

// Timers are a session's configured intervals.
type Timers struct {
	// DesiredMinTx is the fastest we want to send while Up (bfd.DesiredMinTxInterval).
	DesiredMinTx time.Duration
	// RequiredMinRx is the fastest we accept packets (bfd.RequiredMinRxInterval); the remote's
	// detection time of us, and our detection time of it, follow from it.
	RequiredMinRx time.Duration
	// DetectMult is the multiplier the remote applies to detect us down.
	DetectMult uint8
}

// fsm is the RFC 5880 state of one session in asynchronous mode, as a pure value: time is passed in
// and randomness (the transmit jitter) is injected, so the whole protocol is table-testable with a
// fake clock. It is not safe for concurrent use; the session's goroutine owns it.
//
// The caller loops: hand received packets to receive, call expire and poll at next(), send what
// poll returns.
type fsm struct {
	localDiscr uint32
	cfg        Timers
	// jitter returns a value in [0, 1); each periodic interval is reduced by up to 25 % of it
	// (§6.8.7), up to 10 % at least when DetectMult is 1.
	jitter func() float64

	state       State
	localDiag   Diag
	remoteState State
	remoteDiag  Diag
	remoteDiscr uint32
	// remoteMinRx is bfd.RemoteMinRxInterval; remoteDesiredTx and remoteMult are the remote's
	// DesiredMinTx and DetectMult as last received.
	remoteMinRx     time.Duration
	remoteDesiredTx time.Duration
	remoteMult      uint8

	// advTx and advRx are bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval: the values we
	// put on the wire. txBase and rxBase are the values in force for our own transmit interval and
	// our detection time; they differ from the advertised ones only while a Poll Sequence is
	// outstanding, for an increase of DesiredMinTx or a decrease of RequiredMinRx (§6.8.3).
	advTx, advRx   time.Duration
	txBase, rxBase time.Duration
	polling        bool
	// finalDue: a Poll arrived and the answering Final has not been sent yet.
	finalDue bool

	// remoteReplaced: the session last left Init or Up on a packet from a new remote session (a My
	// Discriminator other than the one learnt), not on a failure: a router that re-creates its
	// session (FRR does when bgpd registers or reconfigures it) starts it Down.
	remoteReplaced bool

	nextTx     time.Time // next periodic transmission
	detectedAt time.Time // detection deadline; zero while not armed
	lastRx     time.Time // last valid packet
}

// newFSM returns a Down session that sends its first packet at now.
func newFSM(localDiscr uint32, cfg Timers, now time.Time, jitter func() float64) *fsm {
	m := &fsm{
		localDiscr:  localDiscr,
		cfg:         cfg,
		jitter:      jitter,
		state:       StateDown,
		remoteState: StateDown,
		remoteMinRx: initialRemoteMinRx,
		nextTx:      now,
	}
	m.advTx, m.advRx = m.wantTx(), cfg.RequiredMinRx
	m.txBase, m.rxBase = m.advTx, m.advRx
	return m
}

// wantTx is the DesiredMinTx to advertise in the current state.
func (m *fsm) wantTx() time.Duration {
	if m.state != StateUp {
		return max(m.cfg.DesiredMinTx, slowTxInterval)
	}
	return m.cfg.DesiredMinTx
}

// txInterval is the periodic interval before jitter: max(bfd.DesiredMinTxInterval in force,
// bfd.RemoteMinRxInterval) (§6.8.7).
func (m *fsm) txInterval() time.Duration { return max(m.txBase, m.remoteMinRx) }

// detectTime is the asynchronous-mode detection time (§6.8.4): the remote's DetectMult times the
// larger of our RequiredMinRx in force and the remote's DesiredMinTx.
func (m *fsm) detectTime() time.Duration {
	return time.Duration(m.remoteMult) * max(m.rxBase, m.remoteDesiredTx)
}

// reconsider recomputes the advertised intervals after a state or configuration change and starts
// a Poll Sequence when they changed (§6.8.3). An interval change that could make the remote declare
// us down before it has seen the new value (a slower transmit rate, a faster required receive rate)
// only takes effect with the Final; the others take effect at once.
func (m *fsm) reconsider(now time.Time) {
	tx, rx := m.wantTx(), m.cfg.RequiredMinRx
	if tx == m.advTx && rx == m.advRx {
		return
	}
	m.advTx, m.advRx = tx, rx
	if m.state != StateUp || tx < m.txBase {
		m.txBase = tx
	}
	if m.state != StateUp || rx > m.rxBase {
		m.rxBase = rx
	}
	m.polling = true
	m.rescheduleTx(now)
	m.armDetect()
}

// rescheduleTx keeps the next periodic packet within the new interval, so a faster rate takes
// effect now rather than after the old, longer interval.
func (m *fsm) rescheduleTx(now time.Time) {
	if next := now.Add(m.interval()); next.Before(m.nextTx) {
		m.nextTx = next
	}
}

// interval is one jittered periodic interval.
func (m *fsm) interval() time.Duration {
	base := m.txInterval()
	reduce := 0.25 * m.jitter()
	if m.cfg.DetectMult == 1 {
		reduce = 0.10 + 0.15*m.jitter()
	}
	return time.Duration(float64(base) * (1 - reduce))
}

// armDetect (re)starts the detection timer from the last received packet, if any.
func (m *fsm) armDetect() {
	if m.lastRx.IsZero() || m.remoteMult == 0 {
		return
	}
	m.detectedAt = m.lastRx.Add(m.detectTime())
}

// setState moves to st with diag and reports whether the state changed.
func (m *fsm) setState(now time.Time, st State, diag Diag) bool {
	if st == m.state {
		return false
	}
	m.state, m.localDiag = st, diag
	m.reconsider(now)
	// A state change is sent at once, not at the next periodic interval: the remote's three-way
	// handshake, and its view of a failure, should not wait for the slow rate.
	m.nextTx = now
	return true
}

// receive processes a packet already checked by Parse and demultiplexed to this session
// (RFC 5880 §6.8.6 from "Set bfd.RemoteDiscr"). It reports whether the session state changed.
func (m *fsm) receive(now time.Time, p Packet) bool {
	replaced := m.remoteDiscr != 0 && p.MyDiscriminator != m.remoteDiscr
	// Learnt from every packet: a router may replace its session (new discriminator) at any time.
	m.remoteDiscr = p.MyDiscriminator
	m.remoteState, m.remoteDiag = p.State, p.Diag
	m.remoteMult = p.DetectMult
	m.remoteDesiredTx = p.DesiredMinTx
	if p.RequiredMinRx != m.remoteMinRx {
		m.remoteMinRx = p.RequiredMinRx
		m.rescheduleTx(now)
	}
	if p.Final && m.polling {
		m.polling = false
		m.txBase, m.rxBase = m.advTx, m.advRx
	}
	if p.Poll {
		m.finalDue = true
	}
	m.lastRx = now
	m.armDetect()

	if m.state == StateAdminDown {
		return false
	}
	if p.State == StateAdminDown || p.State == StateDown {
		m.remoteReplaced = replaced
	}
	if p.State == StateAdminDown {
		if m.state != StateDown {
			return m.setState(now, StateDown, DiagNeighborDown)
		}
		return false
	}
	switch m.state {
	case StateDown:
		switch p.State {
		case StateDown:
			return m.setState(now, StateInit, DiagNone)
		case StateInit:
			return m.setState(now, StateUp, DiagNone)
		}
	case StateInit:
		if p.State == StateInit || p.State == StateUp {
			return m.setState(now, StateUp, DiagNone)
		}
	case StateUp:
		if p.State == StateDown {
			return m.setState(now, StateDown, DiagNeighborDown)
		}
	}
	return false
}

// expire handles the detection timer (§6.8.4, §6.8.1): Init or Up go Down; and whatever the state,
// what was learnt about the remote is forgotten, so the next packets address it by Your
// Discriminator 0 again. It reports whether the session state changed.
func (m *fsm) expire(now time.Time) bool {
	if m.detectedAt.IsZero() || now.Before(m.detectedAt) {
		return false
	}
	m.detectedAt, m.lastRx = time.Time{}, time.Time{}
	m.remoteDiscr, m.remoteState, m.remoteMult, m.remoteDesiredTx = 0, StateDown, 0, 0
	m.remoteMinRx = initialRemoteMinRx
	m.finalDue = false
	if m.state == StateInit || m.state == StateUp {
		return m.setState(now, StateDown, DiagControlDetectExpired)
	}
	return false
}

// adminDown takes the session administratively down (§6.8.16); it keeps sending, so the remote
// learns it. It reports whether the state changed.
func (m *fsm) adminDown(now time.Time) bool {
	m.detectedAt = time.Time{}
	return m.setState(now, StateAdminDown, DiagAdminDown)
}

// setTimers changes the configured intervals; a change of the advertised ones runs a Poll Sequence
// and never takes the session down.
func (m *fsm) setTimers(now time.Time, t Timers) {
	m.cfg = t
	m.reconsider(now)
}

// poll returns the packet to send at now, if one is due: the Final answering a Poll at once, else
// the periodic packet when its time has come (none while the remote asks for no packets, a
// RequiredMinRx of 0, §6.8.7).
func (m *fsm) poll(now time.Time) (Packet, bool) {
	if m.finalDue {
		m.finalDue = false
		p := m.packet()
		p.Final, p.Poll = true, false
		return p, true
	}
	if now.Before(m.nextTx) {
		return Packet{}, false
	}
	if m.remoteMinRx == 0 {
		m.nextTx = now.Add(slowTxInterval)
		return Packet{}, false
	}
	m.nextTx = now.Add(m.interval())
	return m.packet(), true
}

func (m *fsm) packet() Packet {
	return Packet{
		Diag:              m.localDiag,
		State:             m.state,
		Poll:              m.polling,
		DetectMult:        m.cfg.DetectMult,
		MyDiscriminator:   m.localDiscr,
		YourDiscriminator: m.remoteDiscr,
		DesiredMinTx:      m.advTx,
		RequiredMinRx:     m.advRx,
	}
}

// next is when the caller must call expire and poll again.
func (m *fsm) next() time.Time {
	if m.finalDue {
		return time.Time{}
	}
	if !m.detectedAt.IsZero() && m.detectedAt.Before(m.nextTx) {
		return m.detectedAt
	}
	return m.nextTx
}
