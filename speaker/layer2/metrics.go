package layer2

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Speaker's Prometheus collectors.
type metrics struct {
	owned         prometheus.Gauge
	changes       *prometheus.CounterVec
	announcements *prometheus.CounterVec
	replies       *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	conflicts     prometheus.Counter
	stalls        prometheus.Counter
	members       prometheus.Gauge
	profile       *prometheus.GaugeVec
	ready         prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seamark_layer2_owned_addresses", Help: "Addresses this node answers ARP/NDP for."}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seamark_layer2_ownership_changes_total", Help: "Addresses this node took (acquired) or gave up (released)."}, []string{"change"}),
		announcements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seamark_layer2_announcements_total", Help: "Gratuitous ARP pairs (ipv4) and unsolicited neighbor advertisements (ipv6) sent."}, []string{"family"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seamark_layer2_replies_total", Help: "ARP replies (ipv4) and solicited neighbor advertisements (ipv6) sent."}, []string{"family"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seamark_layer2_dropped_packets_total", Help: "Received ARP/NDP packets dropped as malformed, unsupported or invalid, by reason."}, []string{"reason"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seamark_layer2_conflicts_total", Help: "Packets in which another MAC claimed an address this node owns."}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seamark_layer2_stalls_total", Help: "Local clock gaps over 300ms (the process was stalled) after which owned addresses were announced again."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seamark_layer2_members", Help: "Speakers in this node's memberlist view, itself included."}),
		profile: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seamark_layer2_profile", Help: "The memberlist timing profile in use (value 1)."}, []string{"profile"}),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seamark_layer2_ready", Help: "1 when this node takes part in elections: caches synced, gossip joined, key valid."}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.owned, m.changes, m.announcements, m.replies, m.dropped, m.conflicts, m.stalls, m.members, m.profile, m.ready}
}
