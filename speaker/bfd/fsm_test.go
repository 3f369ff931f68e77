package bfd

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

var defaultTimers = Timers{DesiredMinTx: 300 * ms, RequiredMinRx: 300 * ms, DetectMult: 3}

// harness drives one fsm with a fake clock and records what it sends.
type harness struct {
	t    *testing.T
	m    *fsm
	now  time.Time
	sent []Packet
	log  []string
}

func newHarness(t *testing.T, timers Timers, jit float64) *harness {
	h := &harness{t: t, now: t0}
	h.m = newFSM(0xA, timers, t0, func() float64 { return jit })
	h.flush()
	return h
}

// flush runs expiry and sends what is due at h.now.
func (h *harness) flush() {
	if h.m.expire(h.now) {
		h.log = append(h.log, fmt.Sprintf("%s: expired, now %s", h.now.Sub(t0), h.m.state))
	}
	for {
		p, ok := h.m.poll(h.now)
		if !ok {
			return
		}
		h.sent = append(h.sent, p)
		h.log = append(h.log, fmt.Sprintf("%s: sent %s P=%v F=%v tx=%s rx=%s your=%d", h.now.Sub(t0), p.State, p.Poll, p.Final, p.DesiredMinTx, p.RequiredMinRx, p.YourDiscriminator))
	}
}

// advance moves the clock by d, stopping at every deadline on the way.
func (h *harness) advance(d time.Duration) {
	end := h.now.Add(d)
	for {
		next := h.m.next()
		if next.IsZero() {
			next = h.now
		}
		if next.After(end) {
			break
		}
		h.now = next
		h.flush()
	}
	h.now = end
	h.flush()
}

// recv hands p to the fsm at the current time.
func (h *harness) recv(p Packet) {
	if p.MyDiscriminator == 0 {
		p.MyDiscriminator = 0xB
	}
	if p.DetectMult == 0 {
		p.DetectMult = 3
	}
	if h.m.receive(h.now, p) {
		h.log = append(h.log, fmt.Sprintf("%s: received %s, now %s", h.now.Sub(t0), p.State, h.m.state))
	}
	h.flush()
}

func (h *harness) last() Packet {
	h.t.Helper()
	if len(h.sent) == 0 {
		h.t.Fatalf("nothing sent; log:\n%s", strings.Join(h.log, "\n"))
	}
	return h.sent[len(h.sent)-1]
}

func (h *harness) fail(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("%s\nlog:\n%s", fmt.Sprintf(format, args...), strings.Join(h.log, "\n"))
}

// remote is a packet from the remote at 300 ms × 3.
func remote(st State, your uint32) Packet {
	return Packet{State: st, YourDiscriminator: your, DetectMult: 3, MyDiscriminator: 0xB, DesiredMinTx: 300 * ms, RequiredMinRx: 300 * ms}
}

// up brings a harness Up by the three-way handshake.
func up(h *harness) {
	h.recv(remote(StateDown, 0))
	h.recv(remote(StateUp, 0xA))
	if h.m.state != StateUp {
		h.fail("state %s, want Up", h.m.state)
	}
}

func TestFSMHandshake(t *testing.T) {
	tests := []struct {
		name      string
		steps     func(h *harness)
		wantState State
		wantDiag  Diag
		check     func(h *harness)
	}{
		{
			name:      "a new session sends Down at the slow rate, knowing no remote discriminator",
			steps:     func(*harness) {},
			wantState: StateDown,
			check: func(h *harness) {
				p := h.last()
				if p.State != StateDown || p.YourDiscriminator != 0 || p.DesiredMinTx != time.Second || p.RequiredMinRx != 300*ms || p.MyDiscriminator != 0xA {
					h.fail("first packet %+v", p)
				}
			},
		},
		{
			name:      "Down hears Down: Init, answered at once with the remote's discriminator",
			steps:     func(h *harness) { h.advance(10 * ms); h.recv(remote(StateDown, 0)) },
			wantState: StateInit,
			check: func(h *harness) {
				if p := h.last(); p.State != StateInit || p.YourDiscriminator != 0xB {
					h.fail("packet after Down %+v", p)
				}
				if len(h.sent) != 2 {
					h.fail("%d packets sent, want the first and the Init", len(h.sent))
				}
			},
		},
		{name: "Down hears Init: Up", steps: func(h *harness) { h.recv(remote(StateInit, 0xA)) }, wantState: StateUp},
		{name: "Init hears Up: Up", steps: func(h *harness) { h.recv(remote(StateDown, 0)); h.recv(remote(StateUp, 0xA)) }, wantState: StateUp},
		{name: "Init hears Init: Up", steps: func(h *harness) { h.recv(remote(StateDown, 0)); h.recv(remote(StateInit, 0xA)) }, wantState: StateUp},
		{name: "Down ignores Up", steps: func(h *harness) { h.recv(remote(StateUp, 0xA)) }, wantState: StateDown},
		{name: "Down stays Down on AdminDown", steps: func(h *harness) { h.recv(remote(StateAdminDown, 0)) }, wantState: StateDown},
		{
			name:      "Up hears Down: Down, neighbour signalled",
			steps:     func(h *harness) { up(h); h.recv(remote(StateDown, 0)) },
			wantState: StateDown, wantDiag: DiagNeighborDown,
		},
		{
			name: "Up hears Down from a new remote session: Down, marked as the remote's replacement, not a failure",
			steps: func(h *harness) {
				up(h)
				p := remote(StateDown, 0)
				p.MyDiscriminator = 0xC
				h.recv(p)
			},
			wantState: StateDown, wantDiag: DiagNeighborDown,
			check: func(h *harness) {
				if !h.m.remoteReplaced || h.m.remoteDiscr != 0xC {
					h.fail("remoteReplaced %v, remote discriminator %#x; want true and 0xc", h.m.remoteReplaced, h.m.remoteDiscr)
				}
			},
		},
		{
			name: "Up hears Down from the same remote session: a failure",
			steps: func(h *harness) {
				up(h)
				h.recv(remote(StateDown, 0))
			},
			wantState: StateDown, wantDiag: DiagNeighborDown,
			check: func(h *harness) {
				if h.m.remoteReplaced {
					h.fail("marked as a replacement")
				}
			},
		},
		{
			name:      "Up hears AdminDown: Down, neighbour signalled",
			steps:     func(h *harness) { up(h); h.recv(remote(StateAdminDown, 0xA)) },
			wantState: StateDown, wantDiag: DiagNeighborDown,
		},
		{
			name:      "Init hears AdminDown: Down",
			steps:     func(h *harness) { h.recv(remote(StateDown, 0)); h.recv(remote(StateAdminDown, 0xA)) },
			wantState: StateDown, wantDiag: DiagNeighborDown,
		},
		{
			name: "Up stays Up on Init and Up",
			steps: func(h *harness) {
				up(h)
				h.recv(remote(StateInit, 0xA))
				h.recv(remote(StateUp, 0xA))
			},
			wantState: StateUp,
		},
		{
			name: "the remote discriminator is learnt from every packet (a router that replaced its session)",
			steps: func(h *harness) {
				up(h)
				p := remote(StateUp, 0xA)
				p.MyDiscriminator = 0xC
				h.recv(p)
			},
			wantState: StateUp,
			check: func(h *harness) {
				h.advance(350 * ms)
				if p := h.last(); p.YourDiscriminator != 0xC {
					h.fail("sends Your Discriminator %#x, want the new 0xc", p.YourDiscriminator)
				}
			},
		},
		{
			name: "AdminDown sends its diag and ignores the remote",
			steps: func(h *harness) {
				up(h)
				h.m.adminDown(h.now)
				h.flush()
				h.recv(remote(StateDown, 0))
				h.recv(remote(StateInit, 0xA))
			},
			wantState: StateAdminDown, wantDiag: DiagAdminDown,
			check: func(h *harness) {
				if p := h.last(); p.State != StateAdminDown || p.Diag != DiagAdminDown || p.YourDiscriminator != 0xB {
					h.fail("packet in AdminDown %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, defaultTimers, 0)
			tt.steps(h)
			if h.m.state != tt.wantState || h.m.localDiag != tt.wantDiag {
				h.fail("state %s diag %s, want %s %s", h.m.state, h.m.localDiag, tt.wantState, tt.wantDiag)
			}
			if tt.check != nil {
				tt.check(h)
			}
		})
	}
}

func TestFSMDetection(t *testing.T) {
	tests := []struct {
		name       string
		local      Timers
		remoteTx   time.Duration
		remoteMult uint8
		silence    time.Duration
		wantDown   bool
	}{
		{name: "300 ms × 3: still Up after 899 ms of silence", local: defaultTimers, remoteTx: 300 * ms, remoteMult: 3, silence: 899 * ms},
		{name: "300 ms × 3: Down after 900 ms", local: defaultTimers, remoteTx: 300 * ms, remoteMult: 3, silence: 900 * ms, wantDown: true},
		{name: "the remote's multiplier counts, not ours", local: defaultTimers, remoteTx: 300 * ms, remoteMult: 5, silence: 1499 * ms},
		{name: "the remote's multiplier: Down after 5 × 300 ms", local: defaultTimers, remoteTx: 300 * ms, remoteMult: 5, silence: 1500 * ms, wantDown: true},
		{name: "a remote that sends slower than we require: its rate counts", local: defaultTimers, remoteTx: 500 * ms, remoteMult: 3, silence: 1499 * ms},
		{name: "a remote slower than we require: Down after 3 × 500 ms", local: defaultTimers, remoteTx: 500 * ms, remoteMult: 3, silence: 1500 * ms, wantDown: true},
		{name: "we require slower than the remote sends: ours counts", local: Timers{DesiredMinTx: 300 * ms, RequiredMinRx: time.Second, DetectMult: 3}, remoteTx: 300 * ms, remoteMult: 3, silence: 2999 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.local, 0)
			p := remote(StateDown, 0)
			p.DesiredMinTx, p.DetectMult = tt.remoteTx, tt.remoteMult
			h.recv(p)
			p.State, p.YourDiscriminator = StateUp, 0xA
			h.recv(p)
			if h.m.state != StateUp {
				h.fail("not Up")
			}
			h.advance(tt.silence)
			if got := h.m.state == StateDown; got != tt.wantDown {
				h.fail("after %s of silence: state %s, want down %v", tt.silence, h.m.state, tt.wantDown)
			}
			if tt.wantDown {
				if h.m.localDiag != DiagControlDetectExpired {
					h.fail("diag %s, want %s", h.m.localDiag, DiagControlDetectExpired)
				}
				// Forgotten remote: packets address it by Your Discriminator 0 again, at the slow rate.
				if p := h.last(); p.State != StateDown || p.YourDiscriminator != 0 || p.DesiredMinTx != time.Second {
					h.fail("packet after detection %+v", p)
				}
			}
		})
	}
}

func TestFSMTransmitInterval(t *testing.T) {
	tests := []struct {
		name     string
		local    Timers
		remoteRx time.Duration
		jitter   float64
		up       bool
		wantGap  time.Duration
	}{
		{name: "Down: at least 1 s whatever is configured", local: defaultTimers, remoteRx: 300 * ms, wantGap: time.Second},
		{name: "Up: the configured interval", local: defaultTimers, remoteRx: 300 * ms, up: true, wantGap: 300 * ms},
		{name: "Up: the remote's RequiredMinRx when larger", local: defaultTimers, remoteRx: 700 * ms, up: true, wantGap: 700 * ms},
		{name: "jitter takes up to 25 % off", local: defaultTimers, remoteRx: 300 * ms, jitter: 1, up: true, wantGap: 225 * ms},
		{name: "with multiplier 1, at least 10 % off", local: Timers{DesiredMinTx: 300 * ms, RequiredMinRx: 300 * ms, DetectMult: 1}, remoteRx: 300 * ms, up: true, wantGap: 270 * ms},
		{name: "with multiplier 1, at most 25 % off", local: Timers{DesiredMinTx: 300 * ms, RequiredMinRx: 300 * ms, DetectMult: 1}, remoteRx: 300 * ms, jitter: 1, up: true, wantGap: 225 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.local, tt.jitter)
			p := remote(StateAdminDown, 0) // keeps a Down session Down
			if tt.up {
				p.State = StateDown
				h.recv(p)
				p.State, p.YourDiscriminator = StateUp, 0xA
				h.recv(p)
				p.Final = true // answers the Poll for the fast rate
			}
			p.RequiredMinRx = tt.remoteRx
			h.recv(p)
			p.Final = false
			// Send times over 5 s, the remote talking every 100 ms so nothing expires.
			var at []time.Time
			for range 50 {
				n := len(h.sent)
				h.advance(100 * ms)
				h.recv(p)
				for range h.sent[n:] {
					at = append(at, h.now)
				}
			}
			if len(at) < 3 {
				h.fail("only %d packets in 5s", len(at))
			}
			// Packets are observed on a 100 ms grid, so each gap is within 100 ms above the wanted one.
			for i := 1; i < len(at); i++ {
				if gap := at[i].Sub(at[i-1]); gap < tt.wantGap-100*ms || gap > tt.wantGap+100*ms {
					h.fail("gap %s between packets %d and %d, want %s", gap, i-1, i, tt.wantGap)
				}
			}
			if got := h.m.interval(); got != tt.wantGap {
				h.fail("interval %s, want %s", got, tt.wantGap)
			}
		})
	}
}

func TestFSMNoPacketsWhenRemoteAsksNone(t *testing.T) {
	h := newHarness(t, defaultTimers, 0)
	p := remote(StateDown, 0)
	p.RequiredMinRx = 0
	n := len(h.sent)
	for range 50 {
		h.recv(p)
		h.advance(200 * ms)
	}
	if len(h.sent) != n {
		h.fail("sent %d packets to a remote whose RequiredMinRx is 0", len(h.sent)-n)
	}
	// Once it asks for packets again, they flow at once.
	p.RequiredMinRx = 300 * ms
	h.recv(p)
	h.advance(1100 * ms)
	if len(h.sent) == n {
		h.fail("no packet once the remote asks for them")
	}
}

func TestFSMPollFinal(t *testing.T) {
	t.Run("a Poll is answered at once with a Final, outside the periodic schedule", func(t *testing.T) {
		h := newHarness(t, defaultTimers, 0)
		up(h)
		h.advance(100 * ms)
		n := len(h.sent)
		p := remote(StateUp, 0xA)
		p.Poll = true
		h.recv(p)
		if len(h.sent) != n+1 || !h.last().Final || h.last().Poll {
			h.fail("answer to a Poll: %+v", h.last())
		}
	})
	t.Run("going Up polls for the fast rate; the Final ends the Poll", func(t *testing.T) {
		h := newHarness(t, defaultTimers, 0)
		up(h)
		if p := h.last(); !p.Poll || p.DesiredMinTx != 300*ms {
			h.fail("first Up packet %+v, want a Poll for 300ms", p)
		}
		// A faster rate takes effect at once.
		if got := h.m.txInterval(); got != 300*ms {
			h.fail("tx interval %s while the Poll is outstanding, want 300ms already", got)
		}
		p := remote(StateUp, 0xA)
		p.Final = true
		h.recv(p)
		h.advance(400 * ms)
		if h.last().Poll {
			h.fail("still polling after the Final")
		}
	})
	t.Run("a slower transmit rate waits for the Final", func(t *testing.T) {
		h := newHarness(t, defaultTimers, 0)
		up(h)
		fin := remote(StateUp, 0xA)
		fin.Final = true
		h.recv(fin)
		h.m.setTimers(h.now, Timers{DesiredMinTx: 900 * ms, RequiredMinRx: 300 * ms, DetectMult: 3})
		h.flush()
		if got := h.m.txInterval(); got != 300*ms {
			h.fail("tx interval %s before the Final, want still 300ms", got)
		}
		h.advance(300 * ms)
		if p := h.last(); !p.Poll || p.DesiredMinTx != 900*ms {
			h.fail("packet %+v, want a Poll advertising 900ms", p)
		}
		h.recv(fin)
		if got := h.m.txInterval(); got != 900*ms {
			h.fail("tx interval %s after the Final, want 900ms", got)
		}
		if h.m.state != StateUp {
			h.fail("the timer change took the session down")
		}
	})
	t.Run("a faster required receive rate keeps the old detection time until the Final", func(t *testing.T) {
		h := newHarness(t, Timers{DesiredMinTx: 300 * ms, RequiredMinRx: time.Second, DetectMult: 3}, 0)
		up(h)
		fin := remote(StateUp, 0xA)
		fin.Final = true
		h.recv(fin)
		h.m.setTimers(h.now, Timers{DesiredMinTx: 300 * ms, RequiredMinRx: 100 * ms, DetectMult: 3})
		h.flush()
		if got := h.m.detectTime(); got != 3*time.Second {
			h.fail("detection time %s before the Final, want still 3s", got)
		}
		h.recv(fin)
		if got := h.m.detectTime(); got != 900*ms {
			h.fail("detection time %s after the Final, want 3 × the remote's 300ms", got)
		}
	})
	t.Run("a slower required receive rate lengthens detection at once", func(t *testing.T) {
		h := newHarness(t, defaultTimers, 0)
		up(h)
		h.m.setTimers(h.now, Timers{DesiredMinTx: 300 * ms, RequiredMinRx: 2 * time.Second, DetectMult: 3})
		if got := h.m.detectTime(); got != 6*time.Second {
			h.fail("detection time %s, want 6s at once", got)
		}
	})
	t.Run("never Poll and Final in one packet", func(t *testing.T) {
		h := newHarness(t, defaultTimers, 0)
		up(h) // polling for the fast rate
		p := remote(StateUp, 0xA)
		p.Poll = true
		h.recv(p)
		if f := h.last(); !f.Final || f.Poll {
			h.fail("answer %+v", f)
		}
	})
}

// TestFSMPair runs two state machines against each other over a simulated link with a fake clock:
// they come Up, change timers through Poll/Final without going down, detect a cut link within the
// detection time, and come back when it heals.
func TestFSMPair(t *testing.T) {
	const delay = 2 * ms
	type inflight struct {
		at time.Time
		to int
		p  Packet
	}
	var (
		now   = t0
		m     = [2]*fsm{newFSM(0xA, defaultTimers, t0, func() float64 { return 0.5 }), newFSM(0xB, defaultTimers, t0, func() float64 { return 0.1 })}
		wire  []inflight
		cut   bool
		log   []string
		downs [2]int
	)
	var iterations int
	step := func(until time.Time) {
		for {
			if iterations++; iterations > 1_000_000 {
				t.Fatalf("the simulation does not advance at %s; log:\n%s", now.Sub(t0), strings.Join(log[max(0, len(log)-20):], "\n"))
			}
			next := until
			for _, x := range m {
				if n := x.next(); n.IsZero() {
					next = now
				} else if n.Before(next) {
					next = n
				}
			}
			for _, w := range wire {
				if w.at.Before(next) {
					next = w.at
				}
			}
			if next.After(until) {
				now = until
				return
			}
			if next.After(now) {
				now = next
			}
			var keep []inflight
			for _, w := range wire {
				if w.at.After(now) {
					keep = append(keep, w)
					continue
				}
				before := m[w.to].state
				m[w.to].receive(now, w.p)
				if after := m[w.to].state; after != before {
					log = append(log, fmt.Sprintf("%s: %c %s -> %s", now.Sub(t0), 'A'+w.to, before, after))
					if after == StateDown {
						downs[w.to]++
					}
				}
			}
			wire = keep
			for i, x := range m {
				before := x.state
				if x.expire(now) {
					log = append(log, fmt.Sprintf("%s: %c %s -> %s (expired)", now.Sub(t0), 'A'+i, before, x.state))
					downs[i]++
				}
				for {
					p, ok := x.poll(now)
					if !ok {
						break
					}
					if !cut {
						wire = append(wire, inflight{now.Add(delay), 1 - i, p})
					}
				}
			}
			if !now.Before(until) {
				return
			}
		}
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\nlog:\n%s", fmt.Sprintf(format, args...), strings.Join(log, "\n"))
	}

	step(t0.Add(3 * time.Second))
	if m[0].state != StateUp || m[1].state != StateUp {
		fail("not both Up after 3s: %s %s", m[0].state, m[1].state)
	}
	if m[0].polling || m[1].polling || m[0].txInterval() != 300*ms {
		fail("the Poll for the fast rate did not complete")
	}

	// Timers change on one side: 100 ms × 5; no one goes down, and both settle on the new rate.
	m[0].setTimers(now, Timers{DesiredMinTx: 100 * ms, RequiredMinRx: 100 * ms, DetectMult: 5})
	step(now.Add(2 * time.Second))
	if downs != [2]int{} {
		fail("a timer change took a session down: %v", downs)
	}
	// A would send every 100 ms but B requires 300 ms; B detects A with A's new multiplier, A
	// detects B with its new, faster RequiredMinRx bounded by B's 300 ms.
	if m[0].polling || m[0].txInterval() != 300*ms || m[1].txInterval() != 300*ms {
		fail("after the change: A polling %v tx %s, B tx %s; want both at 300ms", m[0].polling, m[0].txInterval(), m[1].txInterval())
	}
	if a, b := m[0].detectTime(), m[1].detectTime(); a != 3*300*ms || b != 5*300*ms {
		fail("detection times A %s, B %s; want 3 × 300ms and 5 × 300ms", a, b)
	}

	// The link is cut: A detects B down within its detection time (3 × 300 ms), B detects A within 5 × 300 ms.
	cut = true
	wire = nil
	cutAt := now
	step(now.Add(3 * time.Second))
	if m[0].state != StateDown || m[1].state != StateDown {
		fail("after the cut: %s %s", m[0].state, m[1].state)
	}
	cut = false
	step(now.Add(4 * time.Second))
	if m[0].state != StateUp || m[1].state != StateUp {
		fail("not Up again 4s after the link healed (cut at %s): %s %s", cutAt.Sub(t0), m[0].state, m[1].state)
	}

	// A stops: B goes Down with NeighborDown, not after a detection timeout.
	m[0].adminDown(now)
	step(now.Add(50 * ms))
	if m[1].state != StateDown || m[1].localDiag != DiagNeighborDown {
		fail("B after A's AdminDown: %s %s", m[1].state, m[1].localDiag)
	}
}
