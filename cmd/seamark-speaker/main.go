// Command seamark-speaker is the node agent: it announces the addresses of
// seamark's LoadBalancer Services (and, when asked, ClusterIPs, external
// IPs and ServiceCIDR ranges) from this node over BGP. It runs on every
// node (DaemonSet, hostNetwork) without leader election.
//
// main only parses flags and wires package speaker and speaker/bgp into a
// controller-runtime manager.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/internal/version"
	"github.com/seamark-io/seamark/speaker"
	"github.com/seamark-io/seamark/speaker/bfd"
	"github.com/seamark-io/seamark/speaker/bgp"
	"github.com/seamark-io/seamark/speaker/layer2"
)

type flags struct {
	kubeconfig, namespace, nodeName        string
	metricsAddr, probeAddr, memberlistAddr string
	metricsSecure, defaultClass            bool
	showVersion                            bool
	layer2                                 bool
	layer2Profile, memberlistSecret        string
	shutdownDrain                          time.Duration
	zap                                    zap.Options
}

func parseFlags() *flags {
	f := &flags{}
	// controller-runtime registers --kubeconfig on the default flag set
	// when it is imported; define it only if it is not there.
	if flag.Lookup("kubeconfig") == nil {
		flag.String("kubeconfig", "", "Path to a kubeconfig file; empty uses the in-cluster configuration.")
	}
	flag.StringVar(&f.namespace, "namespace", "seamark-system", "Namespace of the Secrets that BGPPeers' passwords refer to.")
	flag.StringVar(&f.nodeName, "node-name", os.Getenv("NODE_NAME"), "Name of the node the speaker runs on (default $NODE_NAME).")
	// The speaker runs with hostNetwork next to the controller, which may
	// share the node's network namespace: its defaults (:8443, :8081) are
	// left free.
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", ":7473", "Address of the Prometheus metrics endpoint; \"0\" turns it off. Not the controller's :8443, as both may share a host network.")
	flag.BoolVar(&f.metricsSecure, "metrics-secure", true, "Serve metrics over HTTPS, authenticating and authorising scrapers with TokenReview and SubjectAccessReview; false serves plain HTTP.")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":7474", "Address of the /healthz and /readyz endpoints; \"0\" turns them off. Not the controller's :8081, as both may share a host network.")
	flag.StringVar(&f.memberlistAddr, "memberlist-bind-address", ":7946", "Address (host:port; empty host = all) of the memberlist gossip among speakers for layer 2 failover. The port must be the same on every node.")
	flag.BoolVar(&f.layer2, "layer2", true, "Answer ARP/NDP for the addresses L2Advertisements select; false: BGP only (the speaker then caches only its own Node).")
	flag.StringVar(&f.layer2Profile, "layer2-profile", string(layer2.ProfileBalanced), "Layer 2 failure detection: fast (probe 150ms, under 1s failover, more gossip), balanced (probe 300ms, under 2s) or lan (memberlist defaults, 5-6s).")
	flag.StringVar(&f.memberlistSecret, "memberlist-secret", "seamark-memberlist", "Secret in --namespace whose data key \"key\" encrypts the layer 2 gossip; every speaker must read the same value.")
	flag.DurationVar(&f.shutdownDrain, "shutdown-drain", 5*time.Second, "On SIGTERM, how long paths stay announced with the GRACEFUL_SHUTDOWN community (RFC 8326) before they are withdrawn.")
	flag.BoolVar(&f.defaultClass, "default-class", true, "Announce LoadBalancer Services without spec.loadBalancerClass, as the controller serves them; false: only class "+seamarkv1alpha1.LoadBalancerClass+".")
	flag.BoolVar(&f.showVersion, "version", false, "Print the version and exit.")
	f.zap.BindFlags(flag.CommandLine)
	flag.Parse()
	// Read here rather than through ctrl.GetConfig, which would also fall
	// back to $KUBECONFIG and ~/.kube/config: the speaker uses the file it
	// is given, else the in-cluster configuration.
	f.kubeconfig = flag.Lookup("kubeconfig").Value.String()
	return f
}

func main() {
	f := parseFlags()
	if f.showVersion {
		fmt.Println("seamark-speaker", version.Get())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")
	if err := run(f); err != nil {
		log.Error(err, "Speaker failed")
		os.Exit(1)
	}
}

func run(f *flags) error {
	if f.nodeName == "" {
		return errors.New("--node-name (or $NODE_NAME) is required: the speaker announces from one node")
	}
	if f.shutdownDrain < 0 {
		return fmt.Errorf("--shutdown-drain %s is negative", f.shutdownDrain)
	}
	restCfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building scheme: %w", err)
	}
	if err := seamarkv1alpha1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("building scheme: %w", err)
	}
	metricsOpts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.metricsSecure}
	if f.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	// Without an apiserver the speaker waits instead of exiting (speaker/startup.go): it has
	// announced nothing yet, and the router's graceful restart keeps the node's old paths.
	ctx := ctrl.SetupSignalHandler()
	setupLog := ctrl.Log.WithName("setup")
	var mgr ctrl.Manager
	for {
		if err := speaker.WaitForAPIServer(ctx, restCfg, setupLog); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting: nothing was announced, nothing to withdraw
			}
			return err
		}
		mgr, err = ctrl.NewManager(restCfg, ctrl.Options{
			Scheme:                  scheme,
			Cache:                   speaker.CacheOptions(f.namespace, f.nodeName, f.layer2),
			Metrics:                 metricsOpts,
			HealthProbeBindAddress:  f.probeAddr,
			LeaderElection:          false,
			GracefulShutdownTimeout: ptr(speaker.ShutdownTimeout(f.shutdownDrain) + 5*time.Second),
		})
		if err == nil {
			break
		}
		// The manager reads the apiserver's discovery: unless the apiserver went away again
		// since the wait, the error is the speaker's own.
		if speaker.APIServerReachable(restCfg) {
			return fmt.Errorf("creating manager: %w", err)
		}
		setupLog.Info("Lost the apiserver while starting; waiting again", "error", err.Error())
	}

	// BFD opens its sockets (UDP 3784, unprivileged) only when a BGPPeer asks for it.
	bfdManager := bfd.New(bfd.Options{Logger: ctrl.Log.WithName("bfd")})
	metrics.Registry.MustRegister(bfdManager.Collectors()...)
	bgpSpeaker := bgp.New(bgp.Options{Logger: ctrl.Log.WithName("bgp"), BFD: bfdManager})
	metrics.Registry.MustRegister(bgpSpeaker.Collectors()...)
	r := &speaker.Reconciler{
		Client:       mgr.GetClient(),
		NodeName:     f.nodeName,
		Namespace:    f.namespace,
		DefaultClass: f.defaultClass,
		Announcer:    bgpSpeaker,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	var l2 *layer2.Speaker
	if f.layer2 {
		l2, err = newLayer2(f, mgr)
		if err != nil {
			return err
		}
		r.Layer2, r.MemberlistSecret = l2, f.memberlistSecret
		r.Recorder = mgr.GetEventRecorder("seamark-speaker")
		if err := mgr.Add(&speaker.Layer2{Speaker: l2}); err != nil {
			return fmt.Errorf("adding the layer 2 runnable: %w", err)
		}
	}
	// What this node announces and why, for kubectl get speakerstatus and
	// the controller's Announced condition; written only on change.
	status := &speaker.StatusWriter{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), NodeName: f.nodeName, Log: ctrl.Log.WithName("status"),
		Collect: func() speaker.StatusReport { return speaker.Report(r, bgpSpeaker, l2, f.layer2Profile) }}
	if err := mgr.Add(status); err != nil {
		return fmt.Errorf("adding the status writer: %w", err)
	}
	if err := mgr.Add(&speaker.Shutdown{Speaker: bgpSpeaker, Drain: f.shutdownDrain}); err != nil {
		return fmt.Errorf("adding the shutdown runnable: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("plan", r.ReadyCheck); err != nil {
		return fmt.Errorf("adding readiness check: %w", err)
	}

	ctrl.Log.WithName("setup").Info("Starting speaker", "node", f.nodeName, "namespace", f.namespace,
		"defaultClass", f.defaultClass, "shutdownDrain", f.shutdownDrain.String())
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// newLayer2 builds the layer 2 speaker from the flags; its conflicts
// become Events on the Node.
func newLayer2(f *flags, mgr ctrl.Manager) (*layer2.Speaker, error) {
	profile, err := layer2.ParseProfile(f.layer2Profile)
	if err != nil {
		return nil, fmt.Errorf("--layer2-profile: %w", err)
	}
	host, port, err := net.SplitHostPort(f.memberlistAddr)
	if err != nil {
		return nil, fmt.Errorf("--memberlist-bind-address %q: %w", f.memberlistAddr, err)
	}
	ip := netip.IPv4Unspecified()
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("--memberlist-bind-address %q: %w", f.memberlistAddr, err)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("--memberlist-bind-address %q: the port must be 1-65535", f.memberlistAddr)
	}
	recorder := mgr.GetEventRecorder("seamark-speaker")
	nodeRef := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f.nodeName}}
	l2 := layer2.New(layer2.Options{
		NodeName: f.nodeName, Logger: ctrl.Log.WithName("layer2"), Profile: profile,
		Bind: netip.AddrPortFrom(ip, uint16(p)),
		OnConflict: func(_ netip.Addr, msg string) {
			recorder.Eventf(nodeRef, nil, corev1.EventTypeWarning, speaker.EventLayer2Conflict, "Layer2", "%s", msg)
		},
		OnProblem: func(msg string) {
			recorder.Eventf(nodeRef, nil, corev1.EventTypeWarning, speaker.EventLayer2Competes, "Layer2", "%s", msg)
		},
	})
	metrics.Registry.MustRegister(l2.Collectors()...)
	return l2, nil
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("loading in-cluster configuration (or pass --kubeconfig): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

func ptr[T any](v T) *T { return &v }
