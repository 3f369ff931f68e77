//go:build tools

// Package tools pins the build and test tools of seamark. It is a separate
// module so that the control-plane binaries (kube-apiserver, etcd,
// kube-controller-manager), the lab's kube-proxy and the developer tools
// never leak into the dependency graph of seamark itself. Build a tool with
// `go build -o ../../bin/NAME PKG` from this directory; the Makefile does.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
	_ "go.etcd.io/etcd/server/v3"
	_ "helm.sh/helm/v3/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
