//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seamark-io/seamark/e2e/lab"
)

// BenchmarkLoopBeforeKubeProxy measures what docs/operations.md tells
// operators about a new Service whose route reaches the router before a
// node's kube-proxy has its rules (lab.WaitKubeProxyRules): with the second
// node's kube-proxy stopped, requests to a new Service for 2 s (those that
// enter that node loop until their TTL runs out), the untranslated
// conntrack entries they leave there, and, once the kube-proxy has its
// rules again, the requests that still fail on reused source ports during
// the entries' 120 s and after them.
func BenchmarkLoopBeforeKubeProxy(b *testing.B) {
	labBench(b, "LAB: REQUESTS BEFORE A NODE'S KUBE-PROXY HAS A NEW SERVICE'S RULES (sm-client)", benchLoopBeforeKubeProxy)
}

func benchLoopBeforeKubeProxy(b *testing.B, l *lab.Lab, ctx context.Context) []string {
	b.Helper()
	const ns, app = "bench-loop", "web"
	n2 := l.NodeList[1]
	if err := l.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	if err := l.CreateBackends(ctx, ns, app, l.NodeList); err != nil {
		b.Fatal(err)
	}
	if err := l.StopProcess(lab.KubeProxyProcess(n2), 10*time.Second); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if b.Failed() {
			_ = l.RestartKubeProxies(context.Background())
		}
	})
	if _, err := l.CreateService(ctx, ns, app, app, lab.ServiceOptions{}); err != nil {
		b.Fatal(err)
	}
	got, err := l.WaitIngress(ctx, ns, app, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	addr := got[0]
	wantNextHops(b, l, hostPrefix(addr), addrs(l.NodeList...))
	stop := startFetch(b, l, lab.URL(addr))
	time.Sleep(2 * time.Second)
	before := stop()
	entries, err := l.UntranslatedConntrack(n2, addr)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.RestartKubeProxies(ctx); err != nil {
		b.Fatal(err)
	}
	if err := l.WaitKubeProxyRules(ctx, got, time.Minute); err != nil {
		b.Fatal(err)
	}
	back := time.Now()
	stop = startFetch(b, l, lab.URL(addr))
	time.Sleep(150 * time.Second)
	after := stop()
	var within, later []time.Duration
	for _, s := range after.Failed {
		if d := s.From.Sub(back); d < 120*time.Second {
			within = append(within, d)
		} else {
			later = append(later, d)
		}
	}
	b.ReportMetric(float64(before.Errors), "looped-requests")
	b.ReportMetric(float64(entries), "untranslated-entries")
	b.ReportMetric(float64(len(within)), "failed-after-rules")
	return []string{
		fmt.Sprintf("requests for 2 s, %s's kube-proxy stopped: failed\t%d of %d\t\t\t(%s)", n2.Name, before.Errors, before.Requests, lab.ICMPSummary(before.ICMP)),
		fmt.Sprintf("untranslated conntrack entries on %s\t%d\t\t\t", n2.Name, entries),
		row(fmt.Sprintf("after its rules are back, failed within 120 s (of %d requests; when, from the rules)", after.Requests), within),
		row("failed 120-150 s after the rules", later),
	}
}
