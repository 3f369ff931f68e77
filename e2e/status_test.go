//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/e2e/lab"
)

// speakerSessions returns, per node, its SpeakerStatus's Ready and the
// state of its session with the lab router.
func speakerSessions(ctx context.Context, l *lab.Lab) (map[string]string, error) {
	var list seamarkv1alpha1.SpeakerStatusList
	if err := l.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, ss := range list.Items {
		state := "no session"
		for _, p := range ss.Status.Peers {
			if p.Name == lab.PeerName {
				state = p.State
			}
		}
		out[ss.Name] = fmt.Sprintf("ready=%t %s", meta.IsStatusConditionTrue(ss.Status.Conditions, seamarkv1alpha1.ConditionReady), state)
	}
	return out, nil
}

// wantSpeakers waits until every node's SpeakerStatus is Ready with its
// session to the router in one of states.
func wantSpeakers(t *testing.T, l *lab.Lab, ctx context.Context, states ...string) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("every SpeakerStatus Ready with the session %v", states), func() error {
		got, err := speakerSessions(ctx, l)
		if err != nil {
			return err
		}
		for _, n := range l.NodeList {
			ok := false
			for _, s := range states {
				ok = ok || got[n.Name] == "ready=true "+s
			}
			if !ok {
				return fmt.Errorf("SpeakerStatuses %v", got)
			}
		}
		return nil
	})
}

// wantAnnounced waits until the Service's seamark.io/Announced condition
// has reason.
func wantAnnounced(t *testing.T, l *lab.Lab, ctx context.Context, ns, name, reason string) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("%s/%s Announced %s", ns, name, reason), func() error {
		svc := &corev1.Service{}
		if err := l.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
			return err
		}
		c := meta.FindStatusCondition(svc.Status.Conditions, seamarkv1alpha1.ConditionAnnounced)
		if c == nil || c.Reason != reason {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
}

// kubectlGet prints a resource list as kubectl get does: the apiserver's
// own Table (the CRD's printer columns), in kubectl's column layout. The
// lab has no kubectl binary; this is what it would show.
func kubectlGet(t *testing.T, l *lab.Lab, gvr schema.GroupVersionResource) string {
	t.Helper()
	rc, err := l.RestConfig()
	if err != nil {
		fatal(t, "%v", err)
	}
	rc = rest.CopyConfig(rc)
	rc.GroupVersion = &schema.GroupVersion{Group: gvr.Group, Version: gvr.Version}
	rc.APIPath = "/apis"
	rc.NegotiatedSerializer = serializer.NewCodecFactory(l.Scheme).WithoutConversion()
	rcl, err := rest.RESTClientFor(rc)
	if err != nil {
		fatal(t, "%v", err)
	}
	var table metav1.Table
	body, err := rcl.Get().Resource(gvr.Resource).SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err == nil {
		err = json.Unmarshal(body, &table)
	}
	if err != nil {
		fatal(t, "getting the %s table: %v", gvr.Resource, err)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 6, 4, 3, ' ', 0) // kubectl's widths
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, strings.ToUpper(c.Name))
		}
	}
	_, _ = fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range table.Rows {
		var cells []string
		for i, c := range r.Cells {
			if table.ColumnDefinitions[i].Priority != 0 {
				continue
			}
			s := fmt.Sprint(c)
			if c == nil {
				s = "<none>"
			}
			if table.ColumnDefinitions[i].Format == "date-time" || table.ColumnDefinitions[i].Type == "date" {
				if ts, err := time.Parse(time.RFC3339, s); err == nil {
					s = duration.HumanDuration(time.Since(ts))
				}
			}
			cells = append(cells, s)
		}
		_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
	return b.String()
}

// seamarkPlugin runs bin/kubectl-seamark against the lab's apiserver.
func seamarkPlugin(t *testing.T, l *lab.Lab, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(l.Bin, "kubectl-seamark"), append([]string{"--kubeconfig=" + l.Kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		fatal(t, "kubectl seamark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestSpeakerStatusAndAnnounced: every node's SpeakerStatus shows its
// session Established; stopping FRR turns the sessions Idle or Active
// there and every Service's Announced condition False with PeersDown,
// and starting it again turns both back. Before FRR stops the Service is
// Announced (the control: the condition follows the sessions).
func TestSpeakerStatusAndAnnounced(t *testing.T) {
	const ns = "e2e-status"
	l, ctx := setup(t, ns)
	addr := serviceAddr(t, l, ctx, ns, "web", l.NodeList, lab.ServiceOptions{})
	wantNextHops(t, l, hostPrefix(addr), addrs(l.NodeList...))
	wantSpeakers(t, l, ctx, "Established")
	wantAnnounced(t, l, ctx, ns, "web", seamarkv1alpha1.ReasonAnnounced)
	t.Logf("kubectl get speakerstatus\n%s", kubectlGet(t, l, seamarkv1alpha1.GroupVersion.WithResource("speakerstatuses")))
	t.Logf("kubectl get smalloc\n%s", kubectlGet(t, l, seamarkv1alpha1.GroupVersion.WithResource("ipallocations")))

	l.StopRouter()
	wantSpeakers(t, l, ctx, "Idle", "Active", "Connect")
	wantAnnounced(t, l, ctx, ns, "web", seamarkv1alpha1.ReasonPeersDown)
	logConditions(t, l, ctx, ns, "web")
	t.Logf("with FRR stopped: kubectl get speakerstatus\n%s", kubectlGet(t, l, seamarkv1alpha1.GroupVersion.WithResource("speakerstatuses")))
	t.Logf("with FRR stopped: kubectl seamark explain svc %s/web\n%s", ns, seamarkPlugin(t, l, "explain", "svc", ns+"/web"))

	if err := l.StartRouter(lab.RouterConfig{Nodes: l.NodeList}); err != nil {
		fatal(t, "%v", err)
	}
	wantSessions(t, l)
	wantSpeakers(t, l, ctx, "Established")
	wantAnnounced(t, l, ctx, ns, "web", seamarkv1alpha1.ReasonAnnounced)
	wantNextHops(t, l, hostPrefix(addr), addrs(l.NodeList...))
}

// TestExplainLocalService: a Local Service with its only ready endpoint on
// the first node: kubectl seamark explain says that node announces it to
// the router and names each other node with "no local endpoint" — and
// not the first (the control), and the router agrees.
func TestExplainLocalService(t *testing.T) {
	const ns, app = "e2e-explain", "local"
	l, ctx := setup(t, ns)
	n1 := l.NodeList[0]
	addr := serviceAddr(t, l, ctx, ns, app, []lab.Node{n1}, lab.ServiceOptions{Local: true})
	wantNextHops(t, l, hostPrefix(addr), addrs(n1))
	wantAnnounced(t, l, ctx, ns, app, seamarkv1alpha1.ReasonAnnounced)

	out := seamarkPlugin(t, l, "explain", "svc", ns+"/"+app)
	t.Logf("kubectl seamark explain svc %s/%s\n%s", ns, app, out)
	lines := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			lines[f[0]] = line
		}
	}
	if l1 := lines[n1.Name]; !strings.Contains(l1, "announces over BGP to "+lab.PeerName) || strings.Contains(l1, "no local endpoint") {
		errorf(t, "the node with the endpoint: %q, want it announcing to %s", l1, lab.PeerName)
	}
	for _, n := range l.NodeList[1:] {
		if ln := lines[n.Name]; !strings.Contains(ln, "does not announce: no local endpoint") {
			errorf(t, "node %s: %q, want \"no local endpoint\"", n.Name, ln)
		}
	}
	if !strings.Contains(out, "Address "+addr.String()+", pool "+lab.PoolName+", IPAllocation "+seamarkv1alpha1.AllocationName(addr)) {
		errorf(t, "the address line is missing or wrong:\n%s", out)
	}
	t.Logf("kubectl seamark status\n%s", seamarkPlugin(t, l, "status"))
	logConditions(t, l, ctx, ns, app)
}

// logConditions logs the Service's status.conditions as kubectl get -o
// yaml prints them.
func logConditions(t *testing.T, l *lab.Lab, ctx context.Context, ns, name string) {
	t.Helper()
	svc := &corev1.Service{}
	if err := l.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		fatal(t, "%v", err)
	}
	y, err := yaml.Marshal(map[string]any{"status": map[string]any{"conditions": svc.Status.Conditions}})
	if err != nil {
		fatal(t, "%v", err)
	}
	t.Logf("kubectl get svc -n %s %s -o yaml (status.conditions)\n%s", ns, name, y)
}
