package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPPoolSpec is a ServiceCIDR-like pool of external addresses.
type IPPoolSpec struct {
	// CIDRs are the addresses of the pool: CIDRs or inclusive ranges, either
	// family; a pool may mix families. IPv4 CIDRs shorter than /31 exclude
	// their network and broadcast addresses and IPv6 CIDRs shorter than /127
	// their first (subnet-router anycast) address, unless allowFirstLast is
	// set. Ranges are used exactly as written.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	CIDRs []CIDROrRange `json:"cidrs"`

	// AutoAssign makes the pool available to Services that name neither a
	// pool nor an address.
	// +kubebuilder:default=true
	// +optional
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AllowFirstLast makes the network and broadcast addresses of IPv4 CIDRs
	// (and the first address of IPv6 CIDRs) usable.
	// +optional
	AllowFirstLast bool `json:"allowFirstLast,omitempty"`

	// ServiceSelector limits the pool to Services with matching labels.
	// +optional
	ServiceSelector *metav1.LabelSelector `json:"serviceSelector,omitempty"`

	// NamespaceSelector limits the pool to Services in namespaces with
	// matching labels.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Priority orders the autoAssign pools that match a Service: lower wins,
	// ties are broken by name.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=-1000000
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	Priority int32 `json:"priority,omitempty"`
}

// AddressCounts are the sizes of one family of a pool. They are decimal
// strings because IPv6 pools are larger than any integer type of the API;
// they saturate at 18446744073709551615.
type AddressCounts struct {
	// Capacity is the number of usable addresses.
	// +kubebuilder:validation:MaxLength=20
	Capacity string `json:"capacity"`
	// Allocated is the number of addresses granted.
	// +kubebuilder:validation:MaxLength=20
	Allocated string `json:"allocated"`
	// Available is Capacity minus Allocated.
	// +kubebuilder:validation:MaxLength=20
	Available string `json:"available"`
}

// IPPoolStatus is the observed state of an IPPool.
type IPPoolStatus struct {
	// Conditions: Ready is True when the pool grants addresses.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// IPv4 counts the pool's IPv4 addresses; absent when it has none.
	// +optional
	IPv4 *AddressCounts `json:"ipv4,omitempty"`

	// IPv6 counts the pool's IPv6 addresses; absent when it has none.
	// +optional
	IPv6 *AddressCounts `json:"ipv6,omitempty"`

	// Allocated is the number of addresses granted, both families.
	// +optional
	Allocated int64 `json:"allocated,omitempty"`

	// Available is the number of free addresses, both families, saturating.
	// +kubebuilder:validation:MaxLength=20
	// +optional
	Available string `json:"available,omitempty"`
}

// IPPool is a pool of external addresses that LoadBalancer Services are
// granted addresses from.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=smpool,categories=seamark
// +kubebuilder:printcolumn:name="CIDRs",type=string,JSONPath=`.spec.cidrs`
// +kubebuilder:printcolumn:name="Allocated",type=integer,JSONPath=`.status.allocated`
// +kubebuilder:printcolumn:name="Available",type=string,JSONPath=`.status.available`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="IPv4 Available",type=string,JSONPath=`.status.ipv4.available`,priority=1
// +kubebuilder:printcolumn:name="IPv6 Available",type=string,JSONPath=`.status.ipv6.available`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPPoolSpec   `json:"spec"`
	Status IPPoolStatus `json:"status,omitempty"`
}

// IPPoolList is a list of IPPools.
//
// +kubebuilder:object:root=true
type IPPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPPool `json:"items"`
}
