// Package lab builds seamark's lab on one machine (e2e/README.md): a real
// control plane (etcd, kube-apiserver, kube-controller-manager from
// bin/k8s), the real kube-proxy in every node's network namespace, the
// seamark binaries, FRR routers and clients, each in a network namespace.
// Only the kubelet and the container runtime are stood in for: Node objects
// and pod status are written by the lab, and a pod is a network namespace
// with a veth to its node and a small HTTP server. `seamark-lab`, the e2e
// suite and the benchmarks drive it.
//
// Everything the lab creates is named with Prefix and recorded under its
// state directory; Down removes it, also after an interrupted run.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// K8sVersion is the version of the control-plane binaries (K8S_VERSION in
// the Makefile).
const K8sVersion = "1.36.3"

// Options configure a lab.
type Options struct {
	// Root is the repository root (bin/, charts/ are found there).
	Root string
	// StateDir holds pids, logs, certificates, etcd data and FRR files;
	// default <Root>/e2e/.state.
	StateDir string
	// Nodes is the number of nodes (default 3).
	Nodes int
	// Progress receives one line per step; nil: discarded.
	Progress io.Writer
	// KubeProxyMode is kube-proxy's mode, "nftables" or "iptables";
	// default $SEAMARK_KUBE_PROXY_MODE, else nftables.
	KubeProxyMode string
}

// Lab is a running (or attached) lab.
type Lab struct {
	Options
	// Kubeconfig is the admin kubeconfig of the lab's apiserver.
	Kubeconfig string
	// K8sBin holds kube-apiserver, etcd and kube-controller-manager.
	K8sBin string
	// Bin holds the seamark binaries.
	Bin string
	// NodeList are the lab's nodes.
	NodeList []Node
	// Client reaches the lab's apiserver as an administrator.
	Client client.Client
	// Scheme knows the core and seamark kinds.
	Scheme *runtime.Scheme
}

type state struct {
	Nodes         int    `json:"nodes"`
	KubeProxyMode string `json:"kubeProxyMode"`
}

func newLab(o Options) (*Lab, error) {
	if o.Root == "" {
		root, err := FindRoot()
		if err != nil {
			return nil, err
		}
		o.Root = root
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.Root, "e2e", ".state")
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > MaxNodes {
		return nil, fmt.Errorf("%d nodes: the lab runs 1 to %d (one pod /24 each in %s)", o.Nodes, MaxNodes, ClusterCIDRs[0])
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.KubeProxyMode == "" {
		o.KubeProxyMode = os.Getenv("SEAMARK_KUBE_PROXY_MODE")
	}
	switch o.KubeProxyMode {
	case "":
		o.KubeProxyMode = "nftables"
	case "nftables", "iptables":
	default:
		return nil, fmt.Errorf("kube-proxy mode %q: the lab runs nftables or iptables", o.KubeProxyMode)
	}
	k8sBin := os.Getenv("SEAMARK_TESTBIN")
	if k8sBin == "" {
		k8sBin = filepath.Join(o.Root, "bin", "k8s", K8sVersion)
	}
	l := &Lab{Options: o, K8sBin: k8sBin, Bin: filepath.Join(o.Root, "bin")}
	l.Kubeconfig = l.path("kubeconfig")
	for i := 1; i <= o.Nodes; i++ {
		l.NodeList = append(l.NodeList, NodeAt(i))
	}
	l.Scheme = runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(l.Scheme); err != nil {
		return nil, err
	}
	if err := seamarkv1alpha1.AddToScheme(l.Scheme); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) path(elem ...string) string {
	return filepath.Join(append([]string{l.StateDir}, elem...)...)
}

func (l *Lab) step(format string, a ...any) {
	_, _ = fmt.Fprintf(l.Progress, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

// CheckPrerequisites reports what the lab needs and does not find: root,
// iproute2, FRR, the control-plane and seamark binaries.
func CheckPrerequisites(o Options) error {
	l, err := newLab(o)
	if err != nil {
		return err
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces): run as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "iproute2 (apt-get install iproute2)")
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		missing = append(missing, "FRR (apt-get install frr)")
	}
	tool := map[string]string{"nftables": "nft", "iptables": "iptables"}[l.KubeProxyMode]
	if _, err := exec.LookPath(tool); err != nil {
		missing = append(missing, fmt.Sprintf("%s for kube-proxy's %s mode (apt-get install %s)", tool, l.KubeProxyMode, l.KubeProxyMode))
	}
	for _, b := range []string{filepath.Join(l.K8sBin, "kube-apiserver"), filepath.Join(l.K8sBin, "etcd"), filepath.Join(l.K8sBin, "kube-controller-manager"), filepath.Join(l.K8sBin, "kube-proxy")} {
		if _, err := os.Stat(b); err != nil {
			missing = append(missing, b+" (make testbin)")
		}
	}
	for _, b := range []string{"seamark-controller", "seamark-speaker", "seamark-lab"} {
		if _, err := os.Stat(filepath.Join(l.Bin, b)); err != nil {
			missing = append(missing, filepath.Join(l.Bin, b)+" (make build)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the lab needs: %s", strings.Join(missing, "; "))
	}
	return nil
}

// Up tears down any previous lab and starts a new one: topology, control
// plane, CRDs, Nodes, kube-proxy on every node, the router,
// seamark-controller and a speaker per node. It does not create seamark
// objects, pods or Services (ApplyDefaults, CreateBackends and
// CreateService do).
func Up(ctx context.Context, o Options) (l *Lab, err error) {
	if err := CheckPrerequisites(o); err != nil {
		return nil, err
	}
	if err := Down(o); err != nil {
		return nil, err
	}
	l, err = newLab(o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (logs in %s; `seamark-lab down` cleans up)", err, l.path("logs"))
		}
	}()
	if err := os.MkdirAll(l.StateDir, 0o755); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(state{Nodes: len(l.NodeList), KubeProxyMode: l.KubeProxyMode})
	if err := os.WriteFile(l.path("state.json"), b, 0o644); err != nil {
		return nil, err
	}
	l.step("Creating the topology (%d nodes)", len(l.NodeList))
	if err := createTopology(l.NodeList); err != nil {
		return l, err
	}
	l.step("Starting etcd, kube-apiserver and kube-controller-manager in %s", NetnsCP)
	if err := l.startControlPlane(ctx); err != nil {
		return l, err
	}
	if l.Client, err = l.newClient(); err != nil {
		return l, err
	}
	l.step("Installing the CRDs, Nodes and the seamark namespace")
	if err := l.installBase(ctx); err != nil {
		return l, err
	}
	l.step("Starting kube-proxy (%s mode) in the %d node namespaces", l.KubeProxyMode, len(l.NodeList))
	if err := l.startKubeProxies(ctx); err != nil {
		return l, err
	}
	l.step("Starting FRR (zebra, bgpd) in %s", NetnsRouter)
	if err := l.StartRouter(RouterConfig{Nodes: l.NodeList}); err != nil {
		return l, err
	}
	l.step("Starting seamark-controller and %d speakers", len(l.NodeList))
	if err := l.StartController(); err != nil {
		return l, err
	}
	for _, n := range l.NodeList {
		if err := l.StartSpeaker(n, nil); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Attach returns the running lab in o.StateDir.
func Attach(o Options) (*Lab, error) {
	l, err := newLab(o)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(l.path("state.json"))
	if err != nil {
		return nil, fmt.Errorf("no lab in %s (run `make lab`): %w", l.StateDir, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", l.path("state.json"), err)
	}
	o.Nodes, o.KubeProxyMode = st.Nodes, st.KubeProxyMode
	if l, err = newLab(o); err != nil {
		return nil, err
	}
	if l.Client, err = l.newClient(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) newClient() (client.Client, error) {
	rc, err := l.RestConfig()
	if err != nil {
		return nil, err
	}
	return client.New(rc, client.Options{Scheme: l.Scheme})
}

// Down stops every process of the lab and removes its namespaces, links and
// state directory. It is idempotent and works from what exists, so it also
// cleans up after an interrupted or failed run.
func Down(o Options) error {
	l, err := newLab(o)
	if err != nil {
		return err
	}
	// Recorded processes first (the controller runs in the root namespace),
	// then whatever still runs inside the lab's namespaces.
	stopAllRecorded(l.StateDir, 3*time.Second)
	errTopo := destroyTopology()
	if err := os.RemoveAll(l.StateDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errors.Join(errTopo, fmt.Errorf("removing %s: %w", l.StateDir, err))
	}
	return errTopo
}

// Leftovers lists what of a lab still exists: namespaces, links, recorded
// live processes. Empty after Down.
func Leftovers(o Options) []string {
	l, err := newLab(o)
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	for _, ns := range listLabNetns() {
		left = append(left, "netns "+ns)
	}
	for _, ln := range listLabLinks() {
		left = append(left, "link "+ln)
	}
	entries, _ := os.ReadDir(l.path("pids"))
	for _, e := range entries {
		if pid, ok := readPid(l.path("pids", e.Name())); ok {
			left = append(left, fmt.Sprintf("process %s (pid %d)", e.Name(), pid))
		}
	}
	return left
}

// FindRoot finds the repository root (the directory of seamark's go.mod)
// above the working directory or, failing that, above the running binary
// (bin/seamark-lab run from anywhere).
func FindRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		if root, ok := rootAbove(dir); ok {
			return root, nil
		}
	}
	return "", errors.New("finding the seamark repository root: no go.mod of github.com/seamark-io/seamark above the working directory or the binary; pass --state-dir")
}

func rootAbove(dir string) (string, bool) {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/seamark-io/seamark\n") {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
