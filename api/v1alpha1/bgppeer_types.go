package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ASN is a 4-byte autonomous system number. 0, 23456 (AS_TRANS) and
// 4294967295 are reserved and refused.
//
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=4294967294
// +kubebuilder:validation:XValidation:rule="self != 23456",message="ASN 23456 is AS_TRANS, reserved for 2-byte ASN speakers; use the real 4-byte ASN"
type ASN int64

// SecretKeyReference names a key of a Secret in seamark's namespace.
type SecretKeyReference struct {
	// Name of the Secret in the namespace seamark runs in (--namespace).
	Name ObjectName `json:"name"`
	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// GracefulRestart configures BGP graceful restart (RFC 4724).
type GracefulRestart struct {
	// Enabled advertises the graceful restart capability, so the router keeps
	// this node's routes for restartTime when the speaker restarts.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// RestartTime is how long the router keeps the routes of a restarting
	// speaker; at most 4095s. Default 120s.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",messageExpression="'\"' + self + '\" is not a duration; write it like 90s, 1m30s or 500ms'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || (duration(self) >= duration('1s') && duration(self) <= duration('4095s'))",message="restartTime must be between 1s and 4095s (the field is 12 bits of seconds)"
	// +optional
	RestartTime *metav1.Duration `json:"restartTime,omitempty"`
}

// BFD configures Bidirectional Forwarding Detection (RFC 5880, single-hop
// RFC 5881) beside the BGP sessions with a router: a node whose link or power
// fails leaves the router's ECMP set within receiveInterval × detectMultiplier
// instead of the BGP hold time. The router must run BFD for the neighbour too
// (FRR: a "bfd" profile and "neighbor X bfd"); see docs/bfd.md.
type BFD struct {
	// Enabled runs a BFD session with the router from every node that peers
	// with it. When the session goes down, the node closes its BGP session at
	// once; when it comes back up, the BGP session reconnects at once.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// ReceiveInterval is the shortest interval at which the nodes want to
	// receive BFD packets from the router (RequiredMinRxInterval), in whole
	// milliseconds from 10ms to 60s. Default 300ms. Changing it never resets
	// a session.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",messageExpression="'\"' + self + '\" is not a duration; write it like 300ms or 1s'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || (duration(self) >= duration('10ms') && duration(self) <= duration('60s'))",message="receiveInterval must be between 10ms and 60s"
	// +optional
	ReceiveInterval *metav1.Duration `json:"receiveInterval,omitempty"`

	// TransmitInterval is the shortest interval at which the nodes want to
	// send BFD packets (DesiredMinTxInterval), in whole milliseconds from
	// 10ms to 60s; the router may ask for slower. Default 300ms. While a
	// session is not up, packets go out at most once a second (RFC 5880).
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",messageExpression="'\"' + self + '\" is not a duration; write it like 300ms or 1s'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || (duration(self) >= duration('10ms') && duration(self) <= duration('60s'))",message="transmitInterval must be between 10ms and 60s"
	// +optional
	TransmitInterval *metav1.Duration `json:"transmitInterval,omitempty"`

	// DetectMultiplier is how many of the nodes' packets the router may miss
	// before it declares a node down. Default 3.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=255
	// +optional
	DetectMultiplier *int32 `json:"detectMultiplier,omitempty"`
}

// BGPPeerSpec is a router that nodes peer with.
//
// +kubebuilder:validation:XValidation:rule="!has(self.keepaliveTime) || !self.keepaliveTime.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || (has(self.holdTime) && !self.holdTime.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')) || (has(self.holdTime) && duration(self.holdTime) == duration('0s') ? duration(self.keepaliveTime) == duration('0s') : duration(self.keepaliveTime) < duration(has(self.holdTime) ? self.holdTime : '90s'))",message="keepaliveTime must be less than holdTime (default 90s), and 0 when holdTime is 0",fieldPath=".keepaliveTime"
type BGPPeerSpec struct {
	// Address of the router.
	Address IPAddress `json:"address"`

	// Port of the router's BGP listener.
	// +kubebuilder:default=179
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// ASN is the router's autonomous system number.
	ASN ASN `json:"asn"`

	// LocalASN is the nodes' autonomous system number; equal to asn for iBGP.
	LocalASN ASN `json:"localASN"`

	// RouterID is the BGP identifier the nodes use towards this router; an
	// IPv4 address. Default: the node's IPv4 address.
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).family() == 4",message="routerID must be an IPv4 address"
	// +optional
	RouterID *IPAddress `json:"routerID,omitempty"`

	// HoldTime is the BGP hold time: 0 (no keepalives) or at least 3s, at
	// most 65535s. Default 90s.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",messageExpression="'\"' + self + '\" is not a duration; write it like 90s, 1m30s or 500ms'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",message="holdTime must be 0 or between 3s and 65535s (RFC 4271)"
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime is the interval between keepalives; less than holdTime.
	// Default: a third of holdTime.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",messageExpression="'\"' + self + '\" is not a duration; write it like 90s, 1m30s or 500ms'"
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectRetryTime is the wait between connection attempts. Default 5s.
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",messageExpression="'\"' + self + '\" is not a duration; write it like 90s, 1m30s or 500ms'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || (duration(self) >= duration('1s') && duration(self) <= duration('65535s'))",message="connectRetryTime must be between 1s and 65535s"
	// +optional
	ConnectRetryTime *metav1.Duration `json:"connectRetryTime,omitempty"`

	// EBGPMultihop is the IP TTL of the session, for eBGP routers more than
	// one hop away. Unset: directly connected.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=255
	// +optional
	EBGPMultihop *int32 `json:"ebgpMultihop,omitempty"`

	// MaxReceivedPrefixes is how many routes the router may send the node
	// on this session. seamark imports none of them, but GoBGP keeps each
	// one (about 1 KB) until the session closes; beyond the limit (counted
	// 5 times a second) the node closes the session (Cease, administrative
	// reset, "maximum number of prefixes reached") and connects again 5 s
	// later, so a router that sends a full table cannot take the speaker
	// past its memory limit. 0: no limit. Default 100000.
	// +kubebuilder:validation:Minimum=0
	// +optional
	MaxReceivedPrefixes *int32 `json:"maxReceivedPrefixes,omitempty"`

	// SourceAddress is the local address of the session. Default: chosen by
	// the node's routing table.
	// +optional
	SourceAddress *IPAddress `json:"sourceAddress,omitempty"`

	// PasswordSecretRef names the Secret key holding the TCP-MD5 password.
	// +optional
	PasswordSecretRef *SecretKeyReference `json:"passwordSecretRef,omitempty"`

	// NodeSelector selects the nodes that peer with this router; empty
	// selects all nodes.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// GracefulRestart configures BGP graceful restart.
	// +optional
	GracefulRestart *GracefulRestart `json:"gracefulRestart,omitempty"`

	// BFD configures fast failure detection beside the BGP sessions.
	// +optional
	BFD *BFD `json:"bfd,omitempty"`
}

// BGPPeerStatus is the observed state of a BGPPeer. Live session state is
// reported per node by the speaker's metrics.
type BGPPeerStatus struct {
	// Conditions: Ready is True when the configuration is valid and its
	// Secret was found.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// BGPPeer is a router that nodes open BGP sessions with.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=smpeer,categories=seamark
// +kubebuilder:validation:XValidation:rule="!has(self.spec.sourceAddress) || !isIP(self.spec.sourceAddress) || !isIP(self.spec.address) || ip(self.spec.sourceAddress).family() == ip(self.spec.address).family()",message="spec.sourceAddress must be of the same family as spec.address",fieldPath=".spec.sourceAddress"
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.address`
// +kubebuilder:printcolumn:name="ASN",type=integer,JSONPath=`.spec.asn`
// +kubebuilder:printcolumn:name="Local ASN",type=integer,JSONPath=`.spec.localASN`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeers.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}
