// Package e2e is seamark's end-to-end suite (build tag e2e, `make e2e`): it
// starts the lab of package e2e/lab — real kube-apiserver, etcd and
// kube-controller-manager, seamark-controller, a seamark-speaker per node in
// its own network namespace, an FRR router — and checks outcomes where an
// operator would: routes in the router's kernel and FRR's RIB, and which
// node answers requests sent from the client namespace.
package e2e
