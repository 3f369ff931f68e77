package layer2

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"slices"

	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
	"github.com/vishvananda/netns"
)

// Profile is a memberlist timing profile: how fast a dead speaker is
// noticed, against how much gossip traffic and CPU it costs.
type Profile string

// The profiles. In a small cluster a crash is covered after at most six
// probe intervals plus a gossip interval and the announcement: a survivor
// may first probe the dead node up to three intervals after it died
// (memberlist reshuffles its probe order every round, so the node can be
// first in one round and last in the next), the probe and its indirect
// probes take one more, the suspicion (SuspicionMult intervals) two.
// The intervals are chosen from that bound; docs/layer2.md has the
// measured figures.
const (
	// ProfileFast probes every 150ms (timeout 75ms), suspicion multiplier
	// 2, gossip every 50ms: at worst 0.9 s plus the announcement.
	ProfileFast Profile = "fast"
	// ProfileBalanced probes every 300ms (timeout 150ms), suspicion
	// multiplier 2, gossip every 75ms: at worst 1.8 s plus the
	// announcement. The default.
	ProfileBalanced Profile = "balanced"
	// ProfileLAN is memberlist's LAN defaults (probe 1s, timeout 500ms,
	// suspicion multiplier 4, gossip 200ms): 5–6 s to fail over.
	ProfileLAN Profile = "lan"
)

// ParseProfile parses a profile name.
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(s); p {
	case ProfileFast, ProfileBalanced, ProfileLAN:
		return p, nil
	}
	return "", fmt.Errorf("unknown layer 2 profile %q: want fast, balanced or lan", s)
}

// settle is Options.Settle's default for the profile: long enough for a
// rejoining speaker's refutation of its old incarnation to reach every
// member.
func (p Profile) settle() time.Duration {
	c := p.memberlistConfig()
	return 2*c.ProbeInterval + 4*c.GossipInterval
}

// memberlistConfig returns memberlist's configuration for the profile.
func (p Profile) memberlistConfig() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	switch p {
	case ProfileFast:
		c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult, c.GossipInterval = 150*time.Millisecond, 75*time.Millisecond, 2, 50*time.Millisecond
	case ProfileBalanced:
		c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult, c.GossipInterval = 300*time.Millisecond, 150*time.Millisecond, 2, 75*time.Millisecond
	}
	if p != ProfileLAN {
		// A suspicion ends after the base timeout (SuspicionMult probe
		// intervals), confirmed by others or not: memberlist's default
		// lets an unconfirmed one last six times longer, which is the
		// long tail of failover in a small cluster.
		c.SuspicionMaxTimeoutMult = 1
		c.PushPullInterval = 10 * time.Second
		c.TCPTimeout = 2 * time.Second
	}
	return c
}

// msgLeaving is the first byte of the direct message a speaker sends to
// every member before it leaves: the others elect without it at once,
// instead of waiting for memberlist's leave broadcast.
const msgLeaving = 'L'

// cluster is this node's memberlist membership.
type cluster struct {
	log     logr.Logger
	ml      *memberlist.Memberlist
	keyring *memberlist.Keyring
	port    int
	changed func() // membership or metadata changed

	mu   sync.Mutex
	meta []byte
	// leaving maps a node to the instance (Meta.Instance) that said it is
	// leaving; that instance stays out of the view even if memberlist
	// reports it again (a late join), a new instance is let in.
	leaving map[string]uint64
	// instance is the last instance seen of every node.
	instance map[string]uint64
	// view is the live members as the event callbacks reported them,
	// copied there: memberlist updates the *Node it hands out under its own
	// lock, so reading Members() fields later would race.
	view map[string]member
	// macs maps every MAC any member ever announced in its metadata to
	// that member, also after it left the view: in a gossip partition the
	// other side's claims must still be recognised as a speaker's.
	macs map[[6]byte]string
}

// clusterConfig is what newCluster needs.
type clusterConfig struct {
	name      string
	bind      netip.AddrPort
	advertise netip.Addr
	key       []byte
	profile   Profile
	ns        netns.NsHandle
	log       logr.Logger
	changed   func()
}

func newCluster(cc clusterConfig) (*cluster, error) {
	if err := memberlist.ValidateKey(cc.key); err != nil {
		return nil, fmt.Errorf("memberlist key: %w", err)
	}
	keyring, err := memberlist.NewKeyring(nil, cc.key)
	if err != nil {
		return nil, fmt.Errorf("memberlist key: %w", err)
	}
	c := &cluster{log: cc.log, keyring: keyring, port: int(cc.bind.Port()), changed: cc.changed, leaving: map[string]uint64{}, instance: map[string]uint64{}, view: map[string]member{}, macs: map[[6]byte]string{}}
	conf := cc.profile.memberlistConfig()
	conf.Name = cc.name
	conf.Keyring = keyring
	conf.BindAddr = cc.bind.Addr().String()
	conf.BindPort = int(cc.bind.Port())
	conf.AdvertiseAddr = cc.advertise.String()
	conf.AdvertisePort = int(cc.bind.Port())
	conf.Delegate = (*delegate)(c)
	conf.Events = (*events)(c)
	conf.Logger = log.New(&logWriter{log: cc.log}, "", 0)
	var tr *memberlist.NetTransport
	err = inNetNS(cc.ns, func() error {
		var err error
		tr, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{
			BindAddrs: []string{conf.BindAddr}, BindPort: conf.BindPort, Logger: conf.Logger})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening for gossip on %s: %w", cc.bind, err)
	}
	if cc.ns.IsOpen() {
		conf.Transport = &nsTransport{NetTransport: tr, ns: cc.ns}
	} else {
		conf.Transport = tr
	}
	ml, err := memberlist.Create(conf)
	if err != nil {
		_ = tr.Shutdown()
		return nil, fmt.Errorf("starting memberlist: %w", err)
	}
	c.ml = ml
	return c, nil
}

// setKey makes key the primary key; the previous ones stay installed, so
// that nodes still on the old key are understood during a rotation.
func (c *cluster) setKey(key []byte) error {
	if err := c.keyring.AddKey(key); err != nil {
		return fmt.Errorf("memberlist key: %w", err)
	}
	if err := c.keyring.UseKey(key); err != nil {
		return fmt.Errorf("memberlist key: %w", err)
	}
	return nil
}

// setMeta publishes this node's metadata; false when it did not change.
func (c *cluster) setMeta(meta []byte) bool {
	c.mu.Lock()
	same := bytes.Equal(meta, c.meta)
	c.meta = meta
	c.mu.Unlock()
	if same {
		return false
	}
	// UpdateNode waits for the broadcast to be sent; the caller's loop
	// must not.
	go func() {
		if err := c.ml.UpdateNode(time.Second); err != nil {
			c.log.V(1).Info("Memberlist metadata update was slow", "error", err.Error())
		}
	}()
	return true
}

// member is one other node as this node sees it.
type member struct {
	name string
	addr netip.Addr
	meta Meta
}

// members returns the live members other than self, without those that
// said they are leaving. A member whose metadata does not parse is not
// ready.
func (c *cluster) members(self string) []member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]member, 0, len(c.view))
	for name, m := range c.view {
		if name != self && !c.isLeavingLocked(name) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b member) int { return strings.Compare(a.name, b.name) })
	return out
}

// record copies n into the view; called from memberlist's callbacks,
// while n cannot change.
func (c *cluster) record(n *memberlist.Node) {
	meta, _ := decodeMeta(n.Meta)
	a, _ := netip.AddrFromSlice(n.Addr)
	c.view[n.Name] = member{name: n.Name, addr: a.Unmap(), meta: meta}
	c.instance[n.Name] = meta.Instance
	for _, i := range meta.Interfaces {
		if len(i.MAC) == 6 {
			c.macs[[6]byte(i.MAC)] = n.Name
		}
	}
}

// isLeaving reports whether name told us it is leaving.
func (c *cluster) isLeaving(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isLeavingLocked(name)
}

func (c *cluster) isLeavingLocked(name string) bool {
	inst, ok := c.leaving[name]
	return ok && inst == c.instance[name]
}

// nodeByMAC returns the speaker that announced mac, or "".
func (c *cluster) nodeByMAC(mac net.HardwareAddr) string {
	if len(mac) != 6 {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.macs[[6]byte(mac)]
}

// join contacts the addresses (on the gossip port); it returns how many
// answered, and whether a failure looked like a rejection (a listener that
// would not talk to us: a different key) rather than an absent speaker.
func (c *cluster) join(addrs []netip.Addr) (int, bool, error) {
	if len(addrs) == 0 {
		return 0, false, nil
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = net.JoinHostPort(a.String(), strconv.Itoa(c.port))
	}
	n, err := c.ml.Join(s)
	if err == nil {
		return n, false, nil
	}
	msg := err.Error()
	rejected := strings.Contains(msg, "crypt") || strings.Contains(msg, "EOF") || strings.Contains(msg, "reset by peer") || strings.Contains(msg, "label")
	return n, rejected, fmt.Errorf("joining the other speakers: %w", err)
}

// sendLeaving tells every member, directly, that this node is leaving:
// a datagram now, and a stream copy that covers a lost datagram. The
// returned wait blocks until the stream copies are out (at most 200ms).
func (c *cluster) sendLeaving(self string, instance uint64) (wait func()) {
	msg := binary.BigEndian.AppendUint64([]byte{msgLeaving}, instance)
	msg = append(msg, self...)
	var wg sync.WaitGroup
	for _, m := range c.members(self) {
		n := &memberlist.Node{Name: m.name, Addr: m.addr.AsSlice(), Port: uint16(c.port)}
		// Best effort (UDP) arrives first; the reliable (TCP) copy covers
		// a lost datagram.
		_ = c.ml.SendBestEffort(n, msg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.ml.SendReliable(n, msg)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return func() {
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// leave announces the departure through memberlist and stops.
func (c *cluster) leave(timeout time.Duration) {
	if err := c.ml.Leave(timeout); err != nil {
		c.log.V(1).Info("Memberlist leave was not acknowledged", "error", err.Error())
	}
	_ = c.ml.Shutdown()
}

// crash stops gossip without a word, as a crash would (benchmarks only).
func (c *cluster) crash() { _ = c.ml.Shutdown() }

// delegate is the memberlist.Delegate of a cluster.
type delegate cluster

// NodeMeta returns this node's metadata (memberlist.Delegate).
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		return nil
	}
	return d.meta
}

// NotifyMsg receives direct messages: only "leaving" (memberlist.Delegate).
func (d *delegate) NotifyMsg(b []byte) {
	if len(b) < 10 || b[0] != msgLeaving {
		return
	}
	d.mu.Lock()
	d.leaving[string(b[9:])] = binary.BigEndian.Uint64(b[1:9])
	d.mu.Unlock()
	d.log.V(1).Info("Heard a speaker leave", "node", string(b[9:]))
	d.changed()
}

// GetBroadcasts, LocalState and MergeRemoteState are unused: all state is
// in the metadata (memberlist.Delegate).
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}

// events is the memberlist.EventDelegate of a cluster.
type events cluster

// NotifyJoin records a member that joined (memberlist.EventDelegate).
func (e *events) NotifyJoin(n *memberlist.Node) {
	e.mu.Lock()
	(*cluster)(e).record(n)
	e.mu.Unlock()
	e.changed()
}

// NotifyLeave drops a member that left or died (memberlist.EventDelegate).
func (e *events) NotifyLeave(n *memberlist.Node) {
	e.mu.Lock()
	// leaving stays: the instance's late packets still must not win
	// (see Speaker.handleConflict).
	delete(e.view, n.Name)
	e.mu.Unlock()
	e.changed()
}

// NotifyUpdate records a member's new metadata (memberlist.EventDelegate).
func (e *events) NotifyUpdate(n *memberlist.Node) {
	e.mu.Lock()
	(*cluster)(e).record(n)
	e.mu.Unlock()
	e.changed()
}

// nsTransport dials from the network namespace the listeners live in, so
// that memberlist's TCP streams (push/pull, reliable messages) leave from
// the same namespace as its UDP packets.
type nsTransport struct {
	*memberlist.NetTransport
	ns netns.NsHandle
}

// DialTimeout dials from the transport's namespace (memberlist.Transport).
func (t *nsTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := inNetNS(t.ns, func() error {
		var err error
		conn, err = t.NetTransport.DialTimeout(addr, timeout)
		return err
	})
	return conn, err
}

// DialAddressTimeout is DialTimeout (memberlist.NodeAwareTransport).
func (t *nsTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// logWriter turns memberlist's log lines into logr: [DEBUG] at V(2), the
// rest ([INFO], [WARN], [ERR]) at V(1), because memberlist reports every
// failed probe of a node that is simply gone.
type logWriter struct{ log logr.Logger }

// Write logs each line of p (io.Writer).
func (w *logWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[DEBUG]") {
			w.log.V(2).Info("Memberlist", "message", line)
		} else {
			w.log.V(1).Info("Memberlist", "message", line)
		}
	}
	return len(p), nil
}

var (
	_ memberlist.NodeAwareTransport = (*nsTransport)(nil)
	_ io.Writer                     = (*logWriter)(nil)
)
