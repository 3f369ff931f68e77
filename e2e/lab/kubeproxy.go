package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Ports of kube-proxy's own servers, bound to the node's management
// address so that the lab (in the root namespace) can wait on /healthz.
const (
	KubeProxyHealthzPort = 10256
	KubeProxyMetricsPort = 10249
)

// KubeProxyProcess is the name under which node n's kube-proxy is recorded.
func KubeProxyProcess(n Node) string { return "kube-proxy-" + n.Name }

func (l *Lab) kubeProxyKubeconfig() string { return l.path("kube-proxy", "kubeconfig") }

// kubeProxyConfig renders node n's KubeProxyConfiguration.
//
//   - hostnameOverride is the Node's name: kube-proxy picks the endpoints
//     whose nodeName it is as local (externalTrafficPolicy and
//     internalTrafficPolicy Local) and reads its node IPs from the Node.
//   - detectLocalMode ClusterCIDR with both pod networks: traffic from
//     outside them to a Service is masqueraded where kube-proxy would on a
//     real node (Cluster policy, ClusterIPs).
//   - conntrack.maxPerCore 0 and zero timeouts: kube-proxy leaves the
//     conntrack sysctls alone; nf_conntrack_max is not writable in a
//     network namespace.
//   - nodePortAddresses primary: NodePorts and healthCheckNodePorts on the
//     node's InternalIPs (its fabric addresses), as on a real node.
//   - short minSyncPeriod: the e2e suite moves endpoints often and waits
//     for the data path after each move.
func kubeProxyConfig(n Node, mode, kubeconfig string) string {
	var cidrs []string
	for _, c := range ClusterCIDRs {
		cidrs = append(cidrs, c.String())
	}
	return fmt.Sprintf(`# Written by seamark's lab for node %[1]s.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: %[2]s
hostnameOverride: %[1]s
clientConnection:
  kubeconfig: %[3]s
  qps: 50
  burst: 100
clusterCIDR: %[4]s
detectLocalMode: ClusterCIDR
healthzBindAddress: %[5]s
metricsBindAddress: %[6]s
nodePortAddresses: [primary]
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
nftables:
  syncPeriod: 30s
  minSyncPeriod: 100ms
iptables:
  syncPeriod: 30s
  minSyncPeriod: 100ms
`, n.Name, mode, kubeconfig, strings.Join(cidrs, ","),
		netip.AddrPortFrom(n.Mgmt, KubeProxyHealthzPort), netip.AddrPortFrom(n.Mgmt, KubeProxyMetricsPort))
}

// StartKubeProxy starts kube-proxy in n's namespace.
func (l *Lab) StartKubeProxy(n Node) error {
	file := l.path("kube-proxy", n.Name+".yaml")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(file, []byte(kubeProxyConfig(n, l.KubeProxyMode, l.kubeProxyKubeconfig())), 0o644); err != nil {
		return err
	}
	_, err := l.startProcess(KubeProxyProcess(n), n.Netns, filepath.Join(l.K8sBin, "kube-proxy"), "--config="+file, "--v=2")
	return err
}

// startKubeProxies starts kube-proxy on every node and waits until each
// reports healthy (it has programmed its rules once).
func (l *Lab) startKubeProxies(ctx context.Context) error {
	for _, n := range l.NodeList {
		if err := l.StartKubeProxy(n); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(l.NodeList))
	for i, n := range l.NodeList {
		wg.Go(func() { errs[i] = l.WaitKubeProxy(ctx, n, 2*time.Minute) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RestartKubeProxies stops every node's kube-proxy and starts it again,
// waiting as startKubeProxies does (a full sync from a fresh list).
func (l *Lab) RestartKubeProxies(ctx context.Context) error {
	var errs []error
	for _, n := range l.NodeList {
		errs = append(errs, l.StopProcess(KubeProxyProcess(n), 10*time.Second))
	}
	return errors.Join(append(errs, l.startKubeProxies(ctx))...)
}

// WaitKubeProxy waits until node n's kube-proxy answers 200 on /healthz.
func (l *Lab) WaitKubeProxy(ctx context.Context, n Node, timeout time.Duration) error {
	url := "http://" + netip.AddrPortFrom(n.Mgmt, KubeProxyHealthzPort).String() + "/healthz"
	c := &http.Client{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if _, running := l.Pid(KubeProxyProcess(n)); !running {
			return fmt.Errorf("kube-proxy of %s exited (log: %s)", n.Name, l.LogPath(KubeProxyProcess(n)))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for kube-proxy of %s to be healthy (%s; log: %s): %w", n.Name, last, l.LogPath(KubeProxyProcess(n)), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RulesetOf returns kube-proxy's rules in node n's namespace: `nft list
// ruleset` in nftables mode, iptables-save and ip6tables-save in iptables
// mode.
func (l *Lab) RulesetOf(n Node) string {
	cmds := [][]string{{"nft", "list", "ruleset"}}
	if l.KubeProxyMode == "iptables" {
		cmds = [][]string{{"iptables-save"}, {"ip6tables-save"}}
	}
	var b strings.Builder
	for _, c := range cmds {
		out, err := NetnsExec(n.Netns, c...)
		b.Write(out)
		if err != nil {
			_, _ = fmt.Fprintln(&b, err)
		}
	}
	return b.String()
}

// KubeProxyHasAddress reports whether node n's kube-proxy has rules for
// traffic to addr, a Service's ClusterIP or load-balancer address: in
// nftables mode an element of its maps in `ip[6] kube-proxy` (with or
// without endpoints), in iptables mode a rule matching `-d addr`.
func (l *Lab) KubeProxyHasAddress(n Node, addr netip.Addr) (bool, error) {
	family, save := "ip", "iptables-save"
	if addr.Is6() {
		family, save = "ip6", "ip6tables-save"
	}
	cmd := []string{"nft", "list", "table", family, "kube-proxy"}
	if l.KubeProxyMode == "iptables" {
		cmd = []string{save, "-t", "nat"}
	}
	out, err := NetnsExec(n.Netns, cmd...)
	if err != nil {
		return false, err
	}
	return rulesHave(l.KubeProxyMode, string(out), addr), nil
}

// rulesHave reports whether kube-proxy's rules (`nft list table` or
// `iptables-save -t nat` output, by mode) match traffic to addr.
func rulesHave(mode, rules string, addr netip.Addr) bool {
	if mode == "iptables" {
		return strings.Contains(rules, "-d "+addr.String()+"/")
	}
	return strings.Contains(rules, addr.String()+" . ")
}

// WaitKubeProxyRules waits until every node's kube-proxy has rules for
// every one of addrs (KubeProxyHasAddress).
//
// Why the lab waits for this before the first request to a new Service:
// the router has the route about 80 ms after the address is allocated,
// kube-proxy its rules only after its next sync. A request that enters a
// node before then is not translated; the node sends it back to the
// router (its default route), which sends it to the node again, until
// its TTL runs out ("no route to host" at the client). Worse, the node's
// conntrack keeps that connection's untranslated entry for 120 s
// (nf_conntrack_tcp_timeout_syn_sent), and kube-proxy's rules only
// translate new connections: a later request that happens to reuse the
// client's source port (Linux hands out the ports to one destination in
// sequence, about 8 apart: the whole range turns over in about 3,500
// connections) takes the same loop, although the rules are there. See
// docs/operations.md.
func (l *Lab) WaitKubeProxyRules(ctx context.Context, addrs []netip.Addr, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var missing []string
		var last error
		for _, n := range l.NodeList {
			for _, a := range addrs {
				ok, err := l.KubeProxyHasAddress(n, a)
				if err != nil {
					last = err
				}
				if !ok {
					missing = append(missing, n.Name+": "+a.String())
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("kube-proxy has no rules for %v: %w", missing, ctx.Err()), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// UntranslatedConntrack counts the connections to addr in node n's
// conntrack table that no rule translated: their replies are expected
// from addr itself, not from a pod (see WaitKubeProxyRules).
func (l *Lab) UntranslatedConntrack(n Node, addr netip.Addr) (int, error) {
	out, err := NetnsExec(n.Netns, "cat", "/proc/net/nf_conntrack")
	if err != nil {
		return 0, err
	}
	return untranslated(string(out), addr), nil
}

// untranslated counts the lines of /proc/net/nf_conntrack whose original
// destination and reply source are both addr.
func untranslated(table string, addr netip.Addr) int {
	want := "src=" + addr.String()
	count := 0
	for _, line := range strings.Split(table, "\n") {
		var srcs, dsts []string
		for _, f := range strings.Fields(line) {
			switch {
			case strings.HasPrefix(f, "src="):
				srcs = append(srcs, f)
			case strings.HasPrefix(f, "dst="):
				dsts = append(dsts, f)
			}
		}
		if len(srcs) == 2 && len(dsts) == 2 && dsts[0] == "dst="+addr.String() && srcs[1] == want {
			count++
		}
	}
	return count
}
