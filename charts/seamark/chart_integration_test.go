//go:build integration

// Package chart_test renders the Helm chart and has the real apiserver
// validate every object it renders (server-side dry run).
package chart_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers"
	"github.com/seamark-io/seamark/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// helm returns bin/helm, building it from hack/tools when missing.
func helm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(env.Root, "bin", "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	build := exec.Command("go", "build", "-o", bin, "helm.sh/helm/v3/cmd/helm")
	build.Dir = filepath.Join(env.Root, "hack", "tools")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building helm: %v\n%s", err, out)
	}
	return bin
}

// render runs helm template on the chart (extra args appended) in the
// seamark-system namespace, which it creates, and returns the objects.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	base := []string{"template", "seamark", filepath.Join(env.Root, "charts", "seamark"), "--namespace", "seamark-system", "--kube-version", testenv.K8sVersion}
	out, err := exec.Command(helm(t), append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
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

func TestChartRendersObjectsTheAPIServerAccepts(t *testing.T) {
	h := helm(t)
	chart := filepath.Join(env.Root, "charts", "seamark")
	if out, err := exec.Command(h, "lint", chart, "--kube-version", testenv.K8sVersion).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	ctx := context.Background()
	kinds := map[string]int{}
	for _, u := range render(t) {
		kinds[u.GetKind()]++
		if err := env.Client.Create(ctx, u, client.DryRunAll); err != nil {
			t.Errorf("the apiserver refused %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	for kind, n := range map[string]int{"Deployment": 1, "DaemonSet": 1, "ServiceAccount": 2, "ClusterRole": 2, "ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1} {
		if kinds[kind] != n {
			t.Errorf("the chart renders %d %s, want %d", kinds[kind], kind, n)
		}
	}
}

// TestControllerRunsWithTheChartsPermissions installs the chart's RBAC for
// real and runs seamark-controller's reconcilers as its ServiceAccount: a
// Service gets its address, so the ClusterRole and Role grant what the
// controller does.
func TestControllerRunsWithTheChartsPermissions(t *testing.T) {
	ctx := context.Background()
	for _, u := range render(t, "--show-only", "templates/rbac.yaml") {
		if err := env.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:seamark-system:seamark-controller"}
	sa, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// The apiserver enforces RBAC: what the chart does not grant is refused.
	if err := sa.List(ctx, &corev1.PodList{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing Pods as the controller: want Forbidden (RBAC enforced), got %v", err)
	}

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
