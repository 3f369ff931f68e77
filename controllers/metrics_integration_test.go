//go:build integration

package controllers_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestMetrics checks the figures the controller exports after one grant and
// one refusal.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	startControllerWith(t, reg)
	n := ns(t, "metrics")
	createPool(t, "metrics", n, []string{"198.51.100.120/30"}) // 2 usable addresses
	createService(t, n, "granted")
	waitAddresses(t, n, "granted", "198.51.100.121")
	createService(t, n, "refused", ann("seamark.io/ips", "198.51.100.200"))
	waitEvent(t, n, "refused", "AllocationFailed", "198.51.100.200")

	value := func(name string, labels map[string]string) (float64, bool) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if matches(m, labels) {
					switch {
					case m.Counter != nil:
						return m.Counter.GetValue(), true
					case m.Gauge != nil:
						return m.Gauge.GetValue(), true
					case m.Histogram != nil:
						return float64(m.Histogram.GetSampleCount()), true
					}
				}
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name    string
		labels  map[string]string
		atLeast float64
	}{
		{"seamark_allocations_total", map[string]string{"result": "granted"}, 1},
		{"seamark_allocations_total", map[string]string{"result": "refused"}, 1},
		{"seamark_allocation_duration_seconds", nil, 1},
		{"seamark_pool_addresses", map[string]string{"pool": "metrics", "family": "IPv4", "state": "capacity"}, 2},
		{"seamark_pool_addresses", map[string]string{"pool": "metrics", "family": "IPv4", "state": "allocated"}, 1},
	} {
		eventually(t, 10*time.Second, fmt.Sprintf("%s%v ≥ %v", c.name, c.labels, c.atLeast), func() (bool, string) {
			v, ok := value(c.name, c.labels)
			return ok && v >= c.atLeast, fmt.Sprint(v, ok)
		})
	}
	if v, _ := value("seamark_pool_addresses", map[string]string{"pool": "metrics", "family": "IPv4", "state": "available"}); v != 1 {
		t.Errorf("available = %v, want 1", v)
	}
}

func matches(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
