package config

import (
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/seamark-io/seamark/allocator"
	seamarkv1alpha1 "github.com/seamark-io/seamark/api/v1alpha1"
)

// Resources are the inputs of Build: plain data, as listed from the
// apiserver or an informer cache. The slices are read, never modified.
type Resources struct {
	Pools             []seamarkv1alpha1.IPPool
	Peers             []seamarkv1alpha1.BGPPeer
	BGPAdvertisements []seamarkv1alpha1.BGPAdvertisement
	L2Advertisements  []seamarkv1alpha1.L2Advertisement
	// Namespaces provide the labels namespace selectors match.
	Namespaces []corev1.Namespace
	// Secrets are the Secrets of seamark's namespace, for peer passwords.
	Secrets []corev1.Secret
	// ServiceCIDRs are the cluster's networking.k8s.io/v1 ServiceCIDRs.
	ServiceCIDRs []networkingv1.ServiceCIDR
}

// Config is one validated, immutable snapshot of seamark's configuration.
// Never modify it or anything it returns; build a new one.
type Config struct {
	// Pools are the usable pools by name (invalid and overlapping pools are
	// left out).
	Pools map[string]*Pool
	// Peers are the valid peers by name.
	Peers map[string]*Peer
	// BGPAdvertisements are the valid BGP advertisements, by name order.
	BGPAdvertisements []*BGPAdvertisement
	// L2Advertisements are the valid layer 2 advertisements, by name order.
	L2Advertisements []*L2Advertisement
	// ServiceCIDRs are the CIDRs of every Ready ServiceCIDR, sorted, unique.
	ServiceCIDRs []netip.Prefix

	// poolOrder is every pool sorted by priority, then name.
	poolOrder []*Pool
	// rangeIndex is every range of every pool, sorted by first address;
	// ranges never overlap because overlapping pools are left out.
	rangeIndex []indexedRange
	// namespaceLabels maps a namespace name to its labels.
	namespaceLabels map[string]labels.Set
	// peerOrder is every peer sorted by creation time, then name.
	peerOrder []*Peer
}

type indexedRange struct {
	r    allocator.Range
	pool *Pool
}

// Pool is a usable IPPool.
type Pool struct {
	// Name of the IPPool.
	Name string
	// Allocator is the pool as the allocator sees it.
	Allocator allocator.Pool
	// AutoAssign: used for Services that name no pool and no address.
	AutoAssign bool
	// Priority orders matching autoAssign pools; lower wins, then name.
	Priority int32
	// Terminating: the pool is being deleted and grants nothing new; its
	// addresses still belong to it.
	Terminating bool
	// Labels of the IPPool, for advertisements' ipPoolSelector.
	Labels labels.Set

	serviceSelector   labels.Selector
	namespaceSelector labels.Selector
}

// HasFamily reports whether the pool has addresses of family f.
func (p *Pool) HasFamily(f allocator.Family) bool {
	return slices.ContainsFunc(p.Allocator.Ranges, func(r allocator.Range) bool { return r.Family() == f })
}

// Admits reports whether a Service with these labels in a namespace with
// these labels may use the pool (its service and namespace selectors).
func (p *Pool) Admits(serviceLabels, namespaceLabels labels.Set) bool {
	return p.serviceSelector.Matches(serviceLabels) && p.namespaceSelector.Matches(namespaceLabels)
}

// Peer is a valid BGPPeer with its defaults filled in and its password
// resolved.
type Peer struct {
	// Name of the BGPPeer.
	Name string
	// Address and Port of the router.
	Address netip.Addr
	Port    uint16
	// ASN of the router and LocalASN of the nodes; equal for iBGP.
	ASN, LocalASN uint32
	// RouterID, or the zero Addr for the node's IPv4 address.
	RouterID netip.Addr
	// HoldTime (default 90s), KeepaliveTime (default a third of the hold
	// time), ConnectRetryTime (default 5s).
	HoldTime, KeepaliveTime, ConnectRetryTime time.Duration
	// EBGPMultihop is the TTL of the session, 0 for directly connected.
	EBGPMultihop uint8
	// MaxReceivedPrefixes is how many routes the router may send before
	// the node closes the session (default DefaultMaxReceivedPrefixes);
	// 0 means no limit.
	MaxReceivedPrefixes uint32
	// SourceAddress, or the zero Addr to let the routing table choose.
	SourceAddress netip.Addr
	// Password is the TCP-MD5 password, or empty.
	Password string
	// GracefulRestart and RestartTime (default 120s).
	GracefulRestart bool
	RestartTime     time.Duration
	// BFD is the peer's BFD settings, defaults filled in when spec.bfd is
	// set; the zero value means no BFD.
	BFD BFD

	nodeSelector labels.Selector
	created      time.Time
}

// BFD is a peer's validated BFD settings.
type BFD struct {
	// Enabled runs BFD beside the BGP session.
	Enabled bool
	// ReceiveInterval and TransmitInterval (default 300ms each), whole
	// milliseconds from 10ms to 60s.
	ReceiveInterval, TransmitInterval time.Duration
	// DetectMultiplier (default 3), 1 to 255.
	DetectMultiplier uint8
}

// IBGP reports whether the session is internal BGP (same ASN on both ends).
func (p *Peer) IBGP() bool { return p.ASN == p.LocalASN }

// Selects reports whether a node with these labels peers with this router.
func (p *Peer) Selects(nodeLabels labels.Set) bool { return p.nodeSelector.Matches(nodeLabels) }

// BGPAdvertisement is a valid BGPAdvertisement.
type BGPAdvertisement struct {
	// Name of the BGPAdvertisement.
	Name string
	// Addresses are the kinds of address announced.
	Addresses []seamarkv1alpha1.AddressType
	// Peers are the names of the peers announced to; nil means every peer
	// of the node. Names of peers that do not exist are dropped (and
	// reported): an advertisement whose peers are all unknown announces to
	// nobody rather than to everybody.
	Peers []string
	// Communities attached to every path.
	Communities []Community
	// LocalPreference for iBGP sessions, or nil.
	LocalPreference *uint32
	// AggregationLength and AggregationLengthV6 are the announced prefix
	// lengths (default 32 and 128).
	AggregationLength, AggregationLengthV6 int
	// WithdrawWhenNoEndpoints also withdraws Cluster-policy addresses with
	// no ready endpoint anywhere.
	WithdrawWhenNoEndpoints bool

	selectors
}

// Announces reports whether the advertisement announces addresses of type t.
func (a *BGPAdvertisement) Announces(t seamarkv1alpha1.AddressType) bool {
	return slices.Contains(a.Addresses, t)
}

// ToPeer reports whether the advertisement announces to the named peer.
func (a *BGPAdvertisement) ToPeer(name string) bool {
	return a.Peers == nil || slices.Contains(a.Peers, name)
}

// L2Advertisement is a valid L2Advertisement.
type L2Advertisement struct {
	// Name of the L2Advertisement.
	Name string
	// Interfaces are names or shell patterns; empty means the interface
	// whose subnet contains the address (a node without one is not
	// eligible).
	Interfaces []string
	// WithdrawWhenNoEndpoints also withdraws Cluster-policy addresses with
	// no ready endpoint anywhere.
	WithdrawWhenNoEndpoints bool
	// Refresh is the interval of the repeated announcements (default
	// DefaultL2Refresh); 0 turns them off.
	Refresh time.Duration

	selectors
}

// selectors are the three selectors both kinds of advertisement have.
type selectors struct {
	pool, service, node labels.Selector
}

// Selects reports whether the advertisement applies to an address of pool
// (nil for addresses in no pool, such as ClusterIPs, which only an
// advertisement without ipPoolSelector matches), of a Service with
// serviceLabels, on a node with nodeLabels.
func (s selectors) Selects(pool *Pool, serviceLabels, nodeLabels labels.Set) bool {
	return s.node.Matches(nodeLabels) && s.SelectsAddress(pool, serviceLabels)
}

// SelectsAddress reports whether the advertisement applies to an address
// of pool (see Selects) of a Service with serviceLabels, on some node.
func (s selectors) SelectsAddress(pool *Pool, serviceLabels labels.Set) bool {
	if !s.service.Matches(serviceLabels) {
		return false
	}
	if pool == nil {
		return s.pool.Empty()
	}
	return s.pool.Matches(pool.Labels)
}

// SelectsNode reports whether the advertisement lets a node with these
// labels announce.
func (s selectors) SelectsNode(nodeLabels labels.Set) bool { return s.node.Matches(nodeLabels) }
