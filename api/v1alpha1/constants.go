package v1alpha1

// LoadBalancerClass is the spec.loadBalancerClass of Services that seamark
// handles. Services without a class are handled too unless the controller
// runs with --default-class=false; Services of any other class are never
// touched, not even their status.
const LoadBalancerClass = "seamark.io/lb"

// Service annotations.
const (
	// AnnotationPool names the IPPool a Service takes its addresses from.
	AnnotationPool = "seamark.io/pool"
	// AnnotationIPs requests specific addresses: comma-separated, at most
	// one per family, e.g. "203.0.113.10,2001:db8::10".
	AnnotationIPs = "seamark.io/ips"
	// AnnotationSharingKey lets Services with the same key share one address
	// when their ports do not conflict and their traffic policies agree.
	AnnotationSharingKey = "seamark.io/sharing-key"
)

// Labels on IPAllocation objects.
const (
	// LabelPool carries the name of the pool an IPAllocation was granted from.
	LabelPool = "seamark.io/pool"
	// LabelFamily carries the address family of an IPAllocation: "IPv4" or "IPv6".
	LabelFamily = "seamark.io/family"
)

// Well-known Kubernetes node labels and taints that decide which nodes may
// announce an address.
const (
	// LabelExcludeFromExternalLB excludes a node from announcing any address.
	LabelExcludeFromExternalLB = "node.kubernetes.io/exclude-from-external-load-balancers"
	// TaintOutOfService marks a node that is shut down; it announces nothing.
	TaintOutOfService = "node.kubernetes.io/out-of-service"
)

// PoolProtectionFinalizer keeps an IPPool with live IPAllocations from being
// removed; while it is terminating the pool grants nothing new.
const PoolProtectionFinalizer = "seamark.io/pool-protection"

// ConditionReady is the type of the one condition every seamark object
// carries first. It is positive: True means the object is in effect.
const ConditionReady = "Ready"

// Reasons of the Ready condition. True conditions use ReasonReady; every
// other reason explains a False condition and names what to fix.
const (
	// ReasonReady: the object is valid and in effect.
	ReasonReady = "Ready"
	// ReasonInvalid: the spec breaks a rule that needs more than the object
	// itself to check (e.g. a range whose start is after its end).
	ReasonInvalid = "Invalid"
	// ReasonInvalidCIDR: an entry of an IPPool's spec.cidrs cannot be used.
	ReasonInvalidCIDR = "InvalidCIDR"
	// ReasonInvalidSelector: a label selector cannot be parsed.
	ReasonInvalidSelector = "InvalidSelector"
	// ReasonOverlap: the pool overlaps an older pool and is disabled.
	ReasonOverlap = "Overlap"
	// ReasonAllocationsOutsidePool: addresses granted from the pool are no
	// longer inside its CIDRs after an edit; they are kept, not moved.
	ReasonAllocationsOutsidePool = "AllocationsOutsidePool"
	// ReasonTerminating: the pool is being deleted and waits for its
	// allocations to be released; it grants nothing new.
	ReasonTerminating = "Terminating"
	// ReasonUnknownPeer: an advertisement names a BGPPeer that does not exist.
	ReasonUnknownPeer = "UnknownPeer"
	// ReasonSecretNotFound: the Secret a BGPPeer's password refers to is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyNotFound: the Secret exists but lacks the referenced key.
	ReasonSecretKeyNotFound = "SecretKeyNotFound"
	// ReasonPoolNotFound: an IPAllocation refers to a pool that does not exist.
	ReasonPoolNotFound = "PoolNotFound"
)

// AddressType is one kind of address a BGPAdvertisement announces.
// +kubebuilder:validation:Enum=LoadBalancerIP;ExternalIP;ClusterIP;ClusterIPRange
type AddressType string

// The address types a BGPAdvertisement can announce.
const (
	// AddressLoadBalancerIP announces each Service's status.loadBalancer.ingress addresses.
	AddressLoadBalancerIP AddressType = "LoadBalancerIP"
	// AddressExternalIP announces each Service's spec.externalIPs.
	AddressExternalIP AddressType = "ExternalIP"
	// AddressClusterIP announces each Service's ClusterIPs as /32 or /128.
	AddressClusterIP AddressType = "ClusterIP"
	// AddressClusterIPRange announces the CIDRs of every Ready ServiceCIDR.
	AddressClusterIPRange AddressType = "ClusterIPRange"
)

// ConditionAnnounced is the type of the condition seamark-controller keeps
// in the status.conditions of the LoadBalancer Services it handles: True
// when every address the Service shows is announced by some node (over BGP
// to an established session, or over layer 2 by a ready speaker with an
// interface for it). It is written only when its reason changes: a
// failover or a node joining while others announce writes nothing.
const ConditionAnnounced = "seamark.io/Announced"

// Reasons of the seamark.io/Announced condition, from the least to the
// furthest a Service got: when no node announces an address, the reason
// is the furthest stage any node reached for it.
const (
	// ReasonAnnounced: every address is announced by at least one node.
	ReasonAnnounced = "Announced"
	// ReasonNoAdvertisement: no BGPAdvertisement (of LoadBalancerIP) or
	// L2Advertisement selects the address by its pool and Service labels.
	ReasonNoAdvertisement = "NoAdvertisement"
	// ReasonNoEligibleNode: advertisements select the address, but no node
	// may announce it: not selected by their nodeSelector, excluded by
	// label, tainted out-of-service, or without a BGPPeer that takes it.
	ReasonNoEligibleNode = "NoEligibleNode"
	// ReasonNoEndpoints: the Service has no usable endpoint anywhere and
	// its advertisements withdraw without endpoints (or its policy is Local).
	ReasonNoEndpoints = "NoEndpoints"
	// ReasonNoLocalEndpoints: externalTrafficPolicy Local and no node that
	// may announce the address has a usable endpoint of the Service.
	ReasonNoLocalEndpoints = "NoLocalEndpoints"
	// ReasonSpeakersNotReady: the nodes that would announce the address
	// have no Ready SpeakerStatus.
	ReasonSpeakersNotReady = "SpeakersNotReady"
	// ReasonNoInterface: layer 2 only; the nodes that may own the address
	// have no interface for it (no subnet contains it, or the
	// L2Advertisement's interfaces match none).
	ReasonNoInterface = "NoInterface"
	// ReasonPeersDown: the nodes that would announce the address have no
	// established session to the peers it goes to.
	ReasonPeersDown = "PeersDown"
)
