package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Reasons of a SpeakerStatus's Ready condition.
const (
	// ReasonSpeakerReady: config loaded, caches synced, gossip joined.
	ReasonSpeakerReady = "Ready"
	// ReasonSpeakerStarting: the speaker has not synced its caches (or
	// joined the gossip) yet and announces nothing new.
	ReasonSpeakerStarting = "Starting"
)

// SpeakerStatusStatus is what one node's speaker announces and why.
type SpeakerStatusStatus struct {
	// Conditions: Ready is True once the speaker loaded its config, synced
	// its caches and (with layer 2) joined the gossip.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Peers are the node's BGP sessions, by peer name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Peers []PeerSessionStatus `json:"peers,omitempty"`

	// PeersUp summarizes Peers as "established/total", e.g. "2/2".
	// +kubebuilder:validation:MaxLength=16
	// +optional
	PeersUp string `json:"peersUp,omitempty"`

	// Memberlist is the layer 2 gossip as this node sees it.
	// +optional
	Memberlist *MemberlistStatus `json:"memberlist,omitempty"`

	// Layer2 is what this node answers ARP/NDP for.
	// +optional
	Layer2 *Layer2Status `json:"layer2,omitempty"`
}

// PeerSessionStatus is one BGP session of a node.
type PeerSessionStatus struct {
	// Name of the BGPPeer.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Address of the router.
	// +kubebuilder:validation:MaxLength=45
	Address string `json:"address"`
	// State of the session: Idle, Connect, Active, OpenSent, OpenConfirm,
	// Established, Unknown.
	// +kubebuilder:validation:MaxLength=16
	State string `json:"state"`
	// BFDState of the session's BFD, when BFD is enabled: AdminDown, Down,
	// Init, Up.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	BFDState string `json:"bfdState,omitempty"`
	// LastTransitionTime is when State last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// AdvertisedPrefixes is the number of prefixes announced on the session.
	// +optional
	AdvertisedPrefixes int32 `json:"advertisedPrefixes,omitempty"`
	// LastError is the last problem reported for the session (failed
	// connect, notification, hold timer expired), if any since it came up.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// MemberlistStatus is the layer 2 gossip as one node sees it.
type MemberlistStatus struct {
	// Profile is the failure-detection profile: fast, balanced or lan.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Profile string `json:"profile,omitempty"`
	// Members is the number of live members, this node included.
	// +optional
	Members int32 `json:"members,omitempty"`
}

// Layer2Status is what one node answers ARP/NDP for.
type Layer2Status struct {
	// Interfaces answered on.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=15
	// +listType=set
	// +optional
	Interfaces []string `json:"interfaces,omitempty"`
	// Candidates are the interfaces that may answer (up, Ethernet, not a
	// tunnel or CNI device) with their subnets: from them the controller
	// and kubectl-seamark tell whether this node has an interface for an
	// address.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +optional
	Candidates []L2Interface `json:"candidates,omitempty"`
	// Owned is the number of addresses this node owns.
	// +optional
	Owned int32 `json:"owned,omitempty"`
	// Conflicts counts replies for owned addresses seen from another MAC
	// address since the speaker started.
	// +optional
	Conflicts int64 `json:"conflicts,omitempty"`
	// Problems are settings of the node that compete with its answers,
	// each with how to fix it (e.g. kube-proxy's IPVS mode without
	// strictARP: every node's kernel answers ARP for the addresses).
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	// +optional
	Problems []string `json:"problems,omitempty"`
}

// L2Interface is one interface of a node that may answer ARP/NDP.
type L2Interface struct {
	// Name of the interface.
	// +kubebuilder:validation:MaxLength=15
	Name string `json:"name"`
	// Prefixes are its global unicast addresses with their prefix length,
	// e.g. 198.51.100.11/24.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=49
	// +listType=set
	// +optional
	Prefixes []string `json:"prefixes,omitempty"`
}

// SpeakerStatus is what the speaker of one node announces and why. Its name
// is the node's; it is owned by the Node (it goes with the node and
// survives speaker restarts) and written only by that node's speaker, only
// when something changes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=smspeaker,categories=seamark
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.status.peersUp`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberlist.members`
// +kubebuilder:printcolumn:name="L2-Owned",type=integer,JSONPath=`.status.layer2.owned`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SpeakerStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status SpeakerStatusStatus `json:"status,omitempty"`
}

// SpeakerStatusList is a list of SpeakerStatuses.
//
// +kubebuilder:object:root=true
type SpeakerStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SpeakerStatus `json:"items"`
}
