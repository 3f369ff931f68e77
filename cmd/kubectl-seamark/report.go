package main

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/config"
	"github.com/seamark-io/seamark/plan"
)

// snapshot is what the plugin reads from the cluster: the planning's
// inputs and what the speakers and the controller report.
type snapshot struct {
	// Config is built from the cluster's seamark objects, as the
	// controller and the speakers build it.
	Config       *config.Config
	DefaultClass bool
	Nodes        []corev1.Node
	Speakers     []seamarkv1alpha1.SpeakerStatus
	Pools        []seamarkv1alpha1.IPPool
	Allocations  []seamarkv1alpha1.IPAllocation
}

func (s *snapshot) speakerMap() map[string]*seamarkv1alpha1.SpeakerStatus {
	out := make(map[string]*seamarkv1alpha1.SpeakerStatus, len(s.Speakers))
	for i := range s.Speakers {
		out[s.Speakers[i].Name] = &s.Speakers[i]
	}
	return out
}

func (s *snapshot) allocation(addr netip.Addr) *seamarkv1alpha1.IPAllocation {
	name := seamarkv1alpha1.AllocationName(addr)
	for i := range s.Allocations {
		if s.Allocations[i].Name == name {
			return &s.Allocations[i]
		}
	}
	return nil
}

// writeExplain prints where the Service's addresses are announced and, per
// node, why not: plan.Explain and plan.Assess, the functions the
// controller's seamark.io/Announced condition comes from.
func writeExplain(out io.Writer, s *snapshot, svc *corev1.Service, eps []discoveryv1.EndpointSlice) error {
	w := &bytes.Buffer{}
	key := svc.Namespace + "/" + svc.Name
	policy := svc.Spec.ExternalTrafficPolicy
	if policy == "" {
		policy = corev1.ServiceExternalTrafficPolicyCluster
	}
	fprintf(w, "Service %s: type %s, externalTrafficPolicy %s\n", key, svc.Spec.Type, policy)
	if !config.Handles(svc, s.DefaultClass) {
		fprintf(w, "Not a seamark Service: only type LoadBalancer Services of class %s (or without a class) are.\n", seamarkv1alpha1.LoadBalancerClass)
		return flush(out, w)
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 {
		fprintln(w, "No address yet: see the Service's events (kubectl describe service) for why.")
		return flush(out, w)
	}
	sp := plan.Explain(plan.Input{Config: s.Config, Nodes: s.Nodes, EndpointSlices: eps, DefaultClass: s.DefaultClass}, svc)
	speakers := s.speakerMap()
	reason := plan.ServiceReason(sp, speakers)
	status := "True"
	if reason != seamarkv1alpha1.ReasonAnnounced {
		status = "False"
	}
	fprintf(w, "Announced: %s (%s) %s\n", status, reason, plan.AnnouncedMessage(reason))
	if c := meta.FindStatusCondition(svc.Status.Conditions, seamarkv1alpha1.ConditionAnnounced); c != nil && c.Reason != reason {
		fprintf(w, "  (the Service's %s condition still says %s %s: the controller has not caught up, or is not running)\n", c.Type, c.Status, c.Reason)
	}
	for _, ap := range sp.Addresses {
		fprintf(w, "\nAddress %s", ap.Addr)
		if ap.Pool != "" {
			fprintf(w, ", pool %s", ap.Pool)
		} else {
			fprint(w, ", in no pool")
		}
		var owner *seamarkv1alpha1.L2Owner
		if a := s.allocation(ap.Addr); a != nil {
			fprintf(w, ", IPAllocation %s", a.Name)
			owner = a.Status.L2
		} else {
			fprint(w, ", no IPAllocation")
		}
		fprintln(w)
		outcomes, _ := plan.Assess(ap, speakers, sp.EndpointsAnywhere)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, o := range outcomes {
			fprintf(tw, "  %s\t%s\n", o.Node, nodeLine(o, speakers[o.Node], owner))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return flush(out, w)
}

// nodeLine says what one node does with an address.
func nodeLine(o plan.NodeOutcome, st *seamarkv1alpha1.SpeakerStatus, owner *seamarkv1alpha1.L2Owner) string {
	var parts []string
	if len(o.Announcing) > 0 {
		parts = append(parts, "announces over BGP to "+strings.Join(o.Announcing, ", "))
	}
	if len(o.Down) > 0 && len(o.Announcing) > 0 {
		parts = append(parts, "not to "+sessions(o.Down, st)+" (peer session down)")
	}
	if o.MayOwn {
		switch {
		case owner != nil && owner.Node == o.Node:
			parts = append(parts, "owns it over layer 2 on "+strings.Join(o.Interfaces, ", "))
		case owner != nil:
			parts = append(parts, "may own it over layer 2 on "+strings.Join(o.Interfaces, ", ")+" (standby; "+owner.Node+" owns it)")
		default:
			parts = append(parts, "may own it over layer 2 on "+strings.Join(o.Interfaces, ", ")+" (no owner recorded yet)")
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, "; ")
	}
	line := "does not announce: " + string(o.Why)
	if o.Why == plan.WhyPeersDown {
		line += " (" + sessions(o.Down, st) + ")"
	}
	return line
}

// sessions names peers with their session state.
func sessions(peers []string, st *seamarkv1alpha1.SpeakerStatus) string {
	out := make([]string, len(peers))
	for i, p := range peers {
		state := "no session"
		if st != nil {
			if j := slices.IndexFunc(st.Status.Peers, func(s seamarkv1alpha1.PeerSessionStatus) bool { return s.Name == p }); j >= 0 {
				state = st.Status.Peers[j].State
			}
		}
		out[i] = p + " " + state
	}
	return strings.Join(out, ", ")
}

// writeStatus prints the speakers, their sessions and the pools.
func writeStatus(out io.Writer, s *snapshot, now time.Time) error {
	w := &bytes.Buffer{}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintln(tw, "SPEAKER\tREADY\tPEERS\tMEMBERS\tL2-OWNED\tL2-CONFLICTS")
	speakers := slices.Clone(s.Speakers)
	slices.SortFunc(speakers, func(a, b seamarkv1alpha1.SpeakerStatus) int { return strings.Compare(a.Name, b.Name) })
	for _, sp := range speakers {
		ready := readyOf(sp.Status.Conditions)
		members, owned, conflicts := "-", "-", "-"
		if m := sp.Status.Memberlist; m != nil {
			members = fmt.Sprint(m.Members)
		}
		if l := sp.Status.Layer2; l != nil {
			owned, conflicts = fmt.Sprint(l.Owned), fmt.Sprint(l.Conflicts)
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sp.Name, ready, dash(sp.Status.PeersUp), members, owned, conflicts)
	}
	for _, n := range s.Nodes {
		if !slices.ContainsFunc(speakers, func(sp seamarkv1alpha1.SpeakerStatus) bool { return sp.Name == n.Name }) {
			fprintf(tw, "%s\tno SpeakerStatus\t-\t-\t-\t-\n", n.Name)
		}
	}
	for _, sp := range speakers {
		if l := sp.Status.Layer2; l != nil {
			for _, p := range l.Problems {
				fprintf(tw, "PROBLEM on %s: %s\n", sp.Name, p)
			}
		}
	}
	fprintln(tw)
	fprintln(tw, "NODE\tPEER\tADDRESS\tSTATE\tFOR\tPREFIXES\tBFD\tLAST ERROR")
	for _, sp := range speakers {
		for _, p := range sp.Status.Peers {
			age := "-"
			if !p.LastTransitionTime.IsZero() {
				age = now.Sub(p.LastTransitionTime.Time).Truncate(time.Second).String()
			}
			fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", sp.Name, p.Name, p.Address, p.State, age, p.AdvertisedPrefixes, dash(p.BFDState), dash(p.LastError))
		}
	}
	fprintln(tw)
	fprintln(tw, "POOL\tREADY\tCIDRS\tALLOCATED\tAVAILABLE")
	pools := slices.Clone(s.Pools)
	slices.SortFunc(pools, func(a, b seamarkv1alpha1.IPPool) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range pools {
		ready := readyOf(p.Status.Conditions)
		cidrs := make([]string, len(p.Spec.CIDRs))
		for i, c := range p.Spec.CIDRs {
			cidrs[i] = string(c)
		}
		fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.Name, ready, strings.Join(cidrs, ","), p.Status.Allocated, dash(p.Status.Available))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return flush(out, w)
}

// readyOf is the Ready condition's status, with its reason when not True.
func readyOf(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, seamarkv1alpha1.ConditionReady)
	switch {
	case c == nil:
		return "Unknown"
	case c.Status != metav1.ConditionTrue:
		return string(c.Status) + " (" + c.Reason + ")"
	}
	return string(c.Status)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fprintf, fprintln and fprint write to a buffer or a tabwriter over one,
// which cannot fail; flush writes the buffer out.
func fprintf(w io.Writer, format string, a ...any) { _, _ = fmt.Fprintf(w, format, a...) }
func fprintln(w io.Writer, a ...any)               { _, _ = fmt.Fprintln(w, a...) }
func fprint(w io.Writer, a ...any)                 { _, _ = fmt.Fprint(w, a...) }

func flush(out io.Writer, b *bytes.Buffer) error {
	_, err := out.Write(b.Bytes())
	return err
}
