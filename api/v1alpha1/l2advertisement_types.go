package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// InterfaceName is a network interface name or a shell pattern of names
// ("eth0", "enp*s0", "bond[01]").
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=15
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.:@*?\[\]-]+$`
type InterfaceName string

// L2AdvertisementSpec says which addresses are answered for over ARP (IPv4)
// and NDP (IPv6), from which nodes and interfaces.
type L2AdvertisementSpec struct {
	// IPPoolSelector selects the pools whose addresses are announced; empty
	// selects all pools.
	// +optional
	IPPoolSelector *metav1.LabelSelector `json:"ipPoolSelector,omitempty"`

	// ServiceSelector selects the Services whose addresses are announced;
	// empty selects all Services.
	// +optional
	ServiceSelector *metav1.LabelSelector `json:"serviceSelector,omitempty"`

	// NodeSelector selects the nodes that may own an address; empty selects
	// all nodes.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// Interfaces are the names or patterns of the interfaces to answer on;
	// a matching interface is used with or without an address (e.g. a VLAN
	// sub-interface). Empty: the up, broadcast-capable interface whose
	// subnet contains the address; a node without one is not eligible.
	// Loopback, bond and bridge members, tunnels and CNI devices are never
	// used.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	Interfaces []InterfaceName `json:"interfaces,omitempty"`

	// WithdrawWhenNoEndpoints also stops answering for addresses of
	// Services with externalTrafficPolicy Cluster while they have no ready
	// endpoint anywhere.
	// +optional
	WithdrawWhenNoEndpoints bool `json:"withdrawWhenNoEndpoints,omitempty"`

	// RefreshInterval is how often the owner repeats its gratuitous ARP /
	// unsolicited neighbor advertisement after the first three (taken at
	// 0, 1.1s and 2.2s), jittered by ±10%. Default 60s; 0 turns the
	// refresh off.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('24h')",message="refreshInterval must be between 0s and 24h"
	// +optional
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`
}

// L2Advertisement answers ARP/NDP for addresses from one elected node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=sml2adv,categories=seamark
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L2AdvertisementSpec `json:"spec,omitempty"`
	Status AdvertisementStatus `json:"status,omitempty"`
}

// L2AdvertisementList is a list of L2Advertisements.
//
// +kubebuilder:object:root=true
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}
