// Package e2e is seamark's end-to-end suite (build tag e2e, `make e2e`): it
// starts the lab of package e2e/lab — real kube-apiserver, etcd and
// kube-controller-manager, kube-proxy, seamark-controller and a
// seamark-speaker per node in its own network namespace, backend pods as
// network namespaces of their own, an FRR router — and checks outcomes
// where an operator would: routes in the router's kernel and FRR's RIB, and
// the pods' answers (which pod, on which node, seeing which client address)
// to requests sent from the client namespace. e2e/README.md says what is
// real and what is stood in for.
package e2e
