package v1alpha1

// CIDROrRange is a CIDR ("203.0.113.0/24", "2001:db8:1::/112") or an
// inclusive range of two addresses of one family
// ("203.0.113.10-203.0.113.20"), written in canonical form: lowercase,
// shortest IPv6 text, no host bits set in a CIDR.
//
// That the start of a range is not after its end is checked by package
// config: the Kubernetes CEL IP library has no ordering of addresses.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=79
// +kubebuilder:validation:XValidation:rule="self.contains('-') ? (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1])) : isCIDR(self)",messageExpression="'\"' + self + '\" is neither a CIDR (203.0.113.0/24, 2001:db8::/112) nor a range of two addresses (203.0.113.10-203.0.113.20)'"
// +kubebuilder:validation:XValidation:rule="!self.contains('-') || self.split('-').size() != 2 || !isIP(self.split('-')[0]) || !isIP(self.split('-')[1]) || ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family()",messageExpression="'range \"' + self + '\" mixes an IPv4 and an IPv6 address; both ends must be of one family'"
// +kubebuilder:validation:XValidation:rule="!self.contains('-') || self.split('-').size() != 2 || !isIP(self.split('-')[0]) || !isIP(self.split('-')[1]) || (ip.isCanonical(self.split('-')[0]) && ip.isCanonical(self.split('-')[1]))",messageExpression="'range \"' + self + '\" is not in canonical form: write IPv6 addresses in lowercase, shortest form (2001:db8::10-2001:db8::ff)'"
// +kubebuilder:validation:XValidation:rule="self.contains('-') || !isCIDR(self) || ip.isCanonical(self.split('/')[0])",messageExpression="'CIDR \"' + self + '\" is not in canonical form: write IPv6 in lowercase, shortest form (2001:db8::/64)'"
// +kubebuilder:validation:XValidation:rule="self.contains('-') || !isCIDR(self) || cidr(self) == cidr(self).masked()",messageExpression="'CIDR \"' + self + '\" has host bits set: write the network address of the block (203.0.113.0/24, not 203.0.113.1/24)'"
type CIDROrRange string

// IPAddress is a single IP address in canonical form ("203.0.113.10",
// "2001:db8::10").
//
// +kubebuilder:validation:MinLength=2
// +kubebuilder:validation:MaxLength=39
// +kubebuilder:validation:XValidation:rule="isIP(self)",messageExpression="'\"' + self + '\" is not an IP address'"
// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip.isCanonical(self)",messageExpression="'address \"' + self + '\" is not in canonical form: write IPv4 without leading zeros and IPv6 in lowercase, shortest form (2001:db8::10)'"
type IPAddress string

// ObjectName is the name of another cluster object (a DNS subdomain).
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type ObjectName string
