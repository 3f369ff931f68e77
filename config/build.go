package config

import (
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// Defaults of BGPPeer fields.
const (
	DefaultPort             = 179
	DefaultHoldTime         = 90 * time.Second
	DefaultConnectRetryTime = 5 * time.Second
	DefaultRestartTime      = 120 * time.Second
	// DefaultMaxReceivedPrefixes bounds what a router may send a node:
	// about 100 MB of the speaker's memory, under the chart's 256 MiB
	// limit, and far more than any router needs to send (none).
	DefaultMaxReceivedPrefixes = 100000
	// DefaultBFDInterval and DefaultBFDDetectMultiplier are FRR's BFD defaults.
	DefaultBFDInterval         = 300 * time.Millisecond
	DefaultBFDDetectMultiplier = 3
	// MaxPasswordLength is the longest TCP-MD5 key Linux accepts.
	MaxPasswordLength = 80
)

// DefaultL2Refresh is the default interval of an L2Advertisement's
// repeated announcements.
const DefaultL2Refresh = 60 * time.Second

// Build validates res and returns the snapshot and the problems found.
// Objects with Invalid problems are left out; everything else is kept.
// Build is deterministic: the order of the input slices does not matter.
func Build(res Resources) (*Config, Problems) {
	b := &builder{cfg: &Config{
		Pools:           map[string]*Pool{},
		Peers:           map[string]*Peer{},
		namespaceLabels: map[string]labels.Set{},
	}}
	for i := range res.Namespaces {
		ns := &res.Namespaces[i]
		b.cfg.namespaceLabels[ns.Name] = labels.Set(maps.Clone(ns.Labels))
	}
	b.pools(res.Pools)
	b.peers(res.Peers, res.Secrets)
	b.bgpAdvertisements(res.BGPAdvertisements)
	b.l2Advertisements(res.L2Advertisements)
	b.serviceCIDRs(res.ServiceCIDRs)
	b.problems.sort()
	return b.cfg, b.problems
}

type builder struct {
	cfg      *Config
	problems Problems
}

func (b *builder) report(kind, name, field, reason string, class Class, format string, args ...any) {
	b.problems = append(b.problems, Problem{
		Kind: kind, Name: name, Field: field, Reason: reason, Class: class,
		Message: fmt.Sprintf(format, args...),
	})
}

// byAge sorts objects by creation time, then name: on a conflict the older
// object wins, and the outcome does not depend on list order.
func byAge[T any](items []T, meta func(*T) *metav1.ObjectMeta) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := meta(out[i]), meta(out[j])
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	return out
}

func selector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(s)
}

// selectorsOf parses named selectors and reports the first bad one.
func (b *builder) selectorsOf(kind, name string, fields []string, sels []*metav1.LabelSelector) ([]labels.Selector, bool) {
	out := make([]labels.Selector, len(sels))
	for i, s := range sels {
		sel, err := selector(s)
		if err != nil {
			b.report(kind, name, "spec."+fields[i], seamarkv1alpha1.ReasonInvalidSelector, Invalid,
				"%s is not a valid label selector: %v", fields[i], err)
			return nil, false
		}
		out[i] = sel
	}
	return out, true
}

// pools validates the IPPools. An overlap between two pools disables the
// younger one (creation time, then name) with reason Overlap; the older one
// keeps working. A pool whose own entries are invalid or overlap each other
// is left out with reason InvalidCIDR.
func (b *builder) pools(items []seamarkv1alpha1.IPPool) {
	meta := func(p *seamarkv1alpha1.IPPool) *metav1.ObjectMeta { return &p.ObjectMeta }
	var index []indexedRange // accepted ranges, sorted by first address
	for _, ip := range byAge(items, meta) {
		sels, ok := b.selectorsOf(KindIPPool, ip.Name, []string{"serviceSelector", "namespaceSelector"},
			[]*metav1.LabelSelector{ip.Spec.ServiceSelector, ip.Spec.NamespaceSelector})
		if !ok {
			continue
		}
		ranges, ok := b.poolRanges(ip)
		if !ok {
			continue
		}
		if b.poolOverlaps(ip.Name, ranges, index) {
			continue
		}
		p := &Pool{
			Name:              ip.Name,
			Allocator:         allocator.Pool{Name: ip.Name, Ranges: ranges, AllowFirstLast: ip.Spec.AllowFirstLast},
			AutoAssign:        ip.Spec.AutoAssign == nil || *ip.Spec.AutoAssign,
			Priority:          ip.Spec.Priority,
			Terminating:       ip.DeletionTimestamp != nil,
			Labels:            labels.Set(maps.Clone(ip.Labels)),
			serviceSelector:   sels[0],
			namespaceSelector: sels[1],
		}
		for _, r := range ranges {
			i := sort.Search(len(index), func(i int) bool { return r.First.Less(index[i].r.First) })
			index = slices.Insert(index, i, indexedRange{r, p})
		}
		b.cfg.Pools[p.Name] = p
		b.cfg.poolOrder = append(b.cfg.poolOrder, p)
	}
	b.cfg.rangeIndex = index
	sort.Slice(b.cfg.poolOrder, func(i, j int) bool {
		a, c := b.cfg.poolOrder[i], b.cfg.poolOrder[j]
		if a.Priority != c.Priority {
			return a.Priority < c.Priority
		}
		return a.Name < c.Name
	})
}

// poolRanges parses a pool's entries and checks they do not overlap.
func (b *builder) poolRanges(ip *seamarkv1alpha1.IPPool) ([]allocator.Range, bool) {
	if len(ip.Spec.CIDRs) == 0 {
		b.report(KindIPPool, ip.Name, "spec.cidrs", seamarkv1alpha1.ReasonInvalidCIDR, Invalid, "the pool has no CIDRs")
		return nil, false
	}
	ranges := make([]allocator.Range, 0, len(ip.Spec.CIDRs))
	for i, c := range ip.Spec.CIDRs {
		r, err := allocator.ParseRange(string(c))
		if err != nil {
			b.report(KindIPPool, ip.Name, fmt.Sprintf("spec.cidrs[%d]", i), seamarkv1alpha1.ReasonInvalidCIDR, Invalid, "%v", err)
			return nil, false
		}
		for j, prev := range ranges {
			if prev.Overlaps(r) {
				b.report(KindIPPool, ip.Name, fmt.Sprintf("spec.cidrs[%d]", i), seamarkv1alpha1.ReasonInvalidCIDR, Invalid,
					"%s overlaps %s (spec.cidrs[%d]) of the same pool; list each address once", r, prev, j)
				return nil, false
			}
		}
		ranges = append(ranges, r)
	}
	return ranges, true
}

// poolOverlaps reports (and records) the first accepted range of an older
// pool that one of ranges overlaps.
func (b *builder) poolOverlaps(name string, ranges []allocator.Range, index []indexedRange) bool {
	for _, r := range ranges {
		// The candidates are the last accepted range starting at or before
		// r.First and the first one starting after it.
		i := sort.Search(len(index), func(i int) bool { return r.First.Less(index[i].r.First) })
		for _, j := range []int{i - 1, i} {
			if j < 0 || j >= len(index) || !index[j].r.Overlaps(r) {
				continue
			}
			other := index[j]
			b.report(KindIPPool, name, "spec.cidrs", seamarkv1alpha1.ReasonOverlap, Invalid,
				"%s overlaps %s of IPPool %q, which is older; this pool grants nothing until the overlap is removed",
				r, other.r, other.pool.Name)
			return true
		}
	}
	return false
}

// peers validates the BGPPeers. A peer whose Secret or key is missing is
// left out with a Transient problem: without its password the session
// cannot come up anyway, and the Secret may yet be created.
func (b *builder) peers(items []seamarkv1alpha1.BGPPeer, secrets []corev1.Secret) {
	secretByName := map[string]*corev1.Secret{}
	for i := range secrets {
		secretByName[secrets[i].Name] = &secrets[i]
	}
	meta := func(p *seamarkv1alpha1.BGPPeer) *metav1.ObjectMeta { return &p.ObjectMeta }
	for _, bp := range byAge(items, meta) {
		if p, ok := b.peer(bp, secretByName); ok {
			b.cfg.Peers[p.Name] = p
			b.cfg.peerOrder = append(b.cfg.peerOrder, p)
		}
	}
}

func (b *builder) peer(bp *seamarkv1alpha1.BGPPeer, secrets map[string]*corev1.Secret) (*Peer, bool) {
	s := &bp.Spec
	bad := func(field, format string, args ...any) (*Peer, bool) {
		b.report(KindBGPPeer, bp.Name, field, seamarkv1alpha1.ReasonInvalid, Invalid, format, args...)
		return nil, false
	}
	p := &Peer{Name: bp.Name, created: bp.CreationTimestamp.Time}
	var err error
	if p.Address, err = parsePlainAddr(string(s.Address)); err != nil {
		return bad("spec.address", "address: %v", err)
	}
	p.Port = DefaultPort
	if s.Port != 0 {
		if s.Port < 1 || s.Port > 65535 {
			return bad("spec.port", "port %d is not between 1 and 65535", s.Port)
		}
		p.Port = uint16(s.Port)
	}
	var ok bool
	if p.ASN, ok = asn(s.ASN); !ok {
		return bad("spec.asn", "asn %d is not a usable 4-byte AS number (1-4294967294, not 23456)", s.ASN)
	}
	if p.LocalASN, ok = asn(s.LocalASN); !ok {
		return bad("spec.localASN", "localASN %d is not a usable 4-byte AS number (1-4294967294, not 23456)", s.LocalASN)
	}
	if s.RouterID != nil {
		if p.RouterID, err = parsePlainAddr(string(*s.RouterID)); err != nil || !p.RouterID.Is4() {
			return bad("spec.routerID", "routerID %q is not an IPv4 address", *s.RouterID)
		}
	}
	if s.SourceAddress != nil {
		if p.SourceAddress, err = parsePlainAddr(string(*s.SourceAddress)); err != nil {
			return bad("spec.sourceAddress", "sourceAddress: %v", err)
		}
		if p.SourceAddress.Is4() != p.Address.Is4() {
			return bad("spec.sourceAddress", "sourceAddress %s is not of the family of address %s", p.SourceAddress, p.Address)
		}
	}
	p.HoldTime = durationOr(s.HoldTime, DefaultHoldTime)
	if p.HoldTime != 0 && (p.HoldTime < 3*time.Second || p.HoldTime > 65535*time.Second) {
		return bad("spec.holdTime", "holdTime %s must be 0 or between 3s and 65535s", p.HoldTime)
	}
	p.KeepaliveTime = durationOr(s.KeepaliveTime, p.HoldTime/3)
	if (p.HoldTime == 0 && p.KeepaliveTime != 0) || (p.HoldTime != 0 && p.KeepaliveTime >= p.HoldTime) || p.KeepaliveTime < 0 {
		return bad("spec.keepaliveTime", "keepaliveTime %s must be less than holdTime %s, and 0 when holdTime is 0", p.KeepaliveTime, p.HoldTime)
	}
	p.ConnectRetryTime = durationOr(s.ConnectRetryTime, DefaultConnectRetryTime)
	if p.ConnectRetryTime < time.Second || p.ConnectRetryTime > 65535*time.Second {
		return bad("spec.connectRetryTime", "connectRetryTime %s must be between 1s and 65535s", p.ConnectRetryTime)
	}
	if s.EBGPMultihop != nil {
		if *s.EBGPMultihop < 1 || *s.EBGPMultihop > 255 {
			return bad("spec.ebgpMultihop", "ebgpMultihop %d is not a TTL between 1 and 255", *s.EBGPMultihop)
		}
		p.EBGPMultihop = uint8(*s.EBGPMultihop)
	}
	p.MaxReceivedPrefixes = DefaultMaxReceivedPrefixes
	if m := s.MaxReceivedPrefixes; m != nil {
		if *m < 0 {
			return bad("spec.maxReceivedPrefixes", "maxReceivedPrefixes %d is negative; 0 means no limit", *m)
		}
		p.MaxReceivedPrefixes = uint32(*m)
	}
	if gr := s.GracefulRestart; gr != nil {
		p.GracefulRestart = gr.Enabled
		p.RestartTime = durationOr(gr.RestartTime, DefaultRestartTime)
		if p.RestartTime < time.Second || p.RestartTime > 4095*time.Second {
			return bad("spec.gracefulRestart.restartTime", "restartTime %s must be between 1s and 4095s", p.RestartTime)
		}
	}
	if bfd := s.BFD; bfd != nil {
		p.BFD = BFD{
			Enabled:          bfd.Enabled,
			ReceiveInterval:  durationOr(bfd.ReceiveInterval, DefaultBFDInterval),
			TransmitInterval: durationOr(bfd.TransmitInterval, DefaultBFDInterval),
			DetectMultiplier: DefaultBFDDetectMultiplier,
		}
		for _, f := range []struct {
			name string
			d    time.Duration
		}{{"receiveInterval", p.BFD.ReceiveInterval}, {"transmitInterval", p.BFD.TransmitInterval}} {
			if f.d < 10*time.Millisecond || f.d > 60*time.Second || f.d%time.Millisecond != 0 {
				return bad("spec.bfd."+f.name, "%s %s must be whole milliseconds between 10ms and 60s", f.name, f.d)
			}
		}
		if m := bfd.DetectMultiplier; m != nil {
			if *m < 1 || *m > 255 {
				return bad("spec.bfd.detectMultiplier", "detectMultiplier %d is not between 1 and 255", *m)
			}
			p.BFD.DetectMultiplier = uint8(*m)
		}
	}
	sels, ok := b.selectorsOf(KindBGPPeer, bp.Name, []string{"nodeSelector"}, []*metav1.LabelSelector{s.NodeSelector})
	if !ok {
		return nil, false
	}
	p.nodeSelector = sels[0]
	if ref := s.PasswordSecretRef; ref != nil {
		sec, found := secrets[string(ref.Name)]
		if !found {
			b.report(KindBGPPeer, bp.Name, "spec.passwordSecretRef.name", seamarkv1alpha1.ReasonSecretNotFound, Transient,
				"Secret %q holding the TCP-MD5 password was not found in seamark's namespace; the nodes do not peer with %s until it exists", ref.Name, p.Address)
			return nil, false
		}
		pw, found := sec.Data[ref.Key]
		if !found {
			b.report(KindBGPPeer, bp.Name, "spec.passwordSecretRef.key", seamarkv1alpha1.ReasonSecretKeyNotFound, Transient,
				"Secret %q has no key %q holding the TCP-MD5 password; the nodes do not peer with %s until it does", ref.Name, ref.Key, p.Address)
			return nil, false
		}
		if len(pw) == 0 || len(pw) > MaxPasswordLength {
			return bad("spec.passwordSecretRef.key", "the password in Secret %q key %q is %d bytes; TCP-MD5 passwords are 1 to %d bytes", ref.Name, ref.Key, len(pw), MaxPasswordLength)
		}
		p.Password = string(pw)
	}
	return p, true
}

func asn(v seamarkv1alpha1.ASN) (uint32, bool) {
	if v < 1 || v > 4294967294 || v == 23456 {
		return 0, false
	}
	return uint32(v), true
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// parsePlainAddr parses an address without zone, not IPv4-mapped.
func parsePlainAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}

// bgpAdvertisements validates the BGPAdvertisements. Peer names that do not
// exist are Transient problems and are dropped from the advertisement (it
// keeps announcing to the peers that exist); every other problem is Invalid
// and leaves the advertisement out.
func (b *builder) bgpAdvertisements(items []seamarkv1alpha1.BGPAdvertisement) {
	sorted := slices.Clone(items)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i := range sorted {
		if a, ok := b.bgpAdvertisement(&sorted[i]); ok {
			b.cfg.BGPAdvertisements = append(b.cfg.BGPAdvertisements, a)
		}
	}
}

func (b *builder) bgpAdvertisement(ba *seamarkv1alpha1.BGPAdvertisement) (*BGPAdvertisement, bool) {
	s := &ba.Spec
	bad := func(field, format string, args ...any) (*BGPAdvertisement, bool) {
		b.report(KindBGPAdvertisement, ba.Name, field, seamarkv1alpha1.ReasonInvalid, Invalid, format, args...)
		return nil, false
	}
	sels, ok := b.selectorsOf(KindBGPAdvertisement, ba.Name, []string{"ipPoolSelector", "serviceSelector", "nodeSelector"},
		[]*metav1.LabelSelector{s.IPPoolSelector, s.ServiceSelector, s.NodeSelector})
	if !ok {
		return nil, false
	}
	a := &BGPAdvertisement{
		Name:                    ba.Name,
		Addresses:               slices.Clone(s.Addresses),
		WithdrawWhenNoEndpoints: s.WithdrawWhenNoEndpoints,
		AggregationLength:       32,
		AggregationLengthV6:     128,
		selectors:               selectors{pool: sels[0], service: sels[1], node: sels[2]},
	}
	if len(a.Addresses) == 0 {
		a.Addresses = []seamarkv1alpha1.AddressType{seamarkv1alpha1.AddressLoadBalancerIP}
	}
	for i, t := range a.Addresses {
		switch t {
		case seamarkv1alpha1.AddressLoadBalancerIP, seamarkv1alpha1.AddressExternalIP, seamarkv1alpha1.AddressClusterIP, seamarkv1alpha1.AddressClusterIPRange:
		default:
			return bad(fmt.Sprintf("spec.addresses[%d]", i), "%q is not one of LoadBalancerIP, ExternalIP, ClusterIP, ClusterIPRange", t)
		}
	}
	for i, c := range s.Communities {
		comm, err := ParseCommunity(string(c))
		if err != nil {
			return bad(fmt.Sprintf("spec.communities[%d]", i), "%v", err)
		}
		a.Communities = append(a.Communities, comm)
	}
	if lp := s.LocalPreference; lp != nil {
		if *lp < 0 || *lp > 4294967295 {
			return bad("spec.localPreference", "localPreference %d is not between 0 and 4294967295", *lp)
		}
		v := uint32(*lp)
		a.LocalPreference = &v
	}
	if l := s.AggregationLength; l != nil {
		if *l < 0 || *l > 32 {
			return bad("spec.aggregationLength", "aggregationLength %d is not between 0 and 32", *l)
		}
		a.AggregationLength = int(*l)
	}
	if l := s.AggregationLengthV6; l != nil {
		if *l < 0 || *l > 128 {
			return bad("spec.aggregationLengthV6", "aggregationLengthV6 %d is not between 0 and 128", *l)
		}
		a.AggregationLengthV6 = int(*l)
	}
	// Host-length prefixes cannot cover foreign addresses; only shorter
	// aggregations need the walk over the selected pools.
	if a.Announces(seamarkv1alpha1.AddressLoadBalancerIP) && (a.AggregationLength < 32 || a.AggregationLengthV6 < 128) {
		if field, msg := b.aggregationTooShort(a); msg != "" {
			return bad(field, "%s", msg)
		}
	}
	if s.Peers != nil {
		a.Peers = []string{} // named peers only, even if none of them exists
		for i, n := range s.Peers {
			if _, ok := b.cfg.Peers[string(n)]; !ok {
				b.report(KindBGPAdvertisement, ba.Name, fmt.Sprintf("spec.peers[%d]", i), seamarkv1alpha1.ReasonUnknownPeer, Transient,
					"BGPPeer %q does not exist or is not valid; nothing is announced to it", n)
				continue
			}
			a.Peers = append(a.Peers, string(n))
		}
	}
	return a, true
}

// aggregationTooShort checks that announcing any address of a selected pool
// with the advertisement's aggregation length covers addresses of that
// pool's range only: a shorter prefix would attract traffic for addresses
// seamark does not own.
func (b *builder) aggregationTooShort(a *BGPAdvertisement) (field, msg string) {
	for _, p := range b.cfg.poolOrder {
		if !a.pool.Matches(p.Labels) {
			continue
		}
		for _, r := range p.Allocator.Ranges {
			length, field := a.AggregationLength, "spec.aggregationLength"
			if r.Family() == allocator.IPv6 {
				length, field = a.AggregationLengthV6, "spec.aggregationLengthV6"
			}
			lo := netip.PrefixFrom(r.First, length).Masked()
			hi := netip.PrefixFrom(r.Last, length).Masked()
			if lo.Addr().Less(r.First) || lastAddr(hi).Compare(r.Last) > 0 {
				return field, fmt.Sprintf("aggregation length %d would announce %s, which covers addresses outside %s of IPPool %q; use a length that fits inside the pool's ranges",
					length, lo, r, p.Name)
			}
		}
	}
	return "", ""
}

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// l2Advertisements validates the L2Advertisements; any problem leaves the
// advertisement out.
func (b *builder) l2Advertisements(items []seamarkv1alpha1.L2Advertisement) {
	sorted := slices.Clone(items)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
outer:
	for i := range sorted {
		la := &sorted[i]
		sels, ok := b.selectorsOf(KindL2Advertisement, la.Name, []string{"ipPoolSelector", "serviceSelector", "nodeSelector"},
			[]*metav1.LabelSelector{la.Spec.IPPoolSelector, la.Spec.ServiceSelector, la.Spec.NodeSelector})
		if !ok {
			continue
		}
		a := &L2Advertisement{Name: la.Name, WithdrawWhenNoEndpoints: la.Spec.WithdrawWhenNoEndpoints,
			Refresh: durationOr(la.Spec.RefreshInterval, DefaultL2Refresh), selectors: selectors{pool: sels[0], service: sels[1], node: sels[2]}}
		if a.Refresh < 0 || a.Refresh > 24*time.Hour {
			b.report(KindL2Advertisement, la.Name, "spec.refreshInterval", seamarkv1alpha1.ReasonInvalid, Invalid,
				"refreshInterval %s must be between 0s and 24h", a.Refresh)
			continue
		}
		for j, ifc := range la.Spec.Interfaces {
			if _, err := path.Match(string(ifc), ""); err != nil || strings.Contains(string(ifc), "/") {
				b.report(KindL2Advertisement, la.Name, fmt.Sprintf("spec.interfaces[%d]", j), seamarkv1alpha1.ReasonInvalid, Invalid,
					"%q is not an interface name or a valid pattern (*, ?, [a-z])", ifc)
				continue outer
			}
			a.Interfaces = append(a.Interfaces, string(ifc))
		}
		b.cfg.L2Advertisements = append(b.cfg.L2Advertisements, a)
	}
}

// serviceCIDRs collects the CIDRs of every ServiceCIDR whose Ready
// condition is True (a ServiceCIDR being deleted is not Ready).
func (b *builder) serviceCIDRs(items []networkingv1.ServiceCIDR) {
	seen := map[netip.Prefix]bool{}
	for i := range items {
		sc := &items[i]
		ready := false
		for _, c := range sc.Status.Conditions {
			if c.Type == networkingv1.ServiceCIDRConditionReady && c.Status == metav1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			continue
		}
		for _, s := range sc.Spec.CIDRs {
			p, err := netip.ParsePrefix(s)
			if err != nil || seen[p.Masked()] {
				continue // the apiserver validates ServiceCIDRs; nothing to report on a core object
			}
			seen[p.Masked()] = true
			b.cfg.ServiceCIDRs = append(b.cfg.ServiceCIDRs, p.Masked())
		}
	}
	slices.SortFunc(b.cfg.ServiceCIDRs, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return x.Bits() - y.Bits()
	})
}
