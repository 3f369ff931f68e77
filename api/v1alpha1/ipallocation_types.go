package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ServiceReference identifies a Service that holds an address.
type ServiceReference struct {
	// Namespace of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// UID of the Service, so that a Service deleted and re-created under the
	// same name is not mistaken for the holder.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=36
	UID string `json:"uid"`
}

// IPAllocationSpec records one granted address.
type IPAllocationSpec struct {
	// Address is the granted address; it never changes.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="address is immutable; delete the IPAllocation and create another"
	Address IPAddress `json:"address"`

	// Pool is the IPPool the address was granted from; it never changes.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="pool is immutable; an address stays accounted to the pool it was granted from"
	Pool ObjectName `json:"pool"`

	// SharingKey is the seamark.io/sharing-key of the Services sharing the address.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SharingKey string `json:"sharingKey,omitempty"`

	// Services hold the address; more than one only when they share it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	Services []ServiceReference `json:"services"`
}

// IPAllocationStatus is the observed state of an IPAllocation.
type IPAllocationStatus struct {
	// Conditions: Ready is True while the allocation is consistent with its pool.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// L2 is the node answering ARP/NDP for the address (layer 2 mode),
	// written by that node's speaker when it takes the address.
	// +optional
	L2 *L2Owner `json:"l2,omitempty"`
}

// L2Owner is the node that answers ARP/NDP for an address.
type L2Owner struct {
	// Node is the owner's name.
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node"`
	// Interface is the first interface the address is answered on.
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Interface string `json:"interface,omitempty"`
	// Since is when the node took the address.
	// +optional
	Since metav1.Time `json:"since,omitempty"`
}

// IPAllocation is the lock on one granted address: its name is the address
// (see AllocationName), so the apiserver refuses a second grant of the same
// address with AlreadyExists.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=smalloc,categories=seamark
// +kubebuilder:validation:XValidation:rule="!isIP(self.spec.address) || (ip(self.spec.address).family() == 4 ? self.metadata.name == self.spec.address : (self.metadata.name.matches('^[0-9a-f]{4}(-[0-9a-f]{4}){7}$') && ip(self.metadata.name.replace('-', ':')) == ip(self.spec.address)))",messageExpression="'metadata.name \"' + self.metadata.name + '\" does not match spec.address \"' + self.spec.address + '\": the name is the IPv4 address as is, or the IPv6 address fully expanded with - between the 8 groups of 4 lowercase hex digits (2001-0db8-0000-0000-0000-0000-0000-0010)'",fieldPath=".spec.address"
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="Pool",type=string,JSONPath=`.spec.pool`
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.spec.services[0].namespace`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.services[0].name`
// +kubebuilder:printcolumn:name="Owner",type=string,JSONPath=`.status.l2.node`
// +kubebuilder:printcolumn:name="Sharing-Key",type=string,JSONPath=`.spec.sharingKey`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IPAllocation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAllocationSpec   `json:"spec"`
	Status IPAllocationStatus `json:"status,omitempty"`
}

// IPAllocationList is a list of IPAllocations.
//
// +kubebuilder:object:root=true
type IPAllocationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAllocation `json:"items"`
}
