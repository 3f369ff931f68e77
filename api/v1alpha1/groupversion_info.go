// Package v1alpha1 is the seamark.io/v1alpha1 API: IP pools, the IPAllocation
// lock objects, BGP peers and the BGP and layer 2 advertisements.
//
// Every rule that can be checked on a single object is a CEL rule enforced by
// the kube-apiserver (no admission webhooks). Rules that need other objects
// (overlapping pools, dangling references, the order of the two ends of an
// address range — the Kubernetes CEL IP library cannot order addresses) are
// checked by package config and surface as a Ready=False condition with a
// specific reason on the object at fault.
//
// This package imports apimachinery only.
//
// +kubebuilder:object:generate=true
// +groupName=seamark.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every seamark kind.
	GroupVersion = schema.GroupVersion{Group: "seamark.io", Version: "v1alpha1"}

	// SchemeBuilder collects the functions that add this package's types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&IPPool{}, &IPPoolList{},
		&IPAllocation{}, &IPAllocationList{},
		&BGPPeer{}, &BGPPeerList{},
		&BGPAdvertisement{}, &BGPAdvertisementList{},
		&L2Advertisement{}, &L2AdvertisementList{},
		&SpeakerStatus{}, &SpeakerStatusList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
