//go:build integration

// Package chart_test renders the Helm chart and has the real apiserver
// validate every object it renders (server-side dry run).
package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers"
	"github.com/seamark-io/seamark/internal/testenv"
	"github.com/seamark-io/seamark/speaker"
	"github.com/seamark-io/seamark/speaker/bgp"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// helm returns bin/helm, building it with make when missing: the Makefile
// stamps helm with the Kubernetes version it assumes, so that no test
// needs --kube-version.
func helm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(env.Root, "bin", "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if out, err := exec.Command("make", "-C", env.Root, bin).CombinedOutput(); err != nil {
		t.Fatalf("building helm (make %s): %v\n%s", bin, err, out)
	}
	return bin
}

// render runs helm template on the chart (extra args appended) in the
// seamark-system namespace, which it creates, and returns the objects.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "seamark-system"}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding the rendered chart: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// helmTemplate runs helm template and returns its output, or an error
// carrying helm's message. No --kube-version: make tools stamps helm with
// the Kubernetes version it was built against.
func helmTemplate(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	base := []string{"template", "seamark", filepath.Join(env.Root, "charts", "seamark"), "--namespace", "seamark-system"}
	var stderr bytes.Buffer
	cmd := exec.Command(helm(t), append(base, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

// allFeatures turns on every optional object of the chart.
var allFeatures = []string{
	"--set", "metrics.serviceMonitor.enabled=true",
	"--set", "metrics.podMonitor.enabled=true",
	"--set", "metrics.prometheusRule.enabled=true",
	"--set", "metrics.grafanaDashboard.enabled=true",
	"--set", "metrics.reader.subjects[0].name=prometheus-k8s",
	"--set", "metrics.reader.subjects[0].namespace=monitoring",
	"--set", "controller.podLabels.team=net",
	"--set", "speaker.podAnnotations.note=yes",
	"--set", "controller.extraArgs[0]=--kube-api-qps=100",
	"--set", "speaker.extraEnv[0].name=GODEBUG",
	"--set", "speaker.extraEnv[0].value=madvdontneed=1",
	"--set", "controller.updateStrategy.type=Recreate",
}

func TestChartRendersObjectsTheAPIServerAccepts(t *testing.T) {
	h := helm(t)
	chart := filepath.Join(env.Root, "charts", "seamark")
	for _, args := range [][]string{nil, allFeatures} {
		if out, err := exec.Command(h, append([]string{"lint", "--strict", chart}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("helm lint --strict %v: %v\n%s", args, err, out)
		}
	}
	installMonitoringCRDs(t)
	ctx := context.Background()
	generated, err := filepath.Glob(filepath.Join(chart, "crds", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no generated CRDs in %s/crds (make manifests): %v", chart, err)
	}
	crds := len(generated)
	tests := []struct {
		name  string
		args  []string
		kinds map[string]int
	}{
		{"defaults", nil, map[string]int{
			"CustomResourceDefinition": crds, "Deployment": 1, "PodDisruptionBudget": 1, "DaemonSet": 1, "Secret": 2,
			"ServiceAccount": 3, "ClusterRole": 3, "ClusterRoleBinding": 3, "Role": 2, "RoleBinding": 2,
		}},
		{"every feature", allFeatures, map[string]int{
			"CustomResourceDefinition": crds, "Deployment": 1, "PodDisruptionBudget": 1, "DaemonSet": 1, "Secret": 2,
			"ServiceAccount": 3, "ClusterRole": 3, "ClusterRoleBinding": 3, "Role": 2, "RoleBinding": 2,
			"Service": 2, "ServiceMonitor": 1, "PodMonitor": 1, "PrometheusRule": 1, "ConfigMap": 1,
		}},
		{"the least", []string{"--set", "crds.enabled=false", "--set", "speaker.layer2.enabled=false",
			"--set", "controller.podDisruptionBudget.enabled=false", "--set", "metrics.reader.enabled=false", "--set", "metrics.scrapeToken.enabled=false"},
			map[string]int{"Deployment": 1, "DaemonSet": 1, "ServiceAccount": 2, "ClusterRole": 2, "ClusterRoleBinding": 2, "Role": 2, "RoleBinding": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kinds := map[string]int{}
			for _, u := range render(t, tt.args...) {
				kinds[u.GetKind()]++
				sent := u.DeepCopy()
				if u.GetKind() == "CustomResourceDefinition" {
					// The test environment installed crds/ already: the
					// chart's copy must apply over it, as helm upgrade does.
					if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("chart-test"), client.ForceOwnership, client.DryRunAll); err != nil {
						t.Errorf("the apiserver refused CRD %s: %v", u.GetName(), err)
					}
					continue
				}
				if err := env.Client.Create(ctx, u, client.DryRunAll); err != nil {
					t.Errorf("the apiserver refused %s %s: %v", u.GetKind(), u.GetName(), err)
					continue
				}
				// The monitoring kinds' schemas (installMonitoringCRDs)
				// prune what they do not know: a misspelt field would
				// vanish silently.
				if u.GroupVersionKind().Group != "monitoring.coreos.com" {
					continue
				}
				if diff := cmp.Diff(sent.Object["spec"], u.Object["spec"]); diff != "" {
					t.Errorf("the apiserver changed the spec of %s %s (unknown fields?) (-sent +stored):\n%s", u.GetKind(), u.GetName(), diff)
				}
			}
			if diff := cmp.Diff(tt.kinds, kinds); diff != "" {
				t.Errorf("objects the chart renders, by kind (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChartSettings(t *testing.T) {
	objs := render(t, allFeatures...)
	find := func(kind, name string) *unstructured.Unstructured {
		t.Helper()
		for _, u := range objs {
			if u.GetKind() == kind && u.GetName() == name {
				return u
			}
		}
		t.Fatalf("no %s %s rendered", kind, name)
		return nil
	}
	podSpec := func(u *unstructured.Unstructured) corev1.PodSpec {
		t.Helper()
		var spec corev1.PodSpec
		m, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec")
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, &spec); err != nil {
			t.Fatal(err)
		}
		return spec
	}
	ctl := podSpec(find("Deployment", "seamark-controller"))
	spk := podSpec(find("DaemonSet", "seamark-speaker"))
	if ctl.PriorityClassName != "system-cluster-critical" || spk.PriorityClassName != "system-node-critical" {
		t.Errorf("priority classes: controller %q, speaker %q", ctl.PriorityClassName, spk.PriorityClassName)
	}
	if sc := ctl.SecurityContext; sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 || !*sc.RunAsNonRoot {
		t.Errorf("the controller must run as the image's user 65532: %+v", sc)
	}
	// Layer 2 (the default) needs raw sockets: root with NET_RAW only.
	if caps := spk.Containers[0].SecurityContext.Capabilities; !slices.Equal(caps.Add, []corev1.Capability{"NET_RAW"}) || !slices.Equal(caps.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("speaker capabilities %+v, want drop ALL, add NET_RAW", caps)
	}
	for _, want := range []string{"--workers=16", "--orphan-grace=30s", "--leader-elect-lease-duration=3s",
		"--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=500ms", "--kube-api-qps=100"} {
		if !slices.Contains(ctl.Containers[0].Args, want) {
			t.Errorf("controller args %v lack %s", ctl.Containers[0].Args, want)
		}
	}
	for _, want := range []string{"--layer2=true", "--metrics-secure=true", "--layer2-profile=balanced", "--memberlist-secret=seamark-memberlist"} {
		if !slices.Contains(spk.Containers[0].Args, want) {
			t.Errorf("speaker args %v lack %s", spk.Containers[0].Args, want)
		}
	}
	bgpOnly := render(t, "--set", "speaker.layer2.enabled=false")
	for _, u := range bgpOnly {
		if u.GetKind() != "DaemonSet" {
			continue
		}
		spk := podSpec(u)
		if caps := spk.Containers[0].SecurityContext.Capabilities; len(caps.Add) != 0 {
			t.Errorf("BGP only: speaker capabilities %+v, want none added", caps)
		}
		if sc := spk.SecurityContext; sc.RunAsUser == nil || *sc.RunAsUser != 65532 || !*sc.RunAsNonRoot {
			t.Errorf("BGP only: the speaker must run as 65532: %+v", sc)
		}
	}
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" && u.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", u.GetName())
		}
	}
}

func TestChartSchemaRejectsBadValues(t *testing.T) {
	tests := []struct {
		set, want string
	}{
		{"controller.replicas=two", "/controller/replicas"},
		{"controller.replica=2", "replica"},
		{"image.pullPolicy=Sometimes", "/image/pullPolicy"},
		{"speaker.layer2.profile=quick", "/speaker/layer2/profile"},
		{"controller.leaderElection.leaseDuration=3", "/controller/leaderElection/leaseDuration"},
		{"controller.metricsPort=70000", "/controller/metricsPort"},
		{"metrics.serviceMonitor.enabled=yes", "/metrics/serviceMonitor/enabled"},
		{"speaker.logLevel=loud", "/speaker/logLevel"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			_, err := helmTemplate(t, "--set", tt.set)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("helm template --set %s: %v, want an error naming %s", tt.set, err, tt.want)
			}
		})
	}
}

// TestChartReadmeListsEveryValue keeps charts/seamark/README.md complete:
// every value of values.yaml is in its table.
func TestChartReadmeListsEveryValue(t *testing.T) {
	chart := filepath.Join(env.Root, "charts", "seamark")
	b, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range leaves("", values) {
		if !strings.Contains(string(readme), "`"+key+"`") {
			t.Errorf("README.md does not describe the value %s", key)
		}
	}
}

// leaves returns the dotted paths of values' leaves; maps that are empty
// by default (podLabels: {}) are leaves too.
func leaves(prefix string, values map[string]any) []string {
	var out []string
	for k, v := range values {
		if m, ok := v.(map[string]any); ok && len(m) > 0 && !freeForm[prefix+k] {
			out = append(out, leaves(prefix+k+".", m)...)
			continue
		}
		out = append(out, prefix+k)
	}
	sort.Strings(out)
	return out
}

// freeForm values are Kubernetes objects the chart passes through.
var freeForm = map[string]bool{
	"controller.resources": true, "speaker.resources": true, "controller.podSecurityContext": true,
	"speaker.podSecurityContext": true, "speaker.nodeSelector": true, "speaker.updateStrategy": true,
	"metrics.serviceMonitor.tlsConfig": true, "metrics.podMonitor.tlsConfig": true, "metrics.grafanaDashboard.labels": true,
}

// TestAlertsAndDashboardUseExportedMetrics checks every seamark_* name in
// the PrometheusRule and the dashboard against the metric names in the Go
// source, so that a renamed metric cannot leave an alert silent.
func TestAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	// Not exported yet: the alert documents it (templates/prometheusrule.yaml).
	pending := map[string]bool{"seamark_service_announced": true}
	exported := map[string]bool{}
	defined := regexp.MustCompile(`"(seamark_[a-z0-9_]+)"`)
	err := filepath.WalkDir(env.Root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == ".git" || d.Name() == "e2e" || d.Name() == "hack") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range defined.FindAllStringSubmatch(string(b), -1) {
			exported[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := helmTemplate(t, allFeatures...)
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`seamark_[a-z0-9_]+`)
	histogram := regexp.MustCompile(`_(bucket|sum|count)$`)
	seen := map[string]bool{}
	for _, name := range used.FindAllString(string(out), -1) {
		if seen[name] {
			continue
		}
		seen[name] = true
		base := histogram.ReplaceAllString(name, "")
		if !exported[name] && !exported[base] && !pending[name] {
			t.Errorf("the chart's alerts or dashboard use %s, which no binary exports", name)
		}
	}
	for name := range pending {
		if exported[name] {
			t.Errorf("%s is exported now: drop it from pending and the prometheusrule comment", name)
		}
	}
	if len(seen) < 8 {
		t.Fatalf("found only %d metric names in the rendered chart: %v", len(seen), seen)
	}
}

// installMonitoringCRDs installs CRDs for Prometheus Operator's kinds with
// the part of their schema the chart uses (field names as in
// monitoring.coreos.com/v1), so that a misspelt field is pruned and the
// spec comparison above catches it.
func installMonitoringCRDs(t *testing.T) {
	t.Helper()
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	strMap := apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Schema: &str}}
	obj := func(props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	}
	arr := func(items apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &items}}
	}
	selector := obj(map[string]apiextensionsv1.JSONSchemaProps{"matchLabels": strMap})
	endpoint := obj(map[string]apiextensionsv1.JSONSchemaProps{
		"port": str, "path": str, "scheme": str, "interval": str, "scrapeTimeout": str,
		"authorization": obj(map[string]apiextensionsv1.JSONSchemaProps{
			"type": str, "credentials": obj(map[string]apiextensionsv1.JSONSchemaProps{"name": str, "key": str}),
		}),
		"tlsConfig": obj(map[string]apiextensionsv1.JSONSchemaProps{"insecureSkipVerify": {Type: "boolean"}, "serverName": str}),
		"relabelings": arr(obj(map[string]apiextensionsv1.JSONSchemaProps{
			"sourceLabels": arr(str), "regex": str, "action": str, "targetLabel": str, "replacement": str,
		})),
	})
	monitor := func(endpoints string) map[string]apiextensionsv1.JSONSchemaProps {
		return map[string]apiextensionsv1.JSONSchemaProps{
			"selector":          selector,
			"namespaceSelector": obj(map[string]apiextensionsv1.JSONSchemaProps{"matchNames": arr(str)}),
			endpoints:           arr(endpoint),
		}
	}
	rules := map[string]apiextensionsv1.JSONSchemaProps{
		"groups": arr(obj(map[string]apiextensionsv1.JSONSchemaProps{
			"name": str, "interval": str,
			"rules": arr(obj(map[string]apiextensionsv1.JSONSchemaProps{
				"alert": str, "record": str, "expr": str, "for": str, "labels": strMap, "annotations": strMap,
			})),
		})),
	}
	for kind, spec := range map[string]map[string]apiextensionsv1.JSONSchemaProps{
		"ServiceMonitor": monitor("endpoints"), "PodMonitor": monitor("podMetricsEndpoints"), "PrometheusRule": rules,
	} {
		plural := strings.ToLower(kind) + "s"
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + ".monitoring.coreos.com"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "monitoring.coreos.com", Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind)},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": obj(spec)},
					}},
				}},
			},
		}
		// As unstructured: the test scheme has no apiextensions types.
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetAPIVersion("apiextensions.k8s.io/v1")
		u.SetKind("CustomResourceDefinition")
		if err := env.Client.Create(context.Background(), u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("installing the %s CRD: %v", kind, err)
		}
	}
	// The apiserver serves a new CRD after a moment.
	deadline := time.Now().Add(30 * time.Second)
	for _, kind := range []string{"ServiceMonitor", "PodMonitor", "PrometheusRule"} {
		for {
			_, err := env.Client.RESTMapper().RESTMapping(schemaGroupKind(kind), "v1")
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s CRD is not served: %v", kind, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// installRBAC creates the chart's ServiceAccounts, roles and bindings.
func installRBAC(t *testing.T) {
	t.Helper()
	for _, u := range render(t, "--show-only", "templates/rbac.yaml") {
		if err := env.Client.Create(context.Background(), u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// as returns a client and config that act as a ServiceAccount of seamark,
// after checking that the apiserver enforces RBAC for it.
func as(t *testing.T, serviceAccount string) *rest.Config {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:seamark-system:" + serviceAccount}
	sa, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.List(context.Background(), &corev1.PodList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing Pods as %s: want Forbidden (RBAC enforced), got %v", serviceAccount, err)
	}
	return cfg
}

// TestControllerRunsWithTheChartsPermissions installs the chart's RBAC for
// real and runs seamark-controller's reconcilers as its ServiceAccount: a
// Service gets its address, so the ClusterRole and Role grant what the
// controller does.
func TestControllerRunsWithTheChartsPermissions(t *testing.T) {
	ctx := context.Background()
	installRBAC(t)
	cfg := as(t, "seamark-controller")

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: env.Scheme, Cache: controllers.CacheOptions("seamark-system"),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		LeaderElection: true, LeaderElectionID: "seamark-controller", LeaderElectionNamespace: "seamark-system",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controllers.Setup(mgr, controllers.Options{Namespace: "seamark-system", DefaultClass: true}); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	pool := &seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "rbac"}, Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"203.0.113.0/28"}}}
	if err := env.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rbac"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			t.Fatal(err)
		}
		_ = env.Client.Get(ctx, client.ObjectKeyFromObject(pool), pool)
		if len(svc.Status.LoadBalancer.Ingress) == 1 && len(pool.Finalizers) == 1 && len(pool.Status.Conditions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller, with the chart's permissions, did not grant an address and write pool status: service %+v, pool %+v", svc.Status, pool.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSpeakerRunsWithTheChartsPermissions runs the speaker's reconciler as
// its ServiceAccount with exactly the chart's RBAC: it reads Nodes,
// Services, EndpointSlices, seamark's objects and Secrets, and plans the
// Service's address for the BGP peer.
func TestSpeakerRunsWithTheChartsPermissions(t *testing.T) {
	ctx := context.Background()
	installRBAC(t)
	cfg := as(t, "seamark-speaker")

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rbac-speaker"}}
	routerID := seamarkv1alpha1.IPAddress("198.18.0.10")
	objs := []client.Object{
		node,
		&seamarkv1alpha1.IPPool{ObjectMeta: metav1.ObjectMeta{Name: "rbac-speaker"}, Spec: seamarkv1alpha1.IPPoolSpec{CIDRs: []seamarkv1alpha1.CIDROrRange{"203.0.113.32/28"}}},
		&seamarkv1alpha1.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "rbac-speaker"}, Spec: seamarkv1alpha1.BGPPeerSpec{
			Address: "127.0.0.1", ASN: 64512, LocalASN: 64513, RouterID: &routerID}},
		&seamarkv1alpha1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "rbac-speaker"}},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "rbac-speaker"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}, LoadBalancerClass: ptr(seamarkv1alpha1.LoadBalancerClass)}}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.33"}}
	if err := env.Client.Status().Update(ctx, svc); err != nil {
		t.Fatal(err)
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: env.Scheme, Cache: speaker.CacheOptions("seamark-system", node.Name, true),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &speaker.Reconciler{NodeName: node.Name, Namespace: "seamark-system", Announcer: discard{},
		MemberlistSecret: "seamark-memberlist", Recorder: mgr.GetEventRecorder("seamark-speaker")}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	}()

	want := netip.MustParsePrefix("203.0.113.33/32")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p := r.Applied(); p != nil && slices.ContainsFunc(p.Peers["rbac-speaker"].Paths, func(path bgp.Path) bool { return path.Prefix == want }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the speaker, with the chart's permissions, did not plan %s for peer rbac-speaker; applied plan: %+v", want, r.Applied())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// discard takes the plan without announcing it: the test reads the plan
// the reconciler applied.
type discard struct{}

func (discard) Reconcile(context.Context, map[string]bgp.PeerDesired) error { return nil }

func ptr[T any](v T) *T { return &v }

func schemaGroupKind(kind string) schema.GroupKind {
	return schema.GroupKind{Group: "monitoring.coreos.com", Kind: kind}
}

// TestEveryReadRuleIsNeeded removes, one at a time, each rule of the
// chart's RBAC that a program reads through its informers, and runs the
// program as a ServiceAccount bound to what is left: its caches must fail
// to sync, naming the kind. So a rule the code stops using, or one the
// chart drops while the code still needs it, fails here. Write rules are
// covered by the two tests above (the job is not done without them);
// TokenReview and SubjectAccessReview serve only the metrics endpoints,
// the Events rules only problem reports.
func TestEveryReadRuleIsNeeded(t *testing.T) {
	rbac := render(t, "--show-only", "templates/rbac.yaml")
	tests := []struct {
		program    string // speaker or controller
		role, kind string // the role, and what its rule lets the program list (for the message)
		rule       int
	}{
		// Controls: with every rule, both run (rule -1 removes none).
		{"speaker", "seamark-speaker", "", -1},
		{"controller", "seamark-controller", "", -1},
		{"speaker", "seamark-speaker", "Service", 0},
		{"speaker", "seamark-speaker", "EndpointSlice", 1},
		{"speaker", "seamark-speaker", "ServiceCIDR", 2},
		{"speaker", "seamark-speaker", "IPPool", 3},
		{"speaker", "seamark-secrets", "Secret", 0},
		{"controller", "seamark-controller", "Service", 0},
		{"controller", "seamark-controller", "Node", 2},
		{"controller", "seamark-controller", "EndpointSlice", 3},
		{"controller", "seamark-controller", "SpeakerStatus", 4},
		{"controller", "seamark-controller", "ServiceCIDR", 7},
		{"controller", "seamark-controller", "IPAllocation", 8},
		{"controller", "seamark-controller", "IPPool", 9},
		{"controller", "seamark-controller", "BGPPeer", 10},
		{"controller", "seamark-secrets", "Secret", 0},
	}
	run := map[string]func(*rest.Config) error{"speaker": runSpeaker, "controller": runController}
	for i, tt := range tests {
		name := fmt.Sprintf("%s without %s rule %d (%s)", tt.program, tt.role, tt.rule, tt.kind)
		if tt.rule < 0 {
			name = tt.program + " with every rule"
		}
		t.Run(name, func(t *testing.T) {
			sa := fmt.Sprintf("rbac-mutant-%d", i)
			installMutant(t, rbac, tt.program, tt.role, tt.rule, sa)
			cfg := rest.CopyConfig(env.Config)
			cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:seamark-system:" + sa}
			err := run[tt.program](cfg)
			if tt.rule < 0 {
				if err != nil {
					t.Fatalf("the %s with every rule of the chart: %v", tt.program, err)
				}
				return
			}
			// The error names the first informer of the failed
			// controller, not necessarily the one the rule served.
			if err == nil || !strings.Contains(err.Error(), "timed out waiting for cache to be synced") {
				t.Fatalf("without rule %d of %s (%s) the %s ran (error %v); want its caches not to sync", tt.rule, tt.role, tt.kind, tt.program, err)
			}
		})
	}
}

// installMutant binds ServiceAccount sa to copies of the roles the
// program's own account is bound to, with rule `rule` of role removed.
func installMutant(t *testing.T, rbac []*unstructured.Unstructured, program, role string, rule int, sa string) {
	t.Helper()
	ctx := context.Background()
	account := "seamark-" + program
	create := func(u *unstructured.Unstructured) {
		t.Helper()
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(ctx, u) })
	}
	create(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": sa, "namespace": "seamark-system"},
	}})
	roles := map[string]bool{}
	for _, u := range rbac {
		if k := u.GetKind(); k != "ClusterRoleBinding" && k != "RoleBinding" {
			continue
		}
		subjects, _, _ := unstructured.NestedSlice(u.Object, "subjects")
		if !slices.ContainsFunc(subjects, func(s any) bool { return s.(map[string]any)["name"] == account }) {
			continue
		}
		b := u.DeepCopy()
		b.SetName(sa + "-" + u.GetName())
		b.SetResourceVersion("")
		ref, _, _ := unstructured.NestedString(u.Object, "roleRef", "name")
		roles[ref] = true
		_ = unstructured.SetNestedField(b.Object, sa+"-"+ref, "roleRef", "name")
		_ = unstructured.SetNestedSlice(b.Object, []any{map[string]any{"kind": "ServiceAccount", "name": sa, "namespace": "seamark-system"}}, "subjects")
		create(b)
	}
	if !roles[role] {
		t.Fatalf("%s is not bound to %s", account, role)
	}
	for _, u := range rbac {
		if k := u.GetKind(); (k != "ClusterRole" && k != "Role") || !roles[u.GetName()] {
			continue
		}
		r := u.DeepCopy()
		r.SetName(sa + "-" + u.GetName())
		if u.GetName() == role {
			rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
			if rule >= len(rules) {
				t.Fatalf("%s has %d rules, not %d", role, len(rules), rule+1)
			}
			if rule >= 0 {
				_ = unstructured.SetNestedSlice(r.Object, slices.Delete(slices.Clone(rules), rule, rule+1), "rules")
			}
		}
		create(r)
	}
}

// syncTimeout bounds how long a program with a missing rule waits for its
// caches before it gives up, naming the kind.
const syncTimeout = 5 * time.Second

func runSpeaker(cfg *rest.Config) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: env.Scheme, Cache: speaker.CacheOptions("seamark-system", "rbac-mutant", true),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{CacheSyncTimeout: syncTimeout, SkipNameValidation: ptr(true)},
	})
	if err != nil {
		return err
	}
	r := &speaker.Reconciler{NodeName: "rbac-mutant", Namespace: "seamark-system", Announcer: discard{}}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	return startUntilPlanned(mgr, func() bool { return r.Applied() != nil })
}

func runController(cfg *rest.Config) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: env.Scheme, Cache: controllers.CacheOptions("seamark-system"),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{CacheSyncTimeout: syncTimeout, SkipNameValidation: ptr(true)},
	})
	if err != nil {
		return err
	}
	if _, err := controllers.Setup(mgr, controllers.Options{Namespace: "seamark-system", DefaultClass: true}); err != nil {
		return err
	}
	// The controller has no "done" to observe: it ran if its caches synced
	// and it stayed up for as long as a missing rule takes to show.
	return startUntilPlanned(mgr, nil)
}

// startUntilPlanned runs mgr until it fails (what a missing rule causes),
// until done reports the program did its job, or, with done nil, for
// twice the sync timeout. It returns mgr's error.
func startUntilPlanned(mgr ctrl.Manager, done func() bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	deadline := time.After(2 * syncTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-deadline:
			cancel()
			return <-errc
		case <-tick.C:
			if done != nil && done() {
				cancel()
				return <-errc
			}
		}
	}
}
