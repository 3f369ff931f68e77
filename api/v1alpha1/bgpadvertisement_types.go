package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Community is a BGP community: a standard community "a:b" (each part
// 0-65535), a large community "a:b:c" (each part 0-4294967295), or a
// well-known name: no-export, no-advertise, no-export-subconfed, no-peer,
// blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self in ['no-export', 'no-advertise', 'no-export-subconfed', 'no-peer', 'blackhole', 'graceful-shutdown', 'accept-own', 'llgr-stale', 'no-llgr'] || (self.matches('^[0-9]{1,5}:[0-9]{1,5}$') && self.split(':').all(p, int(p) <= 65535)) || (self.matches('^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && self.split(':').all(p, int(p) <= 4294967295))",messageExpression="'community \"' + self + '\" is not a standard community a:b (each part 0-65535, e.g. 65000:100), a large community a:b:c (each part 0-4294967295, e.g. 64512:1:2) or a well-known name (no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr)'"
type Community string

// BGPAdvertisementSpec says what is announced over BGP, from which nodes, to
// which peers, with which attributes.
type BGPAdvertisementSpec struct {
	// Addresses are the kinds of address announced.
	// +kubebuilder:default={LoadBalancerIP}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +listType=set
	// +optional
	Addresses []AddressType `json:"addresses,omitempty"`

	// IPPoolSelector selects the pools whose addresses are announced
	// (LoadBalancerIP); empty selects all pools.
	// +optional
	IPPoolSelector *metav1.LabelSelector `json:"ipPoolSelector,omitempty"`

	// ServiceSelector selects the Services whose addresses are announced;
	// empty selects all Services.
	// +optional
	ServiceSelector *metav1.LabelSelector `json:"serviceSelector,omitempty"`

	// NodeSelector selects the nodes that announce; empty selects all nodes.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// Peers names the BGPPeers to announce to; empty means every peer of the node.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Peers []ObjectName `json:"peers,omitempty"`

	// Communities are attached to every announced path.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Communities []Community `json:"communities,omitempty"`

	// LocalPreference is attached to paths sent over iBGP sessions (eBGP
	// routers ignore it, so it is never sent to them).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +optional
	LocalPreference *int64 `json:"localPreference,omitempty"`

	// AggregationLength is the prefix length IPv4 addresses are announced
	// with. Default 32.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=32
	// +optional
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the prefix length IPv6 addresses are announced
	// with. Default 128.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=128
	// +optional
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// WithdrawWhenNoEndpoints also withdraws addresses of Services with
	// externalTrafficPolicy Cluster while they have no ready endpoint anywhere.
	// +optional
	WithdrawWhenNoEndpoints bool `json:"withdrawWhenNoEndpoints,omitempty"`
}

// AdvertisementStatus is the observed state of an advertisement.
type AdvertisementStatus struct {
	// Conditions: Ready is True when the advertisement is valid and every
	// object it names exists.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// BGPAdvertisement announces addresses over BGP from every eligible node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=smbgpadv,categories=seamark
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec `json:"spec,omitempty"`
	Status AdvertisementStatus  `json:"status,omitempty"`
}

// BGPAdvertisementList is a list of BGPAdvertisements.
//
// +kubebuilder:object:root=true
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}
