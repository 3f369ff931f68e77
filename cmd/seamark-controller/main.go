// Command seamark-controller grants external addresses to LoadBalancer
// Services from seamark IPPools (docs/operations.md describes the flags).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
	"github.com/seamark-io/seamark/controllers"
	"github.com/seamark-io/seamark/internal/version"
)

func main() {
	var (
		namespace    string
		leaderElect  bool
		metricsAddr  string
		probeAddr    string
		defaultClass bool
		qps          float64
		burst        int
		workers      int
		orphanGrace  time.Duration
		lease        leaseTimings
		showVersion  bool
	)
	// --kubeconfig is registered by controller-runtime (ctrl.GetConfig reads it;
	// in-cluster configuration when empty).
	flag.StringVar(&namespace, "namespace", "seamark-system", "Namespace of seamark: the leader-election Lease and the Secrets of BGP passwords live here.")
	flag.BoolVar(&leaderElect, "leader-elect", true, "Elect a leader so that one replica grants addresses (the IPAllocation locks keep even several leaders correct).")
	flag.DurationVar(&lease.duration, "leader-elect-lease-duration", 3*time.Second, "How long a standby waits after the leader's last renewal before it takes over. Short is safe: the IPAllocation locks and the optimistic status writes keep grants correct while two replicas both act as leader.")
	flag.DurationVar(&lease.renew, "leader-elect-renew-deadline", 2*time.Second, "How long the leader keeps trying to renew its Lease before it steps down; less than the lease duration.")
	flag.DurationVar(&lease.retry, "leader-elect-retry-period", 500*time.Millisecond, "How often replicas try to acquire or renew the Lease.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address of the HTTPS metrics endpoint (authenticated and authorized with the apiserver); 0 turns it off.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&defaultClass, "default-class", true, "Handle LoadBalancer Services without spec.loadBalancerClass (those with class seamark.io/lb are always handled).")
	flag.Float64Var(&qps, "kube-api-qps", 500, "Queries per second to the apiserver; a grant costs an IPAllocation create, a status patch and an Event.")
	flag.IntVar(&burst, "kube-api-burst", 1000, "Burst of queries to the apiserver.")
	flag.IntVar(&workers, "workers", 16, "Services reconciled at once.")
	flag.DurationVar(&orphanGrace, "orphan-grace", 30*time.Second, "Age an IPAllocation must reach before the repair loop removes Services that are gone from it.")
	flag.BoolVar(&showVersion, "version", false, "Print the version and exit.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println("seamark-controller", version.Get())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if err := run(namespace, leaderElect, lease, metricsAddr, probeAddr, defaultClass, qps, burst, workers, orphanGrace); err != nil {
		log.Error(err, "Controller stopped")
		os.Exit(1)
	}
}

// leaseTimings are the leader-election timings (ctrl.Options LeaseDuration,
// RenewDeadline, RetryPeriod). Shorter than controller-runtime's defaults
// (15 s, 10 s, 2 s) so that a standby grants again within seconds after the
// leader dies or freezes.
type leaseTimings struct{ duration, renew, retry time.Duration }

func run(namespace string, leaderElect bool, lease leaseTimings, metricsAddr, probeAddr string, defaultClass bool, qps float64, burst, workers int, orphanGrace time.Duration) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := seamarkv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  controllers.CacheOptions(namespace),
		Metrics: metricsserver.Options{
			BindAddress:    metricsAddr,
			SecureServing:  true,
			FilterProvider: filters.WithAuthenticationAndAuthorization,
			TLSOpts:        []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "seamark-controller",
		LeaderElectionNamespace: namespace,
		LeaseDuration:           &lease.duration,
		RenewDeadline:           &lease.renew,
		RetryPeriod:             &lease.retry,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	_, err = controllers.Setup(mgr, controllers.Options{
		Namespace: namespace, DefaultClass: defaultClass, Workers: workers, OrphanGrace: orphanGrace, Registry: metrics.Registry,
	})
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	// Standby replicas are ready too: readiness is not leadership.
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
