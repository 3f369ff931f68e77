package allocator

import (
	"fmt"
	"slices"
	"strconv"
)

// Values of Share.Policy, as in a Service's spec.externalTrafficPolicy.
const (
	PolicyCluster = "Cluster"
	PolicyLocal   = "Local"
)

// PortProto is one port of a Service: a protocol ("TCP", "UDP", "SCTP") and
// a port number.
type PortProto struct {
	Protocol string
	Port     int32
}

// String returns "TCP/80".
func (p PortProto) String() string { return p.Protocol + "/" + strconv.Itoa(int(p.Port)) }

// Share is what decides whether owners may share one address: the data of
// the rule rather than a callback, so that the rule is the same everywhere
// and tests can state it. Owners may share an address when
//   - they have the same non-empty Key,
//   - no protocol/port pair appears in both Ports,
//   - they have the same Policy, and
//   - with Policy "Local", the same Selector (traffic is delivered only to
//     nodes with local endpoints, so the endpoints must be the same).
//
// Callers pass normalized values: protocols in upper case, the default
// policy spelled out, the selector in one canonical text.
type Share struct {
	// Key is the seamark.io/sharing-key annotation; empty means not shared.
	Key string
	// Ports are the Service's protocol/port pairs.
	Ports []PortProto
	// Policy is the Service's externalTrafficPolicy.
	Policy string
	// Selector is the Service's selector in canonical text; compared only
	// when Policy is "Local".
	Selector string
}

// IsZero reports whether s holds nothing.
func (s Share) IsZero() bool {
	return s.Key == "" && len(s.Ports) == 0 && s.Policy == "" && s.Selector == ""
}

// clone copies s so that the caller may reuse its slice.
func (s Share) clone() Share {
	if len(s.Ports) == 0 {
		s.Ports = nil
	} else {
		s.Ports = slices.Clone(s.Ports)
	}
	return s
}

// ConflictWith returns why s may not share an address with other, held by
// owner, or "" if it may. The reason is a sentence fragment naming owner,
// e.g. "port TCP/80 already used by ns/a". Checks run in a fixed order (key,
// ports in the order of s.Ports, policy, selector) so the reason is
// deterministic.
func (s Share) ConflictWith(other Share, owner string) string {
	switch {
	case other.Key == "":
		return fmt.Sprintf("address is held by %s without a sharing key", owner)
	case s.Key == "":
		return fmt.Sprintf("address is shared under sharing key %q of %s, and no sharing key was given", other.Key, owner)
	case s.Key != other.Key:
		return fmt.Sprintf("sharing key %q differs from %q of %s", s.Key, other.Key, owner)
	}
	for _, p := range s.Ports {
		if slices.Contains(other.Ports, p) {
			return fmt.Sprintf("port %s already used by %s", p, owner)
		}
	}
	if s.Policy != other.Policy {
		return fmt.Sprintf("externalTrafficPolicy %s differs from %s of %s", s.Policy, other.Policy, owner)
	}
	if s.Policy == PolicyLocal && s.Selector != other.Selector {
		return fmt.Sprintf("selector %q differs from %q of %s, and policy Local needs the same endpoints", s.Selector, other.Selector, owner)
	}
	return ""
}
