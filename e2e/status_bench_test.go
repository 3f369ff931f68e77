//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/e2e/lab"
)

const (
	statusBenchServices = 1000
	statusBenchWindow   = 60 * time.Second
	statusBenchPool     = "2001:db8:2000::/118"
)

// writeKey is one row of apiserver_request_total that writes.
type writeKey struct{ verb, resource, subresource string }

// apiserverWrites reads the apiserver's own count of write requests
// (apiserver_request_total, verbs that change objects), by verb, resource
// and subresource.
func apiserverWrites(ctx context.Context, cs kubernetes.Interface) (map[writeKey]float64, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the apiserver's metrics: %w", err)
	}
	out := map[writeKey]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		lbls, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(lbls, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				l[k] = strings.Trim(v, `"`)
			}
		}
		switch l["verb"] {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		default:
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("parsing %q: %w", line, err)
		}
		out[writeKey{l["verb"], l["resource"], l["subresource"]}] += n
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the apiserver's metrics have no apiserver_request_total for writes")
	}
	return out, nil
}

// writesDuring counts the apiserver's writes while f runs.
func writesDuring(b *testing.B, ctx context.Context, cs kubernetes.Interface, f func()) map[writeKey]float64 {
	b.Helper()
	before, err := apiserverWrites(ctx, cs)
	if err != nil {
		b.Fatal(err)
	}
	f()
	after, err := apiserverWrites(ctx, cs)
	if err != nil {
		b.Fatal(err)
	}
	d := map[writeKey]float64{}
	for k, v := range after {
		if n := v - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// statusResources are the resources status writes land on.
var statusResources = []string{"services", "speakerstatuses", "ipallocations", "events"}

// BenchmarkStatusWrites counts, from the apiserver's side
// (apiserver_request_total), the writes over a 60 s window with 1,000
// Services announced by three nodes: in steady state (target 0 caused by
// status), after one node's speaker is killed with SIGKILL (target: a few
// SpeakerStatus writes, no Service write, as the others still announce;
// the lab is BGP-only, so no layer 2 owner moves), and after it is started
// again. It prints every write the apiserver counted in each window,
// status or not.
func BenchmarkStatusWrites(b *testing.B) {
	if skipReason != "" {
		b.Skip(skipReason)
	}
	for range b.N {
		benchStatusWrites(b, theLab, context.Background())
	}
}

func benchStatusWrites(b *testing.B, l *lab.Lab, ctx context.Context) {
	const ns = "bench-status"
	rc, err := l.RestConfig()
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.SetRouterIPv6(true); err != nil {
		b.Fatal(err)
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{statusBenchPool}, AutoAssign: new(false)}},
		l.Peer(ns+"-v6", lab.RouterFabricV6),
	}
	for _, o := range objs {
		if err := l.Client.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for _, o := range slices.Backward(objs) {
			_ = l.Client.Delete(ctx, o)
		}
		_ = l.SetRouterIPv6(false)
	}()
	if err := waitV6Sessions(l, time.Minute); err != nil {
		b.Fatal(err)
	}
	if err := createIPv6Services(ctx, l, ns, ns, statusBenchServices); err != nil {
		b.Fatal(err)
	}
	announced := func() (int, error) {
		var svcs corev1.ServiceList
		if err := l.Client.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			return 0, err
		}
		n := 0
		for _, s := range svcs.Items {
			if c := meta.FindStatusCondition(s.Status.Conditions, seamarkv1alpha1.ConditionAnnounced); c != nil && c.Reason == seamarkv1alpha1.ReasonAnnounced {
				n++
			}
		}
		return n, nil
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, err := announced()
		if err != nil {
			b.Fatal(err)
		}
		if n == statusBenchServices {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d Services Announced", n, statusBenchServices)
		}
		time.Sleep(time.Second)
	}
	time.Sleep(5 * time.Second) // let the grants' and conditions' last writes land

	steady := writesDuring(b, ctx, cs, func() { time.Sleep(statusBenchWindow) })

	victim := l.NodeList[len(l.NodeList)-1]
	killed := writesDuring(b, ctx, cs, func() {
		if err := l.Signal(lab.SpeakerProcess(victim), syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		time.Sleep(statusBenchWindow)
	})
	restarted := writesDuring(b, ctx, cs, func() {
		if err := l.StartSpeaker(victim, nil); err != nil {
			b.Fatal(err)
		}
		time.Sleep(statusBenchWindow)
	})
	wantSessions(b, l)
	if n, err := announced(); err != nil || n != statusBenchServices {
		b.Errorf("after the kill: %d of %d Services Announced (%v)", n, statusBenchServices, err)
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "\nLAB STATUS WRITES (apiserver_request_total over %s; %d IPv6 Services announced by %d nodes)\n", statusBenchWindow, statusBenchServices, len(l.NodeList))
	_, _ = fmt.Fprintln(tw, "WINDOW\tSERVICES\tSPEAKERSTATUSES\tIPALLOCATIONS\tEVENTS\tOTHER WRITES")
	for _, w := range []struct {
		name string
		d    map[writeKey]float64
	}{{"steady state", steady}, {"speaker of " + victim.Name + " killed (SIGKILL)", killed}, {"speaker of " + victim.Name + " started again", restarted}} {
		by := map[string]float64{}
		var other []string
		for k, v := range w.d {
			if slices.Contains(statusResources, k.resource) {
				by[k.resource] += v
				continue
			}
			other = append(other, fmt.Sprintf("%s %s%s: %.0f", k.verb, k.resource, map[bool]string{true: "", false: "/" + k.subresource}[k.subresource == ""], v))
		}
		slices.Sort(other)
		_, _ = fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%s\n", w.name, by["services"], by["speakerstatuses"], by["ipallocations"], by["events"], dash(strings.Join(other, ", ")))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
