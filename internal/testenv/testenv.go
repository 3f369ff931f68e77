// Package testenv starts the real control plane (etcd and kube-apiserver,
// built by `make testbin` into bin/k8s/<version>) with seamark's CRDs from
// charts/seamark/crds, for the integration tests of every package. Each test
// package starts one environment in TestMain with Main.
//
// There is no skipping: missing binaries fail the test run with the command
// that builds them.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// K8sVersion is the version of the control-plane binaries the tests run.
// Keep it equal to K8S_VERSION in the Makefile.
const K8sVersion = "1.36.3"

// ServiceClusterIPRange is the apiserver's --service-cluster-ip-range in
// tests: documentation and benchmarking ranges only (docs/architecture.md,
// "Tests").
const ServiceClusterIPRange = "198.19.0.0/16,2001:db8:19::/112"

// Env is a running control plane.
type Env struct {
	// Config reaches the apiserver as an administrator.
	Config *rest.Config
	// Client is a controller-runtime client (no cache) with Scheme.
	Client client.Client
	// Scheme knows the core Kubernetes kinds and seamark's kinds.
	Scheme *runtime.Scheme
	// Root is the repository root.
	Root string

	env *envtest.Environment
}

// Start starts etcd and kube-apiserver with the CRDs installed.
func Start() (*Env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	assets := os.Getenv("SEAMARK_TESTBIN")
	if assets == "" {
		assets = filepath.Join(root, "bin", "k8s", K8sVersion)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("finding control-plane binary %s in %s: %w (run `make testbin`)", b, assets, err)
		}
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	if err := seamarkv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building scheme: %w", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(root, "charts", "seamark", "crds")},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// envtest's default Service range is private (10.0.0.0/24); seamark's
	// tests use the benchmarking range for ClusterIPs, dual-stack so that
	// dual-stack Services can be created.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", ServiceClusterIPRange)
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	// Integration tests create objects in bulk; the client defaults (5 QPS)
	// would make them measure client-side throttling.
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, Root: root, env: env}, nil
}

// WriteKubeconfig writes a kubeconfig of an administrator of the test
// apiserver to path, for binaries started by a test.
func (e *Env) WriteKubeconfig(path string) error {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "seamark-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding a test user: %w", err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing a kubeconfig: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

// Stop stops the control plane and removes its data.
func (e *Env) Stop() error { return e.env.Stop() }

// Main is the body of an integration test package's TestMain: it starts the
// control plane, stores it in *env, runs the tests and stops it.
func Main(m *testing.M, env **Env) {
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	os.Exit(code)
}

// repoRoot finds the directory of seamark's go.mod above the working
// directory (go test runs in the package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/seamark-io/seamark\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the seamark repository root: no go.mod of github.com/seamark-io/seamark above the working directory")
		}
		dir = parent
	}
}
