package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

// StatusFieldManager is the server-side-apply field manager of the
// speaker's status writes.
const StatusFieldManager = "seamark-speaker"

// StatusReport is this node's state as the speaker knows it, in plain
// values: what BuildStatus turns into a SpeakerStatus.
type StatusReport struct {
	// Ready: the config is loaded and the caches are synced (a plan was
	// applied), and, with layer 2, the gossip is joined.
	Ready bool
	// NotReady says why not, when Ready is false.
	NotReady string
	// Peers are the BGP sessions.
	Peers []bgp.PeerStatus
	// Layer2 is nil when layer 2 is not in use.
	Layer2 *Layer2Report
}

// Layer2Report is the layer 2 half of a StatusReport.
type Layer2Report struct {
	Profile    string
	Members    int
	Interfaces []string
	// Candidates are the interfaces that may answer, with their subnets.
	Candidates []layer2.Interface
	Owned      []layer2.Owned
	Conflicts  int64
	// Problems are what competes with the node's answers (layer2.Speaker.Problems).
	Problems []string
}

// BuildStatus turns a report into the SpeakerStatus status, keeping the
// Ready condition's transition time from prev when it did not change. It
// has no ticking fields: the same report gives the same status, so an
// unchanged node writes nothing.
func BuildStatus(r StatusReport, prev seamarkv1alpha1.SpeakerStatusStatus, now time.Time) seamarkv1alpha1.SpeakerStatusStatus {
	var st seamarkv1alpha1.SpeakerStatusStatus
	cond := metav1.Condition{Type: seamarkv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: seamarkv1alpha1.ReasonSpeakerReady,
		Message: "The speaker loaded its configuration and announces what it plans"}
	if !r.Ready {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, seamarkv1alpha1.ReasonSpeakerStarting, r.NotReady
	}
	st.Conditions = slices.Clone(prev.Conditions)
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: cond.Type, Status: cond.Status, Reason: cond.Reason, Message: cond.Message,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))})
	up := 0
	for _, p := range r.Peers {
		if p.Up {
			up++
		}
		ps := seamarkv1alpha1.PeerSessionStatus{Name: p.Name, State: string(p.State), BFDState: p.BFDState,
			AdvertisedPrefixes: int32(min(p.Announced, 1<<31-1)), LastError: truncate(p.LastError, 1024)}
		if p.Address.IsValid() {
			ps.Address = p.Address.String()
		}
		if !p.Since.IsZero() {
			ps.LastTransitionTime = metav1.NewTime(p.Since.Truncate(time.Second))
		}
		st.Peers = append(st.Peers, ps)
	}
	slices.SortFunc(st.Peers, func(a, b seamarkv1alpha1.PeerSessionStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	if len(r.Peers) > 0 {
		st.PeersUp = strconv.Itoa(up) + "/" + strconv.Itoa(len(r.Peers))
	}
	if l := r.Layer2; l != nil {
		st.Memberlist = &seamarkv1alpha1.MemberlistStatus{Profile: l.Profile, Members: int32(min(l.Members, 1<<31-1))}
		ifaces := slices.Clone(l.Interfaces)
		for _, o := range l.Owned {
			ifaces = append(ifaces, o.Interfaces...)
		}
		slices.Sort(ifaces)
		st.Layer2 = &seamarkv1alpha1.Layer2Status{Interfaces: slices.Compact(ifaces), Owned: int32(min(len(l.Owned), 1<<31-1)), Conflicts: l.Conflicts}
		for _, p := range l.Problems[:min(len(l.Problems), 8)] {
			st.Layer2.Problems = append(st.Layer2.Problems, truncate(p, 1024))
		}
		for _, c := range l.Candidates[:min(len(l.Candidates), 64)] {
			li := seamarkv1alpha1.L2Interface{Name: c.Name}
			for _, p := range c.Prefixes[:min(len(c.Prefixes), 32)] {
				li.Prefixes = append(li.Prefixes, p.String())
			}
			st.Layer2.Candidates = append(st.Layer2.Candidates, li)
		}
	}
	return st
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// StatusWriter keeps this node's SpeakerStatus and the layer 2 owner of
// the IPAllocations it takes up to date: it collects a report every
// Interval and writes only what changed (at most one SpeakerStatus write
// per Interval; one IPAllocation write per address taken). A write that
// fails is logged once per distinct error and retried on the next tick;
// announcing never waits for it.
type StatusWriter struct {
	// Client writes (server-side apply for the SpeakerStatus, a merge patch
	// of the status of IPAllocations).
	Client client.Client
	// Reader reads the Node (for the ownerReference) uncached.
	Reader client.Reader
	// NodeName is this node.
	NodeName string
	// Collect returns the current report.
	Collect func() StatusReport
	// Interval between collections (default 1 s).
	Interval time.Duration
	// Log receives write failures.
	Log logr.Logger

	nodeUID    types.UID
	objApplied bool // the object with its ownerReference exists
	written    *seamarkv1alpha1.SpeakerStatusStatus
	owners     map[netip.Addr]time.Time // the l2 owner records written, by address
	lastErr    string
	lastLErr   string
}

// NeedLeaderElection: every speaker writes its own node's status.
func (w *StatusWriter) NeedLeaderElection() bool { return false }

// Start writes until ctx ends.
func (w *StatusWriter) Start(ctx context.Context) error {
	if w.Interval <= 0 {
		w.Interval = time.Second
	}
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		w.Sync(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sync collects a report and writes what changed since the last Sync.
func (w *StatusWriter) Sync(ctx context.Context, now time.Time) {
	r := w.Collect()
	var prev seamarkv1alpha1.SpeakerStatusStatus
	if w.written != nil {
		prev = *w.written
	}
	st := BuildStatus(r, prev, now)
	if w.written == nil || !equality.Semantic.DeepEqual(*w.written, st) {
		err := w.apply(ctx, st)
		w.report(&w.lastErr, err, "Could not write the SpeakerStatus; announcing goes on")
		if err == nil {
			w.written = &st
		}
	}
	if r.Layer2 != nil {
		err := w.writeOwners(ctx, r.Layer2.Owned)
		w.report(&w.lastLErr, err, "Could not record the layer 2 owner on an IPAllocation; announcing goes on")
	}
}

// report logs err once per distinct message, and the recovery once.
func (w *StatusWriter) report(last *string, err error, msg string) {
	switch {
	case err != nil && err.Error() != *last:
		w.Log.Error(err, msg, "node", w.NodeName)
		*last = err.Error()
	case err == nil && *last != "":
		w.Log.Info("Wrote the status again", "node", w.NodeName)
		*last = ""
	}
}

func (w *StatusWriter) apply(ctx context.Context, st seamarkv1alpha1.SpeakerStatusStatus) error {
	if w.nodeUID == "" {
		node := &corev1.Node{}
		if err := w.Reader.Get(ctx, client.ObjectKey{Name: w.NodeName}, node); err != nil {
			return fmt.Errorf("reading Node %s: %w", w.NodeName, err)
		}
		w.nodeUID = node.UID
	}
	obj := &seamarkv1alpha1.SpeakerStatus{
		TypeMeta: metav1.TypeMeta{APIVersion: seamarkv1alpha1.GroupVersion.String(), Kind: "SpeakerStatus"},
		ObjectMeta: metav1.ObjectMeta{Name: w.NodeName, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: w.NodeName, UID: w.nodeUID,
		}}},
	}
	u, err := toUnstructured(obj)
	if err != nil {
		return err
	}
	delete(u.Object, "status")
	// The object (its ownerReference) is applied once per Node; later
	// writes are the status alone, one request each.
	if !w.objApplied {
		if err := w.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(StatusFieldManager), client.ForceOwnership); err != nil {
			if kerrors.IsNotFound(err) || kerrors.IsInvalid(err) {
				w.nodeUID = "" // the Node was replaced: read it again
			}
			return fmt.Errorf("applying SpeakerStatus %s: %w", w.NodeName, err)
		}
		w.objApplied = true
	}
	obj.Status = st
	u, err = toUnstructured(obj)
	if err != nil {
		return err
	}
	delete(u.Object["metadata"].(map[string]any), "ownerReferences")
	if err := w.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(StatusFieldManager), client.ForceOwnership); err != nil {
		if kerrors.IsNotFound(err) {
			w.objApplied, w.nodeUID = false, "" // deleted (with its Node): create it again
		}
		return fmt.Errorf("applying the status of SpeakerStatus %s: %w", w.NodeName, err)
	}
	return nil
}

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return u, nil
}

// writeOwners records this node as the layer 2 owner of the addresses it
// took since the last write: one patch per address taken (a failover is
// one write, read only by the controller).
func (w *StatusWriter) writeOwners(ctx context.Context, owned []layer2.Owned) error {
	if w.owners == nil {
		w.owners = map[netip.Addr]time.Time{}
	}
	now := map[netip.Addr]bool{}
	var firstErr error
	for _, o := range owned {
		now[o.Addr] = true
		if since, ok := w.owners[o.Addr]; ok && since.Equal(o.Since) {
			continue
		}
		iface := ""
		if len(o.Interfaces) > 0 {
			iface = o.Interfaces[0]
		}
		ipa := &seamarkv1alpha1.IPAllocation{ObjectMeta: metav1.ObjectMeta{Name: seamarkv1alpha1.AllocationName(o.Addr)}}
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"status":{"l2":{"node":%q,"interface":%q,"since":%q}}}`,
			w.NodeName, iface, o.Since.UTC().Truncate(time.Second).Format(time.RFC3339)))
		err := w.Client.Status().Patch(ctx, ipa, patch)
		switch {
		case kerrors.IsNotFound(err):
			// Not a seamark grant (an ExternalIP, or released meanwhile).
		case err != nil:
			if firstErr == nil {
				firstErr = fmt.Errorf("recording the layer 2 owner of %s: %w", o.Addr, err)
			}
			continue
		}
		w.owners[o.Addr] = o.Since
	}
	for a := range w.owners {
		if !now[a] {
			delete(w.owners, a) // the next owner writes its own record
		}
	}
	return firstErr
}

// Report builds the StatusReport of a running speaker from its parts.
// Layer 2 is reported (and gates Ready) only while the applied plan uses
// it, i.e. some L2Advertisement exists; l2 is nil when the speaker runs
// without layer 2.
func Report(r *Reconciler, peers interface{ Status() []bgp.PeerStatus }, l2 *layer2.Speaker, profile string) StatusReport {
	plan := r.Applied()
	rep := StatusReport{Ready: plan != nil, NotReady: "The speaker has not synced its caches and applied a plan yet"}
	if peers != nil {
		rep.Peers = peers.Status()
	}
	if l2 != nil && plan != nil && plan.L2Enabled {
		rep.Layer2 = &Layer2Report{Profile: profile, Members: l2.Members(), Candidates: l2.Interfaces(), Owned: l2.Owned(), Conflicts: l2.Conflicts(),
			Problems: l2.Problems()}
		if !l2.Ready() {
			rep.Ready, rep.NotReady = false, "The speaker has not joined the layer 2 gossip yet"
		}
	}
	return rep
}
