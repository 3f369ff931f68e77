package speaker

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// The speaker's startup rule when the apiserver is away (docs/operations.md,
// "When the apiserver is down"): a speaker announces nothing and opens no
// BGP session before its caches have synced and it has computed a plan
// from them, and then sends the whole plan before End-of-RIB (speaker/bgp
// adds the paths before the peer). It never withdraws what it cannot
// confirm: until then the router's graceful restart keeps the node's
// previous paths. For that it must wait for the apiserver rather than exit:
// an exit puts the pod in CrashLoopBackOff, whose delay (up to 5 minutes)
// can outlast the router's restart timer after the apiserver is back.

// cacheSyncTimeout is how long the speaker's controller waits for its
// caches before it gives up: as long as it takes (controller-runtime's
// default of 2 minutes would make the speaker exit during a longer
// outage).
const cacheSyncTimeout = 100 * 365 * 24 * time.Hour

// Back-off of WaitForAPIServer between attempts.
const (
	apiserverRetryMin = 500 * time.Millisecond
	apiserverRetryMax = 10 * time.Second
)

// WaitForAPIServer returns once the apiserver of cfg answers (its
// /version, which every authenticated client may read), or with ctx's
// error. It logs once when it starts waiting and once when the wait ends.
func WaitForAPIServer(ctx context.Context, cfg *rest.Config, log logr.Logger) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating a discovery client: %w", err)
	}
	start := time.Now()
	retry := apiserverRetryMin
	for attempt := 0; ; attempt++ {
		_, err := dc.ServerVersion()
		if err == nil {
			if attempt > 0 {
				log.Info("Reached the apiserver", "waited", time.Since(start).Round(time.Millisecond).String(), "attempts", attempt+1)
			}
			return nil
		}
		if attempt == 0 {
			log.Info("Waiting for the apiserver; announcing nothing and opening no BGP session until the caches sync", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the apiserver: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(retry):
		}
		retry = min(2*retry, apiserverRetryMax)
	}
}

// APIServerReachable reports whether the apiserver of cfg answers now.
func APIServerReachable(cfg *rest.Config) bool {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false
	}
	_, err = dc.ServerVersion()
	return err == nil
}
