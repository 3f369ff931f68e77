package plan

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// StripNode is an informer transform that keeps of a Node what the
// planning reads: name, labels, taints and addresses (status images and
// conditions are most of a Node and change often).
func StripNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	n.ManagedFields, n.Annotations = nil, nil
	n.Spec = corev1.NodeSpec{Taints: n.Spec.Taints}
	n.Status = corev1.NodeStatus{Addresses: n.Status.Addresses}
	return n, nil
}

// StripEndpointSlice is an informer transform that keeps of an
// EndpointSlice what the planning reads: the service-name label, the
// address type, and each endpoint's node and conditions.
func StripEndpointSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	s.ManagedFields, s.Annotations, s.OwnerReferences, s.Ports = nil, nil, nil, nil
	for i := range s.Endpoints {
		e := &s.Endpoints[i]
		*e = discoveryv1.Endpoint{NodeName: e.NodeName, Conditions: e.Conditions}
	}
	return s, nil
}
