package lab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

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
	// Answered counts the replies by the node of the pod that answered;
	// Errors the failed requests.
	Answered map[string]int
	Errors   int
	// Seen counts the replies by the client address the pod saw, named
	// ("client", a node's name) where the lab knows it.
	Seen map[string]int
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
		r.Answered, r.Errors = res.ByNode(), res.Errors
		r.Seen = map[string]int{}
		for c, k := range res.ByClient() {
			r.Seen[l.addrName(c)] += k
		}
	}
	return r, nil
}

// addrName names a source address a pod saw: the client's, or a node's
// (masqueraded by kube-proxy).
func (l *Lab) addrName(a string) string {
	if a == ClientAddr.String() || a == ClientV6.String() {
		return "client " + a
	}
	if n, ok := l.NodeByAddr(a); ok {
		return n.Name
	}
	return a
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
	_, _ = fmt.Fprintf(tw, "SERVICE\tADDRESS\tANNOUNCING NODES\tROUTER NEXT HOPS\tANSWERED BY PODS ON (%d REQUESTS)\tSOURCE THE PODS SAW\n", requests)
	for _, r := range rows {
		ans := counts(r.Answered)
		if r.Errors > 0 {
			ans = append(ans, fmt.Sprintf("failed:%d", r.Errors))
		}
		var seen []string
		for s := range r.Seen {
			seen = append(seen, s)
		}
		sort.Strings(seen)
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Service, r.Addr, orNone(r.Announcing), orNone(r.NextHops), orNone(ans), orNone(seen))
	}
	_ = tw.Flush()
}

func counts(m map[string]int) []string {
	var s []string
	for k, c := range m {
		s = append(s, fmt.Sprintf("%s:%d", k, c))
	}
	sort.Strings(s)
	return s
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, " ")
}

// Dump writes what a failed scenario needs to be understood: the router's
// BGP summary and routes, the Services' status, EndpointSlices, Events,
// seamark's objects' conditions, each node's kube-proxy rules and routes,
// and the tail of every seamark and kube-proxy log.
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
	section("FRR: show bfd peers brief")
	out, err = l.Vtysh("show bfd peers brief")
	_, _ = fmt.Fprintf(w, "%s%v\n", out, errOrEmpty(err))
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
		section("Pods")
		var pods corev1.PodList
		if err := l.Client.List(ctx, &pods); err == nil {
			for _, p := range pods.Items {
				_, _ = fmt.Fprintf(w, "Pod %s/%s node=%s phase=%s podIPs=%v ready=%v\n", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIPs, podReady(&p))
			}
		}
		section("EndpointSlices")
		var slices discoveryv1.EndpointSliceList
		if err := l.Client.List(ctx, &slices); err == nil {
			for _, s := range slices.Items {
				var eps []string
				for _, e := range s.Endpoints {
					node := ""
					if e.NodeName != nil {
						node = *e.NodeName
					}
					eps = append(eps, fmt.Sprintf("%v@%s(ready=%v serving=%v terminating=%v)", e.Addresses, node,
						boolOr(e.Conditions.Ready), boolOr(e.Conditions.Serving), boolOr(e.Conditions.Terminating)))
				}
				_, _ = fmt.Fprintf(w, "%s/%s %s %v\n", s.Namespace, s.Name, s.AddressType, eps)
			}
		}
	}
	for _, n := range l.NodeList {
		section(n.Netns + ": kube-proxy's rules (" + l.KubeProxyMode + ")")
		_, _ = io.WriteString(w, l.RulesetOf(n))
		section(n.Netns + ": routes")
		for _, fam := range []string{"-4", "-6"} {
			out, _ := NetnsExec(n.Netns, "ip", fam, "route", "show")
			_, _ = w.Write(out)
		}
	}
	logs := []string{"seamark-controller"}
	for _, n := range l.NodeList {
		logs = append(logs, SpeakerProcess(n), KubeProxyProcess(n))
	}
	for _, name := range logs {
		section("log " + name + " (last 60 lines)")
		_, _ = fmt.Fprintln(w, logTail(l.LogPath(name), 60))
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func boolOr(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
