package layer2

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netns"
)

// Address is one address to answer for, with the nodes that may own it.
type Address struct {
	// Addr is the address answered for.
	Addr netip.Addr
	// Key is what the owner is elected by: the address itself, or the
	// lowest IPv4 address of its Service (ElectionKey) so that both
	// families of a dual-stack Service land on one node.
	Key netip.Addr
	// Rules are the advertisements that select the address; a node is a
	// candidate when one rule lists it and it has an interface for the
	// address under that rule's interface patterns.
	Rules []Rule
}

// Rule is one advertisement's say on an address.
type Rule struct {
	// Nodes are the names of the nodes the advertisement lets own the
	// address: selected, not excluded and, for the Local traffic policy,
	// with a usable endpoint. Sorted; may be shared between Addresses.
	Nodes []string
	// Interfaces are names or globs; nil selects the interfaces whose
	// subnet contains the address (see Select).
	Interfaces []string
	// Refresh is the interval of the announcements after the first three;
	// 0 turns them off.
	Refresh time.Duration
}

// Desired is everything the Speaker is told by the node agent.
type Desired struct {
	// Enabled: at least one L2Advertisement exists, so the speaker takes
	// part in gossip.
	Enabled bool
	// Synced: the agent's caches are synced, so Addresses are complete. A
	// node that is not synced says it is not ready and owns nothing.
	Synced bool
	// Key is the gossip encryption key (16, 24 or 32 bytes). Without a
	// valid key the speaker does not gossip and owns nothing: it could not
	// coordinate with the others.
	Key []byte
	// KeyProblem, when not empty, says why there is no key (for the log).
	KeyProblem string
	// Advertise is the address the others reach this node's gossip at
	// (its InternalIP).
	Advertise netip.Addr
	// Peers are the other nodes' addresses, joined on the gossip port.
	Peers []netip.Addr
	// Addresses are the addresses to elect owners for.
	Addresses []Address
}

// Owned is one address this node answers for.
type Owned struct {
	// Addr is the address.
	Addr netip.Addr
	// Interfaces are the names of the interfaces it is answered on.
	Interfaces []string
	// Since is when this node took it.
	Since time.Time
}

// Options configure a Speaker.
type Options struct {
	// NodeName is this node's name, as the others elect it.
	NodeName string
	// Logger receives the speaker's logs.
	Logger logr.Logger
	// Profile is the memberlist timing profile (default balanced).
	Profile Profile
	// Bind is the gossip listen address (default 0.0.0.0:7946).
	Bind netip.AddrPort
	// NetNS, when open, is the network namespace all sockets are opened in
	// (tests run several speakers in one process); closed or the zero
	// value: the process's. (netns counts handle 0 as open, but it is
	// stdin, never a namespace a caller opened.)
	NetNS netns.NsHandle
	// Linger is how long a leaving speaker keeps answering after it told
	// the others (default 30ms), while its successors announce.
	Linger time.Duration
	// Settle is how long a speaker that joined the others waits before it
	// is ready and claims what it wins (default: the profile's, two probe
	// intervals and four gossip intervals). A restarted speaker rejoins
	// under its old name; until its new incarnation has gossiped to
	// everyone the others still see the old one (left or dead), and a
	// claim made meanwhile is taken for the old instance's and answered
	// by the current owner, which leaves clients at the old owner.
	Settle time.Duration
	// JoinGrace is how long a speaker that reaches no other speaker waits
	// before it takes part alone (default 10s; a cold start of the whole
	// cluster has nobody to join).
	JoinGrace time.Duration
	// OnConflict, if set, is called (from the speaker's loop) when another
	// MAC claims an address this node owns, with a sentence for an Event.
	OnConflict func(addr netip.Addr, message string)
	// OnProblem, if set, is called (from the speaker's loop) when a
	// problem of the node's configuration that competes with the
	// speaker's answers appears or changes (today: kube-proxy's IPVS mode
	// without strictARP), with a sentence for an Event.
	OnProblem func(message string)
}

const (
	tick          = 50 * time.Millisecond
	stallGap      = 300 * time.Millisecond
	rejoinEvery   = 3 * time.Second
	refreshBudget = 200 // refresh announcements per tick at most
	reannounceGap = 500 * time.Millisecond
)

// burst are the offsets of the announcements after taking an address.
var burst = []time.Duration{0, 1100 * time.Millisecond, 2200 * time.Millisecond}

// Speaker elects an owner for every address among the live, eligible
// speakers and, for the addresses this node wins, answers ARP and NDP and
// announces them. Reconcile may be called from any goroutine; the work is
// done by Run's loop.
type Speaker struct {
	opts     Options
	log      logr.Logger
	instance uint64 // Meta.Instance
	metrics  *metrics
	kick     chan struct{}
	conflCh  chan conflict
	joinCh   chan joinResult
	crashCh  chan chan struct{}

	mu      sync.Mutex
	desired Desired
	ifaces  []Interface
	// ipvsProblem is set while kube-proxy's IPVS mode lacks strictARP.
	ipvsProblem string
	ownedOut    []Owned
	membersOut  int   // live gossip members, this node included
	conflictsN  int64 // foreign-MAC claims seen for owned addresses
	ready       bool

	// Run's loop state.
	cluster     *cluster
	clusterKey  []byte
	joined      bool
	joinedAt    time.Time
	joining     bool
	crashed     bool
	joinStart   time.Time
	lastJoin    time.Time
	rejected    bool
	owned       map[netip.Addr]*ownedAddr
	responders  map[string]*responder
	yielded     map[netip.Addr]yield
	lastMembers string
	lastProblem string
	lastIPVS    string // written by the loop under mu (Problems reads it)
}

type ownedAddr struct {
	key     netip.Addr
	ifaces  []string
	since   time.Time
	sent    int // announcements sent of the burst
	next    time.Time
	refresh time.Duration
	lastRe  time.Time // last conflict re-announcement
}

// yield is an address left to a better-scored speaker that claimed it
// while this node's view did not let it own it yet: a speaker that just
// started claims what it wins the moment it is ready, before its "ready"
// has reached everyone. Without the yield the old owner would take the
// address back at the next membership change and the two would trade it.
// See step for when it ends.
type yield struct {
	node string
	at   time.Time
	// seenLive: the winner has been in the live view since the yield;
	// its leaving it then means it failed.
	seenLive bool
}

// yieldUnseen is how long a yield to a speaker that is not in the live
// view (a gossip partition) lasts before this node claims the address
// again; if the other still claims it, the conflict yields it again.
const yieldUnseen = 10 * time.Second

type joinResult struct {
	contacted, missing int
	rejected           bool
	err                error
}

type conflict struct {
	ifname string
	addr   netip.Addr
	mac    net.HardwareAddr
}

// New returns a Speaker; Run starts it.
func New(opts Options) *Speaker {
	if opts.NetNS == 0 {
		opts.NetNS = netns.None()
	}
	if opts.Profile == "" {
		opts.Profile = ProfileBalanced
	}
	if !opts.Bind.IsValid() {
		opts.Bind = netip.AddrPortFrom(netip.IPv4Unspecified(), 7946)
	}
	if opts.Linger == 0 {
		opts.Linger = 30 * time.Millisecond
	}
	if opts.JoinGrace == 0 {
		opts.JoinGrace = 10 * time.Second
	}
	if opts.Settle == 0 {
		opts.Settle = opts.Profile.settle()
	}
	s := &Speaker{
		opts: opts, log: opts.Logger, metrics: newMetrics(), instance: rand.Uint64(),
		kick: make(chan struct{}, 1), conflCh: make(chan conflict, 64),
		joinCh: make(chan joinResult, 1), crashCh: make(chan chan struct{}),
		owned: map[netip.Addr]*ownedAddr{}, responders: map[string]*responder{}, yielded: map[netip.Addr]yield{},
	}
	s.metrics.profile.WithLabelValues(string(opts.Profile)).Set(1)
	return s
}

// Collectors returns the speaker's Prometheus collectors.
func (s *Speaker) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// Reconcile replaces what the speaker works from; it never blocks.
func (s *Speaker) Reconcile(d Desired) {
	s.mu.Lock()
	s.desired = d
	s.mu.Unlock()
	s.poke()
}

func (s *Speaker) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Owned returns the addresses this node answers for, sorted.
func (s *Speaker) Owned() []Owned {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ownedOut)
}

// Members returns the number of live gossip members, this node included
// (0 before the gossip started).
func (s *Speaker) Members() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.membersOut
}

// Conflicts returns how many foreign-MAC claims for owned addresses this
// node has seen since it started.
func (s *Speaker) Conflicts() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conflictsN
}

// Problems returns what on this node competes with the speaker's answers
// (kube-proxy's IPVS mode without strictARP), with how to fix it; nil when
// nothing does or layer 2 is not in use.
func (s *Speaker) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastIPVS == "" {
		return nil
	}
	return []string{s.lastIPVS}
}

// Ready reports whether this node takes part in elections.
func (s *Speaker) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// Interfaces returns the interfaces that may answer, as last read (for the
// SpeakerStatus: the controller tells from them whether this node has an
// interface for an address).
func (s *Speaker) Interfaces() []Interface {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ifaces)
}

// Run works until ctx ends, then hands over gracefully: it tells the other
// speakers it is leaving, keeps answering for Linger while they announce,
// stops answering and leaves the gossip. It returns after that.
func (s *Speaker) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	err := watchLinks(s.opts.NetNS, done, func(ifaces []Interface, ipvs string) {
		s.mu.Lock()
		s.ifaces, s.ipvsProblem = ifaces, ipvs
		s.mu.Unlock()
		s.poke()
	}, func(err error) { s.log.Error(err, "Could not follow network interfaces") })
	if err != nil {
		return err
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			s.handover()
			return nil
		case <-s.kick:
			s.step(time.Now())
		case c := <-s.conflCh:
			s.handleConflict(c, time.Now())
		case r := <-s.joinCh:
			s.joinDone(r, time.Now())
			s.step(time.Now())
		case ack := <-s.crashCh:
			s.crash()
			close(ack)
		case now := <-t.C:
			if gap := now.Sub(last); gap > stallGap {
				// The process did not run for a while (a stall, a
				// frozen VM): whatever happened meanwhile, announce
				// again what we own.
				s.metrics.stalls.Inc()
				s.log.Info("Announced owned addresses again after a stall", "gap", gap.String(), "addresses", len(s.owned))
				for _, o := range s.owned {
					o.next = now
				}
			}
			last = now
			s.step(now)
		}
	}
}

// Crash stops everything at once without telling anybody, as a killed
// process would: gossip stops, sockets close. For benchmarks and tests,
// while Run runs; Run then does nothing more until its context ends.
func (s *Speaker) Crash() {
	ack := make(chan struct{})
	s.crashCh <- ack
	<-ack
}

func (s *Speaker) crash() {
	s.crashed = true
	if s.cluster != nil {
		s.cluster.crash()
		s.cluster = nil
	}
	s.closeAll()
}

func (s *Speaker) closeAll() {
	for name, r := range s.responders {
		r.close()
		delete(s.responders, name)
	}
	clear(s.owned)
	s.metrics.owned.Set(0)
	s.mu.Lock()
	s.ownedOut, s.ready = nil, false
	s.mu.Unlock()
}

func (s *Speaker) handover() {
	if s.cluster == nil {
		s.closeAll()
		return
	}
	start := time.Now()
	n := len(s.owned)
	wait := s.cluster.sendLeaving(s.opts.NodeName, s.instance)
	// Keep answering while the successors announce: a client asking in
	// between still gets an answer.
	time.Sleep(s.opts.Linger)
	s.closeAll()
	wait()
	s.cluster.leave(time.Second)
	s.cluster = nil
	s.log.Info("Handed over layer 2 addresses", "addresses", n, "duration", time.Since(start).String())
}

// step brings gossip, ownership and sockets in line with the latest
// inputs and sends the announcements that are due.
func (s *Speaker) step(now time.Time) {
	if s.crashed {
		return
	}
	s.mu.Lock()
	d := s.desired
	ifaces := s.ifaces
	ipvs := s.ipvsProblem
	s.mu.Unlock()
	if !d.Enabled {
		ipvs = ""
	}
	if ipvs != s.lastIPVS {
		if ipvs != "" {
			s.log.Info("Layer 2 answers will compete with the kernel's", "problem", ipvs)
			if s.opts.OnProblem != nil {
				s.opts.OnProblem(ipvs)
			}
		} else if s.lastIPVS != "" {
			s.log.Info("The kernel no longer competes with layer 2 answers", "was", s.lastIPVS)
		}
		s.mu.Lock()
		s.lastIPVS = ipvs
		s.mu.Unlock()
	}

	s.ensureCluster(d, now)
	ready := s.cluster != nil && d.Synced && d.Enabled &&
		((s.joined && now.Sub(s.joinedAt) >= s.opts.Settle) || (!s.rejected && now.Sub(s.joinStart) > s.opts.JoinGrace))
	if s.cluster != nil {
		meta, err := Meta{Ready: ready, Instance: s.instance, Interfaces: ifaces}.encode()
		if err != nil {
			s.problem("Not every interface fits in the gossip metadata; the others see only the first ones", "interfaces", len(ifaces))
		}
		s.cluster.setMeta(meta)
	}
	var others []member
	if s.cluster != nil {
		others = s.cluster.members(s.opts.NodeName)
	}
	s.metrics.members.Set(float64(len(others) + 1))
	s.mu.Lock()
	s.membersOut = len(others) + 1
	s.mu.Unlock()
	if sig := membersSignature(others); sig != s.lastMembers {
		s.lastMembers = sig
		// Membership changed: everyone announces what it owns again, so
		// a client that missed one hears it now.
		for _, o := range s.owned {
			o.next = now
		}
	}
	var want map[netip.Addr]wanted
	if ready {
		var noIface []netip.Addr
		want, noIface = elect(s.opts.NodeName, ifaces, others, d.Addresses)
		if len(noIface) > 0 {
			// Logged when the count changes: the usual cause is an
			// address outside the node's subnets or an interfaces
			// pattern that matches nothing here.
			s.problem("This node may own addresses but has no interface for them: no up interface's subnet contains them, or the L2Advertisement's interfaces match none here", "addresses", len(noIface), "first", noIface[0].String())
		}
	}
	live := make(map[string]member, len(others))
	for _, m := range others {
		live[m.name] = m
	}
	var byAddr map[netip.Addr]*Address
	if len(s.yielded) > 0 {
		byAddr = make(map[netip.Addr]*Address, len(d.Addresses))
		for i := range d.Addresses {
			byAddr[d.Addresses[i].Addr] = &d.Addresses[i]
		}
	}
	for a, y := range s.yielded {
		// A yield bridges the time until the election agrees: it ends
		// when the winner is live and ready (the election then leaves
		// the address to it), when it fails (leaves the live view after
		// being in it), when our inputs no longer let it own the
		// address, or after yieldUnseen while it stays unready or
		// unseen (a gossip partition; a winner that stopped being
		// ready).
		m, isLive := live[y.node]
		switch {
		case !mayOwn(byAddr[a], y.node), isLive && m.meta.Ready, !isLive && y.seenLive, now.Sub(y.at) > yieldUnseen:
			delete(s.yielded, a)
			continue
		case isLive && !y.seenLive:
			y.seenLive = true
			s.yielded[a] = y
		}
		delete(want, a)
	}
	s.apply(want, ifaces, now)
	s.announceDue(now)

	s.mu.Lock()
	s.ready = ready
	s.mu.Unlock()
	if ready {
		s.metrics.ready.Set(1)
	} else {
		s.metrics.ready.Set(0)
	}
}

// problem logs a condition once, until a different one comes up.
func (s *Speaker) problem(msg string, kv ...any) {
	key := fmt.Sprint(append([]any{msg}, kv...)...)
	if key == s.lastProblem {
		return
	}
	s.lastProblem = key
	s.log.Info(msg, kv...)
}

// ensureCluster starts gossip once it is enabled with a usable key and
// advertise address, installs a changed key, and (re)joins the nodes that
// are not members.
func (s *Speaker) ensureCluster(d Desired, now time.Time) {
	if !d.Enabled {
		return
	}
	if s.cluster == nil {
		switch {
		case len(d.Key) == 0:
			s.problem("Layer 2 is configured but the gossip key is missing; this node owns no address until it has one", "problem", d.KeyProblem)
			return
		case !d.Advertise.IsValid():
			s.problem("Layer 2 is configured but this node has no InternalIP to gossip from; it owns no address")
			return
		}
		c, err := newCluster(clusterConfig{name: s.opts.NodeName, bind: s.opts.Bind, advertise: d.Advertise, key: d.Key,
			profile: s.opts.Profile, ns: s.opts.NetNS, log: s.log.WithName("memberlist"), changed: s.poke})
		if err != nil {
			s.problem("Could not start layer 2 gossip; this node owns no address", "error", err.Error())
			return
		}
		s.cluster, s.clusterKey, s.joinStart = c, slices.Clone(d.Key), now
		s.log.Info("Started layer 2 gossip", "bind", s.opts.Bind.String(), "advertise", d.Advertise.String(), "profile", string(s.opts.Profile))
	}
	if len(d.Key) > 0 && !slices.Equal(d.Key, s.clusterKey) {
		if err := s.cluster.setKey(d.Key); err != nil {
			s.problem("Could not install the new gossip key; keeping the old one", "error", err.Error())
		} else {
			s.clusterKey = slices.Clone(d.Key)
			s.log.Info("Installed a new gossip key")
		}
	}
	if s.joining || (!s.lastJoin.IsZero() && now.Sub(s.lastJoin) < rejoinEvery) {
		return
	}
	members := map[netip.Addr]bool{}
	for _, m := range s.cluster.members(s.opts.NodeName) {
		members[m.addr] = true
	}
	var missing []netip.Addr
	for _, p := range d.Peers {
		if !members[p] && p != d.Advertise {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		if !s.joined {
			s.joined, s.joinedAt = true, now
		}
		return
	}
	// Join dials every missing node, each bounded by TCPTimeout: never in
	// the loop, which must keep answering and announcing.
	s.joining, s.lastJoin = true, now
	c := s.cluster
	go func() {
		n, rejected, err := c.join(missing)
		s.joinCh <- joinResult{contacted: n, missing: len(missing), rejected: rejected, err: err}
	}()
}

// joinDone records the outcome of a join: joining any speaker makes this
// node ready; only refusals keep it from taking part alone after JoinGrace.
func (s *Speaker) joinDone(r joinResult, now time.Time) {
	s.joining = false
	switch {
	case r.contacted > 0:
		if !s.joined {
			s.log.Info("Joined the other speakers", "contacted", r.contacted, "missing", r.missing)
			s.joined, s.joinedAt = true, now
		}
		s.rejected = false
	case r.rejected:
		s.rejected = true
		s.problem("Other speakers refused this node's gossip: their key differs (check the memberlist Secret on every node); this node owns no address", "error", r.err.Error())
	case r.err != nil && !s.joined && now.Sub(s.joinStart) > s.opts.JoinGrace:
		s.problem("Reached no other speaker; taking part alone until they answer", "peers", r.missing, "error", r.err.Error())
	}
}

func membersSignature(ms []member) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s/%t,", m.name, m.meta.Ready)
	}
	return b.String()
}

// wanted is an address this node wins.
type wanted struct {
	key     netip.Addr
	ifaces  []Interface
	refresh time.Duration
}

// elect returns the addresses self wins among itself (with ifaces) and
// the ready others, each with the local interfaces to answer on, and the
// addresses self is eligible for but has no interface for.
func elect(self string, ifaces []Interface, others []member, addrs []Address) (map[netip.Addr]wanted, []netip.Addr) {
	byName := make(map[string]*member, len(others))
	for i := range others {
		if others[i].meta.Ready {
			byName[others[i].name] = &others[i]
		}
	}
	out := map[netip.Addr]wanted{}
	var noIface []netip.Addr
	var cands []string
	for _, a := range addrs {
		cands = cands[:0]
		var mine []Interface
		var refresh time.Duration
		listed := false
		for _, r := range a.Rules {
			if _, in := slices.BinarySearch(r.Nodes, self); in {
				listed = true
				if sel := Select(ifaces, a.Addr, r.Interfaces); len(sel) > 0 {
					cands = append(cands, self)
					mine = append(mine, sel...)
					if r.Refresh > 0 && (refresh == 0 || r.Refresh < refresh) {
						refresh = r.Refresh
					}
				}
			}
			for _, n := range r.Nodes {
				if m := byName[n]; m != nil && len(Select(m.meta.Interfaces, a.Addr, r.Interfaces)) > 0 {
					cands = append(cands, n)
				}
			}
		}
		if listed && len(mine) == 0 {
			noIface = append(noIface, a.Addr)
		}
		if len(mine) == 0 || Elect(a.Key, cands) != self {
			continue
		}
		slices.SortFunc(mine, func(x, y Interface) int { return strings.Compare(x.Name, y.Name) })
		mine = slices.CompactFunc(mine, func(x, y Interface) bool { return x.Name == y.Name })
		out[a.Addr] = wanted{key: a.Key, ifaces: mine, refresh: refresh}
	}
	return out, noIface
}

// apply takes and releases addresses and opens and closes the sockets.
func (s *Speaker) apply(want map[netip.Addr]wanted, ifaces []Interface, now time.Time) {
	for a, o := range s.owned {
		if _, ok := want[a]; !ok {
			delete(s.owned, a)
			s.metrics.changes.WithLabelValues("released").Inc()
			s.log.Info("Released layer 2 address", "ip", a.String(), "owned", time.Since(o.since).Round(time.Millisecond).String())
		}
	}
	perIface := map[string][]netip.Addr{}
	byName := map[string]Interface{}
	for _, ifc := range ifaces {
		byName[ifc.Name] = ifc
	}
	for a, w := range want {
		names := make([]string, len(w.ifaces))
		for i, ifc := range w.ifaces {
			names[i] = ifc.Name
			perIface[ifc.Name] = append(perIface[ifc.Name], a)
		}
		o := s.owned[a]
		switch {
		case o == nil:
			s.owned[a] = &ownedAddr{key: w.key, ifaces: names, since: now, next: now, refresh: w.refresh}
			s.metrics.changes.WithLabelValues("acquired").Inc()
			s.log.Info("Took layer 2 address", "ip", a.String(), "interfaces", names)
		case !slices.Equal(o.ifaces, names):
			o.ifaces, o.sent, o.next = names, 0, now
		}
		if o != nil {
			o.refresh, o.key = w.refresh, w.key
		}
	}
	// Sockets: one responder per interface that answers for something; a
	// changed index or MAC (the interface was recreated) reopens it.
	for name, r := range s.responders {
		ifc, ok := byName[name]
		if len(perIface[name]) == 0 || !ok || ifc.Index != r.ifi.Index || !slices.Equal(ifc.MAC, r.ifi.HardwareAddr) {
			r.close()
			delete(s.responders, name)
		}
	}
	for name, addrs := range perIface {
		r := s.responders[name]
		if r == nil {
			ifc := byName[name]
			var err error
			r, err = openResponder(s.log, s.opts.NetNS, net.Interface{Index: ifc.Index, Name: ifc.Name, HardwareAddr: ifc.MAC}, s.metrics, s.reportConflict)
			if err != nil {
				s.problem("Could not answer on an interface", "interface", name, "error", err.Error())
				continue
			}
			s.responders[name] = r
		}
		r.setSource(byName[name].LinkLocal)
		r.set(addrs)
	}
	out := make([]Owned, 0, len(s.owned))
	for a, o := range s.owned {
		out = append(out, Owned{Addr: a, Interfaces: o.ifaces, Since: o.since})
	}
	slices.SortFunc(out, func(x, y Owned) int { return x.Addr.Compare(y.Addr) })
	s.metrics.owned.Set(float64(len(out)))
	s.mu.Lock()
	s.ownedOut = out
	s.mu.Unlock()
}

// announceDue sends the announcements whose time has come: the three of
// the burst after taking an address (or after a membership change, a
// stall, a conflict), then one per refresh interval, jittered by ±10% so
// that nodes and addresses do not synchronise, and at most refreshBudget
// refreshes per tick.
func (s *Speaker) announceDue(now time.Time) {
	budget := refreshBudget
	for a, o := range s.owned {
		if now.Before(o.next) {
			continue
		}
		refreshing := o.sent >= len(burst)
		if refreshing {
			if budget == 0 {
				continue
			}
			budget--
		}
		for _, name := range o.ifaces {
			if r := s.responders[name]; r != nil {
				if err := r.announce(a); err != nil {
					s.log.V(1).Info("Could not announce", "ip", a.String(), "interface", name, "error", err.Error())
				}
			}
		}
		if o.sent < len(burst) {
			o.sent++
		}
		switch {
		case o.sent < len(burst):
			o.next = o.since.Add(burst[o.sent])
			if o.next.Before(now) {
				o.next = now.Add(burst[o.sent] - burst[o.sent-1])
			}
		case o.refresh > 0:
			jitter := time.Duration(rand.Int64N(int64(o.refresh)/5+1)) - o.refresh/10
			o.next = now.Add(o.refresh + jitter)
		default:
			o.next = now.Add(100 * 365 * 24 * time.Hour)
		}
	}
}

// reportConflict is called by responders; the loop handles it.
func (s *Speaker) reportConflict(ifname string, addr netip.Addr, mac net.HardwareAddr) {
	select {
	case s.conflCh <- conflict{ifname: ifname, addr: addr, mac: mac}:
	default: // a flood: the ones queued already trigger the repair
	}
}

// handleConflict: another MAC claims an address we own. If the MAC is a
// speaker's that beats us for the address, our view is behind: yield
// until the membership changes. Otherwise announce again (at most every
// reannounceGap), so the clients come back to us.
func (s *Speaker) handleConflict(c conflict, now time.Time) {
	o := s.owned[c.addr]
	if o == nil {
		return
	}
	s.metrics.conflicts.Inc()
	s.mu.Lock()
	s.conflictsN++
	s.mu.Unlock()
	var owner string
	if s.cluster != nil {
		owner = s.cluster.nodeByMAC(c.mac)
	}
	s.mu.Lock()
	var addr *Address
	for i := range s.desired.Addresses {
		if s.desired.Addresses[i].Addr == c.addr {
			addr = &s.desired.Addresses[i]
		}
	}
	s.mu.Unlock()
	// Yield only to a speaker that may own the address in this node's
	// view (its claim is then newer than our view of it, or we are
	// partitioned from it), never to one that said it is leaving: its
	// packets still in flight must not take the address from its
	// successor, nor to one that our inputs no longer let own it (its
	// view of the endpoints lags ours; it will release).
	if owner != "" && !s.cluster.isLeaving(owner) && mayOwn(addr, owner) && Better(owner, s.opts.NodeName, o.key) {
		s.yielded[c.addr] = yield{node: owner, at: now}
		msg := fmt.Sprintf("Node %s (MAC %s) answers for %s and wins its election; this node yields until its gossip view agrees", owner, c.mac, c.addr)
		s.log.Info("Yielded layer 2 address to a better node", "ip", c.addr.String(), "node", owner, "mac", c.mac.String())
		s.notify(c.addr, msg)
		s.step(now)
		return
	}
	if now.Sub(o.lastRe) < reannounceGap {
		return
	}
	o.lastRe, o.next = now, now
	who := "a host that is not a speaker"
	if owner != "" {
		who = "node " + owner
	}
	msg := fmt.Sprintf("MAC %s (%s) claims %s on %s, which this node owns; announced it again", c.mac, who, c.addr, c.ifname)
	s.log.Info("Saw another MAC claim an owned address", "ip", c.addr.String(), "mac", c.mac.String(), "interface", c.ifname, "node", owner)
	s.notify(c.addr, msg)
	s.announceDue(now)
}

// mayOwn reports whether a rule of a lists node.
func mayOwn(a *Address, node string) bool {
	if a == nil {
		return false
	}
	for _, r := range a.Rules {
		if _, ok := slices.BinarySearch(r.Nodes, node); ok {
			return true
		}
	}
	return false
}

func (s *Speaker) notify(addr netip.Addr, msg string) {
	if s.opts.OnConflict != nil {
		s.opts.OnConflict(addr, msg)
	}
}
