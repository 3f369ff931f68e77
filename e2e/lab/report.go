package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// Row is one line of the lab's table: where an address of a Service is
// announced, routed and answered.
type Row struct {
	Service string
	Addr    netip.Addr
	// Announcing are the nodes the router has a BGP path from.
	Announcing []string
	// NextHops are the nodes the router's kernel routes the address to.
	NextHops []string
	// Answered counts which nodes answered the requests; Errors the failed
	// ones.
	Answered map[string]int
	Errors   int
}

// Prefix is the host prefix of the row's address.
func hostPrefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// Observe fills a row for addr of Service svc: the router's BGP paths and
// kernel next hops, and who answers requests (requests = 0: none sent).
func (l *Lab) Observe(svc string, addr netip.Addr, requests int) (Row, error) {
	r := Row{Service: svc, Addr: addr}
	paths, err := l.BGPPaths(hostPrefix(addr))
	if err != nil {
		return r, err
	}
	for _, p := range paths {
		r.Announcing = append(r.Announcing, l.nodeName(p.Peer))
	}
	sort.Strings(r.Announcing)
	gws, err := l.KernelNextHops(hostPrefix(addr))
	if err != nil {
		return r, err
	}
	for _, g := range gws {
		r.NextHops = append(r.NextHops, l.nodeName(g))
	}
	sort.Strings(r.NextHops)
	if requests > 0 {
		res, err := l.FetchFromClient(URL(addr), requests)
		if err != nil {
			return r, err
		}
		r.Answered, r.Errors = res.Answers, res.Errors
	}
	return r, nil
}

func (l *Lab) nodeName(addr string) string {
	if n, ok := l.NodeByAddr(addr); ok {
		return n.Name
	}
	return addr
}

// PrintTable prints rows as the lab's table.
func PrintTable(w io.Writer, rows []Row, requests int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "SERVICE\tADDRESS\tANNOUNCING NODES\tROUTER NEXT HOPS\tANSWERED (%d REQUESTS)\n", requests)
	for _, r := range rows {
		var ans []string
		for n, c := range r.Answered {
			ans = append(ans, fmt.Sprintf("%s:%d", n, c))
		}
		sort.Strings(ans)
		if r.Errors > 0 {
			ans = append(ans, fmt.Sprintf("failed:%d", r.Errors))
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, r.Addr, orNone(r.Announcing), orNone(r.NextHops), orNone(ans))
	}
	_ = tw.Flush()
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

// Dump writes what a failed scenario needs to be understood: the router's
// BGP summary and routes, the Services' status, Events, seamark's objects'
// conditions and the tail of every seamark log.
func (l *Lab) Dump(ctx context.Context, w io.Writer) {
	section := func(title string) { _, _ = fmt.Fprintf(w, "\n===== %s\n", title) }
	section("FRR: show bgp summary")
	out, err := l.Vtysh("show bgp summary")
	_, _ = fmt.Fprintf(w, "%s%v\n", out, errOrEmpty(err))
	section("FRR: show bgp ipv4 unicast / ipv6 unicast")
	out, _ = l.Vtysh("show bgp ipv4 unicast")
	_, _ = w.Write(out)
	out, _ = l.Vtysh("show bgp ipv6 unicast")
	_, _ = w.Write(out)
	section("sm-router kernel routes")
	for _, fam := range []string{"-4", "-6"} {
		out, _ := NetnsExec(NetnsRouter, "ip", fam, "route", "show")
		_, _ = w.Write(out)
	}
	if l.Client != nil {
		section("Services")
		var svcs corev1.ServiceList
		if err := l.Client.List(ctx, &svcs); err == nil {
			for _, s := range svcs.Items {
				_, _ = fmt.Fprintf(w, "%s/%s type=%s etp=%s clusterIPs=%v ingress=%v annotations=%v\n", s.Namespace, s.Name, s.Spec.Type,
					s.Spec.ExternalTrafficPolicy, s.Spec.ClusterIPs, IngressAddrs(&s), s.Annotations)
			}
		}
		section("Events")
		var evs corev1.EventList
		if err := l.Client.List(ctx, &evs); err == nil {
			for _, e := range evs.Items {
				_, _ = fmt.Fprintf(w, "%s %s %s/%s %s: %s\n", e.LastTimestamp.Format("15:04:05"), e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
		section("seamark objects")
		var pools seamarkv1alpha1.IPPoolList
		if err := l.Client.List(ctx, &pools); err == nil {
			for _, p := range pools.Items {
				_, _ = fmt.Fprintf(w, "IPPool %s %v conditions=%v\n", p.Name, p.Spec.CIDRs, p.Status.Conditions)
			}
		}
		var peers seamarkv1alpha1.BGPPeerList
		if err := l.Client.List(ctx, &peers); err == nil {
			for _, p := range peers.Items {
				_, _ = fmt.Fprintf(w, "BGPPeer %s %s conditions=%v\n", p.Name, p.Spec.Address, p.Status.Conditions)
			}
		}
		var ads seamarkv1alpha1.BGPAdvertisementList
		if err := l.Client.List(ctx, &ads); err == nil {
			for _, a := range ads.Items {
				_, _ = fmt.Fprintf(w, "BGPAdvertisement %s %v conditions=%v\n", a.Name, a.Spec.Addresses, a.Status.Conditions)
			}
		}
		var eps corev1.PodList
		if err := l.Client.List(ctx, &eps, client.InNamespace(DemoNamespace)); err == nil {
			for _, p := range eps.Items {
				_, _ = fmt.Fprintf(w, "Pod %s/%s node=%s phase=%s\n", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase)
			}
		}
	}
	logs := []string{"seamark-controller"}
	for _, n := range l.NodeList {
		logs = append(logs, SpeakerProcess(n), AgentProcess(n))
	}
	for _, name := range logs {
		section("log " + name + " (last 60 lines)")
		b, err := os.ReadFile(l.LogPath(name))
		if err != nil {
			_, _ = fmt.Fprintln(w, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		_, _ = fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
