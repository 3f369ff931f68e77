package bgp

import (
	"context"
	"errors"
	"fmt"
	"time"

	gobgpapi "github.com/osrg/gobgp/v3/api"

	"github.com/seamark-io/seamark/speaker/bfd"
)

// bfdSilentRecovery is how long a peer disabled by BFD stays disabled while the router sends no
// BFD packet at all. A router that runs BFD only for established BGP sessions (FRR's dynamic
// neighbours: "bgp listen range") deletes its BFD session with the BGP session, so BFD could never
// come up again to re-enable ours; after this long the BGP session is let to reconnect.
const bfdSilentRecovery = 10 * time.Second

// bfdPoll is how often a BFD watcher re-checks bfdSilentRecovery between state changes.
const bfdPoll = time.Second

// bfdNeverUpHint is how long a BFD session may stay down after it started before the log says so,
// once, with what to check at the router.
const bfdNeverUpHint = 30 * time.Second

// bfdDownCommunication is the shutdown communication (RFC 9003) of the CEASE sent when BFD takes a
// session down, so the router's log says why.
const bfdDownCommunication = "seamark: BFD session down"

// BFDConfig enables BFD (speaker/bfd) for a peer. Changing it never resets the BGP session: the
// BFD session is started, stopped or given new timers in place.
type BFDConfig struct {
	// Enabled runs a BFD session from the session's local address to the peer's address. When it
	// goes down after having been up, the GoBGP peer is disabled at once (a CEASE goes out if the
	// link still carries it; the router's own BFD drops the routes either way); when it comes up
	// again, the peer is re-created and connects at once, without GoBGP's idle hold.
	Enabled bool
	// ReceiveInterval and TransmitInterval are the RequiredMinRx and DesiredMinTx intervals; 0
	// means 300 ms.
	ReceiveInterval, TransmitInterval time.Duration
	// DetectMultiplier is the detection multiplier; 0 means 3.
	DetectMultiplier uint8
}

func (c BFDConfig) timers() bfd.Timers {
	return bfd.Timers{DesiredMinTx: c.TransmitInterval, RequiredMinRx: c.ReceiveInterval, DetectMult: c.DetectMultiplier}
}

// bfdLink is a session's BFD session and the goroutine that acts on it.
type bfdLink struct {
	sess *bfd.Session
	cfg  BFDConfig
	stop chan struct{}
	done chan struct{}
	// state is what the watcher acted on so far; only it touches it, under session.bfdMu.
	state bfdState
}

// bfdState is what a BFD watcher has acted on so far.
type bfdState struct {
	// downs is the BFD session's Downs count already acted on.
	downs uint64
	// disabled: the GoBGP peer is disabled because BFD went down, since disabledAt.
	disabled   bool
	disabledAt time.Time
	// started is when the BFD session started; everUp, whether it has been Up since; hinted,
	// whether the "not up" hint was logged.
	started        time.Time
	everUp, hinted bool
}

// bfdDecision is what to do about one BFD status; disable comes before enable when both are set
// (a Down and a recovery seen at once).
type bfdDecision struct {
	disable, enable bool
	// benignDown: a Down to log and leave alone; hint: log that BFD never came up.
	benignDown, hint bool
	enableReason     string
}

// decideBFD is the BFD watcher's rule, pure: from what was acted on so far and the BFD session's
// status at now, what to do and the new state.
//
//   - A Down (the session's Downs count moved) that was a failure disables the peer, unless it
//     already is; a benign one (the router's own doing, see bfd.SessionStatus) is only logged.
//   - A disabled peer is enabled when BFD is Up, or when the router has sent no BFD packet for
//     bfdSilentRecovery (a router that runs BFD only for established sessions never would).
//   - A session that has never been Up bfdNeverUpHint after it started is logged once.
func decideBFD(s bfdState, st bfd.SessionStatus, now time.Time) (bfdDecision, bfdState) {
	var d bfdDecision
	s.everUp = s.everUp || st.Up
	if !s.everUp && !s.hinted && now.Sub(s.started) > bfdNeverUpHint {
		s.hinted, d.hint = true, true
	}
	if st.Downs > s.downs {
		s.downs = st.Downs
		switch {
		case st.LastDownBenign:
			d.benignDown = true
		case !s.disabled:
			d.disable = true
			s.disabled, s.disabledAt = true, now
		}
	}
	switch {
	case !s.disabled:
	case st.Up:
		d.enable, d.enableReason = true, "BFD session up"
		s.disabled = false
	case now.Sub(s.disabledAt) > bfdSilentRecovery && now.Sub(st.LastReceived) > bfdSilentRecovery:
		d.enable, d.enableReason = true, fmt.Sprintf("the router has sent no BFD packet for %s", bfdSilentRecovery)
		s.disabled = false
	}
	return d, s
}

// applyBFD makes the session's BFD match c: started, stopped, or new timers. ctx bounds the
// AdminDown of a stopped BFD session.
func (ss *session) applyBFD(ctx context.Context, mgr *bfd.Manager, c BFDConfig) error {
	ss.bfdMu.Lock()
	link := ss.bfd
	ss.bfdMu.Unlock()
	switch {
	case !c.Enabled && link == nil:
		return nil
	case !c.Enabled:
		ss.stopBFD(ctx)
		ss.log.Info("Stopped BFD for BGP peer", "peer", ss.name, "address", ss.cfg.Address.String())
		return nil
	case link != nil:
		if link.cfg == c {
			return nil
		}
		if err := link.sess.SetTimers(c.timers()); err != nil {
			return fmt.Errorf("changing the BFD timers of peer %s: %w", ss.name, err)
		}
		ss.bfdMu.Lock()
		link.cfg = c
		ss.bfdMu.Unlock()
		ss.log.Info("Changed BFD timers", "peer", ss.name, "receiveInterval", c.ReceiveInterval.String(),
			"transmitInterval", c.TransmitInterval.String(), "detectMultiplier", c.DetectMultiplier)
		return nil
	case mgr == nil:
		return fmt.Errorf("peer %s: %w", ss.name, errNoBFD)
	}
	sess, err := mgr.Add(bfd.SessionConfig{Name: ss.name, Remote: ss.cfg.Address, Local: ss.cfg.SourceAddress, Timers: c.timers()})
	if err != nil {
		return fmt.Errorf("starting BFD for peer %s: %w", ss.name, err)
	}
	link = &bfdLink{sess: sess, cfg: c, stop: make(chan struct{}), done: make(chan struct{}), state: bfdState{started: time.Now()}}
	ss.bfdMu.Lock()
	ss.bfd = link
	ss.bfdMu.Unlock()
	go ss.watchBFD(link)
	st := sess.Status()
	ss.log.Info("Started BFD for BGP peer", "peer", ss.name, "address", ss.cfg.Address.String(), "local", st.Local.String(),
		"receiveInterval", c.ReceiveInterval.String(), "transmitInterval", c.TransmitInterval.String(), "detectMultiplier", c.DetectMultiplier)
	return nil
}

// stopBFD ends the session's BFD: the watcher first (so nothing toggles the peer any more), then the
// BFD session with AdminDown, which tells the router the end is planned. A peer disabled by BFD is
// enabled again unless the BGP session is stopping. Idempotent.
func (ss *session) stopBFD(ctx context.Context) {
	ss.bfdMu.Lock()
	link := ss.bfd
	ss.bfd = nil
	ss.bfdMu.Unlock()
	if link == nil {
		return
	}
	close(link.stop)
	<-link.done
	link.sess.Stop(ctx)
	ss.bfdMu.Lock()
	defer ss.bfdMu.Unlock()
	if link.state.disabled && !ss.isStopping() {
		ss.enablePeer(context.Background(), "BFD was turned off")
	}
}

// watchBFD acts on the BFD session's state until link.stop is closed.
func (ss *session) watchBFD(link *bfdLink) {
	defer close(link.done)
	t := time.NewTicker(bfdPoll)
	defer t.Stop()
	for {
		select {
		case <-link.stop:
			return
		case <-link.sess.Changes():
		case <-t.C:
		}
		ss.onBFD(link, link.sess.Status())
	}
}

// onBFD carries out decideBFD for the BFD session's current status. A BFD session that the router
// took administratively down or replaced (FRR re-creates a session when bgpd registers it, a moment
// after the BGP session comes up) leaves BGP alone (RFC 5882 §3.2).
func (ss *session) onBFD(link *bfdLink, st bfd.SessionStatus) {
	ss.bfdMu.Lock()
	defer ss.bfdMu.Unlock()
	if ss.isStopping() || ss.bfd != link {
		return
	}
	d, next := decideBFD(link.state, st, time.Now())
	addr := ss.cfg.Address.String()
	if d.hint {
		ss.log.Info("BFD session not up", "peer", ss.name, "address", addr, "local", st.Local.String(),
			"for", bfdNeverUpHint.String(), "packetsReceived", st.Received,
			"hint", "the router needs bfdd and \"neighbor <node> bfd\", and UDP 3784 must pass both ways; BGP runs meanwhile")
	}
	if d.benignDown {
		ss.log.Info("Kept BGP session: BFD went down by the router's own doing, not a failure", "peer", ss.name,
			"address", addr, "bfdState", st.State.String(), "remoteState", st.RemoteState.String(), "remoteDiag", st.RemoteDiag.String())
	}
	ctx := context.Background()
	if d.disable {
		ss.log.Info("Disabled BGP peer: BFD session down", "peer", ss.name, "address", addr,
			"bfdState", st.State.String(), "diag", st.Diag.String(), "remoteDiag", st.RemoteDiag.String())
		if err := ss.srv.srv.DisablePeer(ctx, &gobgpapi.DisablePeerRequest{Address: addr, Communication: bfdDownCommunication}); err != nil {
			// Left as it was: the next status (at most bfdPoll away) tries again.
			ss.log.Info("Could not disable BGP peer after BFD went down", "peer", ss.name, "error", err.Error())
			next.downs, next.disabled = link.state.downs, link.state.disabled
		}
	}
	if d.enable {
		ss.enablePeer(ctx, d.enableReason)
	}
	link.state = next
}

// enablePeer brings a peer disabled by BFD back. GoBGP's EnablePeer would wait its idle hold time
// (5 s, or 30 s after a reset) before connecting; a peer deleted and added again connects at once.
// The RIB is the server's, so the paths are sent again as soon as the session is established.
// ss.bfdMu must be held.
func (ss *session) enablePeer(ctx context.Context, why string) {
	addr := ss.cfg.Address.String()
	if err := ss.srv.srv.DeletePeer(ctx, &gobgpapi.DeletePeerRequest{Address: addr}); err != nil {
		ss.log.V(1).Info("Could not delete the disabled BGP peer", "peer", ss.name, "error", err.Error())
	}
	if err := ss.srv.srv.AddPeer(ctx, &gobgpapi.AddPeerRequest{Peer: gobgpPeer(ss.cfg)}); err != nil {
		ss.log.Info("Could not enable BGP peer again", "peer", ss.name, "error", err.Error())
		return
	}
	ss.log.Info("Enabled BGP peer", "peer", ss.name, "address", addr, "reason", why)
}

// bfdState is the BFD state for PeerStatus: empty when BFD is off.
func (ss *session) bfdState() string {
	ss.bfdMu.Lock()
	link := ss.bfd
	ss.bfdMu.Unlock()
	if link == nil {
		return ""
	}
	return link.sess.Status().State.String()
}

// markStopping stops the session from acting on BFD (or anything GoBGP reports) from now on. Taking
// bfdMu first waits for a BFD action in progress, so none can re-add the peer after this.
func (ss *session) markStopping() {
	ss.bfdMu.Lock()
	defer ss.bfdMu.Unlock()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.stopping = true
}

func (ss *session) isStopping() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.stopping
}

// errNoBFD is returned for a peer that asks for BFD from a Speaker without a bfd.Manager.
var errNoBFD = errors.New("BFD requested, but the speaker has no BFD manager")
