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
