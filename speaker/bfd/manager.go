package bfd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// dropLogEvery is the least time between two log lines about dropped packets of one reason.
const dropLogEvery = 10 * time.Second

// Options configures a Manager.
type Options struct {
	// Logger receives session state changes at V(0) and dropped packets (rate-limited) at V(1).
	Logger logr.Logger
}

// Manager runs a node's single-hop BFD sessions (RFC 5880 asynchronous mode over RFC 5881).
//
// Design decisions:
//
//   - One receive socket per address family on UDP 3784, opened with the family's first session and
//     shared by every session: the port is the node's, and BFD packets are told apart by Your
//     Discriminator, not by socket. While a session knows no remote discriminator (the remote sends
//     Your Discriminator 0, which RFC 5880 only allows in Down and AdminDown), packets are matched
//     by their source and destination addresses.
//   - Never by source port: a router may replace its session at any time (FRR does so for a dynamic
//     BGP neighbour about a millisecond after accepting the TCP connection) with a new discriminator
//     and a new source port; the remote discriminator is taken from every valid packet.
//   - Received packets must carry TTL (hop limit) 255 (RFC 5881 §5, GTSM) and come from the
//     session's peer address; everything else is dropped, counted by reason and logged at V(1) at
//     most every 10 s per reason.
//   - Each session sends from a socket of its own, bound to the BGP session's local address and a
//     source port in 49152-65535 kept for the session's life, TTL 255, DSCP CS6.
//
// All methods are safe for concurrent use.
type Manager struct {
	log logr.Logger

	mu        sync.Mutex
	closed    bool
	listeners map[bool]*net.UDPConn // by "is IPv6"
	byDiscr   map[uint32]*Session
	byAddr    map[addrKey]*Session
	wg        sync.WaitGroup

	dropMu    sync.Mutex
	drops     map[string]uint64
	dropLogAt map[string]time.Time
	received  atomic.Uint64
}

// addrKey matches a packet to a session by addresses: the packet's destination (our local address)
// and source (the remote).
type addrKey struct{ local, remote netip.Addr }

// New returns a Manager with no sessions and no sockets.
func New(opts Options) *Manager {
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Manager{
		log:       log,
		listeners: map[bool]*net.UDPConn{},
		byDiscr:   map[uint32]*Session{},
		byAddr:    map[addrKey]*Session{},
		drops:     map[string]uint64{},
		dropLogAt: map[string]time.Time{},
	}
}

// Add starts a session. Two sessions may not share the same local and remote address.
func (m *Manager) Add(cfg SessionConfig) (*Session, error) {
	cfg.Remote = cfg.Remote.Unmap()
	cfg.Local = cfg.Local.Unmap()
	switch {
	case !cfg.Remote.IsValid() || cfg.Remote.IsUnspecified() || cfg.Remote.IsMulticast():
		return nil, fmt.Errorf("%w %q: remote address %q is not a unicast address", ErrInvalidConfig, cfg.Name, cfg.Remote)
	case cfg.Local.IsValid() && cfg.Local.Is4() != cfg.Remote.Is4():
		return nil, fmt.Errorf("%w %q: local address %s and remote address %s are of different families", ErrInvalidConfig, cfg.Name, cfg.Local, cfg.Remote)
	}
	t, err := checkTimers(cfg.Timers)
	if err != nil {
		return nil, fmt.Errorf("session %q: %w", cfg.Name, err)
	}
	cfg.Timers = t

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	v6 := cfg.Remote.Is6()
	if m.listeners[v6] == nil {
		conn, err := listen(v6)
		if err != nil {
			return nil, err
		}
		m.listeners[v6] = conn
		m.wg.Go(func() { m.receive(conn) })
	}
	discr := m.newDiscriminator()
	s, err := newSession(m, cfg, discr)
	if err != nil {
		return nil, err
	}
	key := addrKey{s.local, s.remote}
	if _, dup := m.byAddr[key]; dup {
		_ = s.conn.Close()
		return nil, fmt.Errorf("%w %q: another session already runs from %s to %s", ErrInvalidConfig, cfg.Name, s.local, s.remote)
	}
	m.byDiscr[discr] = s
	m.byAddr[key] = s
	go s.run(newFSM(discr, cfg.Timers, time.Now(), jitter))
	return s, nil
}

// newDiscriminator returns a random, nonzero discriminator no session uses. m.mu must be held.
func (m *Manager) newDiscriminator() uint32 {
	for {
		d := rand.Uint32()
		if _, used := m.byDiscr[d]; d != 0 && !used {
			return d
		}
	}
}

// remove forgets s.
func (m *Manager) remove(s *Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byDiscr[s.discr] == s {
		delete(m.byDiscr, s.discr)
	}
	if k := (addrKey{s.local, s.remote}); m.byAddr[k] == s {
		delete(m.byAddr, k)
	}
}

// Close ends every session without AdminDown (Stop them first for a planned stop) and closes the
// receive sockets.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var sessions []*Session
	for _, s := range m.byDiscr {
		sessions = append(sessions, s)
	}
	var errs []error
	for _, c := range m.listeners {
		errs = append(errs, c.Close())
	}
	m.mu.Unlock()
	for _, s := range sessions {
		s.stopOnce.Do(s.close)
	}
	m.wg.Wait()
	return errors.Join(errs...)
}

// receive reads one family's socket until it is closed.
func (m *Manager) receive(conn *net.UDPConn) {
	buf := make([]byte, 1500)
	oob := make([]byte, oobSize)
	for {
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.drop("read error", netip.AddrPort{}, err)
			time.Sleep(10 * time.Millisecond) // a persistent socket error must not spin
			continue
		}
		src := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if err := m.dispatch(buf[:n], oob[:oobn], src); err != nil {
			m.drop(dropReason(err), src, err)
		}
	}
}

// dispatch checks one received datagram and hands it to its session.
func (m *Manager) dispatch(b, oob []byte, src netip.AddrPort) error {
	ttl, dst, err := parseControl(oob)
	if err != nil {
		return err
	}
	if ttl != ttl255 {
		return fmt.Errorf("%w: %d", errTTL, ttl)
	}
	p, err := Parse(b)
	if err != nil {
		return err
	}
	s, err := m.lookup(p, src.Addr(), dst.Unmap())
	if err != nil {
		return err
	}
	if !s.deliver(p) {
		return errQueueFull
	}
	m.received.Add(1)
	return nil
}

// lookup finds the session a valid packet belongs to (RFC 5880 §6.8.6): by Your Discriminator when
// set, else by addresses.
func (m *Manager) lookup(p Packet, src, dst netip.Addr) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.YourDiscriminator != 0 {
		s := m.byDiscr[p.YourDiscriminator]
		switch {
		case s == nil:
			return nil, fmt.Errorf("%w: %d", errUnknownDiscr, p.YourDiscriminator)
		case s.remote != src:
			return nil, fmt.Errorf("%w: session %q peers with %s", errWrongSource, s.name, s.remote)
		}
		return s, nil
	}
	if !dst.IsValid() {
		return nil, errAddressUnavailable
	}
	s := m.byAddr[addrKey{dst, src}]
	if s == nil {
		return nil, fmt.Errorf("%w: from %s to %s", errUnknownPeer, src, dst)
	}
	return s, nil
}

// dropReasons are the labels of seamark_bfd_packets_dropped_total, by sentinel.
var dropReasons = []struct {
	err    error
	reason string
}{
	{ErrTruncated, "truncated"}, {ErrVersion, "version"}, {ErrLength, "length"}, {ErrAuth, "authentication"},
	{ErrDetectMultZero, "detect multiplier 0"}, {ErrMultipoint, "multipoint"}, {ErrMyDiscrZero, "my discriminator 0"},
	{ErrYourDiscrNeeded, "your discriminator 0"}, {ErrPollAndFinal, "poll and final"},
	{errUnknownDiscr, "unknown discriminator"}, {errUnknownPeer, "unknown peer"}, {errWrongSource, "wrong source"},
	{errTTL, "ttl"}, {errQueueFull, "queue full"}, {errNoControlMessage, "no control message"},
	{errAddressUnavailable, "no destination address"},
}

func dropReason(err error) string {
	for _, r := range dropReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}

// drop counts a discarded packet and logs it at V(1), at most every dropLogEvery per reason, with
// the number dropped since the last line.
func (m *Manager) drop(reason string, src netip.AddrPort, err error) {
	m.dropMu.Lock()
	m.drops[reason]++
	total := m.drops[reason]
	now := time.Now()
	logIt := now.Sub(m.dropLogAt[reason]) >= dropLogEvery
	if logIt {
		m.dropLogAt[reason] = now
	}
	m.dropMu.Unlock()
	if logIt {
		m.log.V(1).Info("Dropped BFD packet", "reason", reason, "source", src.String(), "error", err.Error(), "droppedTotal", total)
	}
}

// Drops returns the number of packets dropped so far, by reason.
func (m *Manager) Drops() map[string]uint64 {
	m.dropMu.Lock()
	defer m.dropMu.Unlock()
	out := make(map[string]uint64, len(m.drops))
	for k, v := range m.drops {
		out[k] = v
	}
	return out
}

// Sessions returns the status of every session.
func (m *Manager) Sessions() []SessionStatus {
	m.mu.Lock()
	sessions := make([]*Session, 0, len(m.byDiscr))
	for _, s := range m.byDiscr {
		sessions = append(sessions, s)
	}
	m.mu.Unlock()
	out := make([]SessionStatus, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, s.Status())
	}
	return out
}

var (
	sessionUpDesc = prometheus.NewDesc("seamark_bfd_session_up",
		"Whether the BFD session with the peer is Up (1) or not (0).", []string{"peer"}, nil)
	transitionsDesc = prometheus.NewDesc("seamark_bfd_session_transitions_total",
		"State changes of the BFD session with the peer.", []string{"peer"}, nil)
	packetsDesc = prometheus.NewDesc("seamark_bfd_packets_total",
		"BFD control packets exchanged with the peer.", []string{"peer", "direction"}, nil)
	detectionDesc = prometheus.NewDesc("seamark_bfd_detection_time_seconds",
		"How long the session waits for a packet from the peer before declaring it down (0 while nothing was heard).", []string{"peer"}, nil)
	droppedDesc = prometheus.NewDesc("seamark_bfd_packets_dropped_total",
		"Received BFD packets dropped, by reason (TTL not 255, malformed, unknown discriminator, ...).", []string{"reason"}, nil)
)

// Collectors returns the Manager's Prometheus collectors for the caller to register:
// seamark_bfd_session_up{peer}, seamark_bfd_session_transitions_total{peer},
// seamark_bfd_packets_total{peer,direction}, seamark_bfd_detection_time_seconds{peer} and
// seamark_bfd_packets_dropped_total{reason}. Values are read at scrape time, so stopped sessions
// disappear with them.
func (m *Manager) Collectors() []prometheus.Collector { return []prometheus.Collector{(*collector)(m)} }

type collector Manager

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sessionUpDesc, transitionsDesc, packetsDesc, detectionDesc, droppedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one sample per session and drop reason, read now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Manager)(c)
	for _, st := range m.Sessions() {
		up := 0.0
		if st.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(sessionUpDesc, prometheus.GaugeValue, up, st.Name)
		ch <- prometheus.MustNewConstMetric(transitionsDesc, prometheus.CounterValue, float64(st.Transitions), st.Name)
		ch <- prometheus.MustNewConstMetric(packetsDesc, prometheus.CounterValue, float64(st.Received), st.Name, "received")
		ch <- prometheus.MustNewConstMetric(packetsDesc, prometheus.CounterValue, float64(st.Sent), st.Name, "sent")
		ch <- prometheus.MustNewConstMetric(detectionDesc, prometheus.GaugeValue, st.DetectionTime.Seconds(), st.Name)
	}
	for reason, n := range m.Drops() {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), reason)
	}
}
