package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's Prometheus metrics.
type Metrics struct {
	poolAddresses *prometheus.GaugeVec
	allocations   *prometheus.CounterVec
	duration      prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		poolAddresses: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seamark_pool_addresses",
			Help: "Addresses of each IPPool by family and state (capacity, allocated, available); IPv6 sizes saturate at 2^64-1.",
		}, []string{"pool", "family", "state"}),
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seamark_allocations_total",
			Help: "Address decisions by result: granted, adopted, released, refused.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "seamark_allocation_duration_seconds",
			Help:    "Time from a Service first seen without an address to its status showing one.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.poolAddresses, m.allocations, m.duration)
	}
	return m
}
