# seamark — development targets. `make help` lists them.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Versions of the control plane used by the tests and the lab. The tools are
# pinned in hack/tools/go.mod.
K8S_VERSION ?= 1.36.3

BIN        := $(CURDIR)/bin
TESTBIN    := $(BIN)/k8s/$(K8S_VERSION)
TOOLS_DIR  := $(CURDIR)/hack/tools
CRD_DIR    := charts/seamark/crds
# The chart installs and upgrades the CRDs from this copy (templates/crds.yaml;
# .helmignore hides crds/, which Helm would install but never upgrade).
CHART_CRD_DIR := charts/seamark/files/crds

CONTROLLER_GEN := $(BIN)/controller-gen
HELM           := $(BIN)/helm
GOLANGCI_LINT  := $(BIN)/golangci-lint

KUBE_APISERVER          := $(TESTBIN)/kube-apiserver
ETCD                    := $(TESTBIN)/etcd
KUBE_CONTROLLER_MANAGER := $(TESTBIN)/kube-controller-manager
KUBE_PROXY              := $(TESTBIN)/kube-proxy

# Integration tests carry the build tag "integration" and need the
# control-plane binaries; everything else is a unit test.
GO_TEST_FLAGS ?= -count=1
export SEAMARK_TESTBIN := $(TESTBIN)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build every package (and the binaries under cmd/ into bin/).
	go build ./...
	@if [ -d cmd ]; then for d in cmd/*/; do go build -o $(BIN)/$$(basename $$d) ./$$d; done; fi

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs into charts/seamark/crds (tests, kubectl) and the chart's copy.
	rm -f $(CRD_DIR)/*.yaml $(CHART_CRD_DIR)/*.yaml
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=$(CRD_DIR)
	mkdir -p $(CHART_CRD_DIR) && cp $(CRD_DIR)/*.yaml $(CHART_CRD_DIR)/

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet, unit and integration files alike.
	go vet -tags integration,e2e ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (config: .golangci.yaml).
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: manifests generate ## Check that generated files, formatting and go.mod are up to date.
	go mod tidy
	cd $(TOOLS_DIR) && go mod tidy
	@test -z "$$(gofmt -s -l $$(git ls-files '*.go'))" || { echo "Not gofmt'ed:"; gofmt -s -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code --stat -- . || { echo "Generated files or go.mod are out of date: run make manifests generate and go mod tidy, then commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api charts go.mod go.sum hack)" || { echo "Untracked generated files:"; git status --porcelain --untracked-files=all -- api charts go.mod go.sum hack; exit 1; }

##@ Test

.PHONY: unit
unit: ## Run the unit tests (pure packages, no control plane).
	go test $(GO_TEST_FLAGS) ./...

.PHONY: test
test: testbin ## Run unit and integration tests (real kube-apiserver + etcd from bin/k8s).
	go test $(GO_TEST_FLAGS) -tags integration ./...

.PHONY: bench
bench: testbin build lab-deps ## Run the benchmarks and print their figures (the controller's against the real apiserver, the lab's convergence; root, FRR).
	go test -run='^$$' -bench=. -benchmem ./allocator/ ./config/ ./speaker/...
	go test -tags integration -run='^$$' -bench='Grant2000Services|Backlog2000Services|StandbyTakeover' -benchtime=1x -timeout 20m -v ./controllers/ | grep -E 'Benchmark|Services from|backlogged|takeover|ok|FAIL'
	go test -tags e2e -run='^$$' -bench='Convergence|BFDFailover|Layer2Failover|StatusWrites|LoopBeforeKubeProxy' -benchtime=1x -timeout 60m -v ./e2e/

.PHONY: soak
soak: build testbin lab-deps ## One hour (SOAK_DURATION=10m to shorten) of Service and endpoint churn in the lab (root, FRR): prints RSS, goroutines and apiserver request rates of the controller and speakers at start/middle/end, duplicates, moved addresses and failed requests.
	SOAK_DURATION=$(or $(SOAK_DURATION),1h) go test -tags e2e -run='^$$' -bench=Soak -benchtime=1x -timeout 3h -v ./e2e/ | grep --line-buffered -vE '^(goos|goarch|pkg|cpu):'

.PHONY: soak-splitbrain
soak-splitbrain: testbin ## Repeat the controller's split-brain scenarios 20 times (SOAK_RUNS) under CPU contention; print duplicates / moved / unaddressed per run and in total.
	go test -tags integration -run='^$$' -bench=SplitBrainSoak -benchtime=1x -timeout 180m -v ./controllers/ -args -soak-runs=$(or $(SOAK_RUNS),20) | grep --line-buffered -E '^soak:|Benchmark|ok|FAIL'

.PHONY: stress-shutdown
stress-shutdown: ## Repeat speaker/bgp's shutdown tests 50 times with GOMAXPROCS=1 beside a CPU-burning process (the race of issue 16).
	@yes > /dev/null & busy=$$!; trap 'kill $$busy' EXIT; GOMAXPROCS=1 go test -count=50 -timeout 20m -run 'Shutdown' -v ./speaker/bgp/ | sed -E 's/ \([0-9.]+s\)$$//' | grep -E '^(--- |    --- |ok|FAIL)' | sort | uniq -c

##@ Release

# The release image: both binaries, static, for every platform, in one OCI
# image index built by hack/tools/imagebuild (go-containerregistry; no
# container engine). The same commit builds the same digest: timestamps
# come from the commit (SOURCE_DATE_EPOCH), paths are trimmed.
VERSION           ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION          ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE             ?= seamark:$(VERSION)
IMAGE_DIR         ?= $(BIN)/image
IMAGE_PLATFORMS   := linux/amd64 linux/arm64
IMAGE_LDFLAGS     := -s -w -X github.com/seamark-io/seamark/internal/version.Version=$(VERSION)
IMAGEBUILD        := cd $(TOOLS_DIR) && SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) go run ./imagebuild

.PHONY: image
image: ## Build the multi-arch image into bin/image: an OCI layout (oci/) and one docker-load tarball per platform.
	@for p in $(IMAGE_PLATFORMS); do for c in seamark-controller seamark-speaker; do \
		echo "go build $$c for $$p"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} go build -trimpath -buildvcs=false -ldflags "$(IMAGE_LDFLAGS)" \
			-o $(IMAGE_DIR)/bin/$${p%/*}_$${p#*/}/$$c ./cmd/$$c; \
	done; done
	$(IMAGEBUILD) build -bin $(IMAGE_DIR)/bin -layout $(IMAGE_DIR)/oci -tarballs $(IMAGE_DIR) \
		-image $(IMAGE) -version $(VERSION) -revision $(REVISION)

.PHONY: image-check
image-check: ## Test the image builder, build the image twice and check both: platforms, binaries, user, no shell, one digest.
	cd $(TOOLS_DIR) && go test $(GO_TEST_FLAGS) ./imagebuild/
	$(MAKE) --no-print-directory image
	$(MAKE) --no-print-directory image IMAGE_DIR=$(IMAGE_DIR)/rebuild
	digest=$$($(IMAGEBUILD) check -layout $(IMAGE_DIR)/oci | awk '$$1 == "index" {print $$2}'); \
	$(IMAGEBUILD) check -layout $(IMAGE_DIR)/rebuild/oci -digest "$$digest" && echo "reproducible: both builds are $$digest"

.PHONY: image-push
image-push: ## Push the image built by make image to IMAGE=registry/repository:tag (credentials: ~/.docker/config.json).
	@if [ "$(origin IMAGE)" = file ]; then echo "Say where to push: make image-push IMAGE=registry/repository:tag" >&2; exit 1; fi
	$(IMAGEBUILD) push -layout $(IMAGE_DIR)/oci -image $(IMAGE)

##@ Tools

.PHONY: testbin
testbin: $(KUBE_APISERVER) $(ETCD) $(KUBE_CONTROLLER_MANAGER) $(KUBE_PROXY) ## Build kube-apiserver, etcd, kube-controller-manager and kube-proxy (the lab's) into bin/k8s/<version> once.

$(KUBE_APISERVER):
	mkdir -p $(TESTBIN)
	cd $(TOOLS_DIR) && go build -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(KUBE_CONTROLLER_MANAGER):
	mkdir -p $(TESTBIN)
	cd $(TOOLS_DIR) && go build -o $@ k8s.io/kubernetes/cmd/kube-controller-manager

$(KUBE_PROXY):
	mkdir -p $(TESTBIN)
	cd $(TOOLS_DIR) && go build -o $@ k8s.io/kubernetes/cmd/kube-proxy

$(ETCD):
	mkdir -p $(TESTBIN)
	cd $(TOOLS_DIR) && go build -o $@ go.etcd.io/etcd/server/v3

.PHONY: tools
tools: $(CONTROLLER_GEN) $(HELM) $(GOLANGCI_LINT) ## Build controller-gen, helm and golangci-lint into bin/.

$(CONTROLLER_GEN): $(TOOLS_DIR)/go.mod
	cd $(TOOLS_DIR) && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

# Stamped like helm's own release build: its version, and the Kubernetes
# version it assumes without --kube-version (that of its client-go).
$(HELM): $(TOOLS_DIR)/go.mod
	cd $(TOOLS_DIR) && helm=$$(go list -m -f '{{.Version}}' helm.sh/helm/v3) && \
		kube=$$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2) && \
		go build -ldflags "-X helm.sh/helm/v3/internal/version.version=$$helm \
			-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$kube \
			-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$kube" \
			-o $@ helm.sh/helm/v3/cmd/helm

$(GOLANGCI_LINT): $(TOOLS_DIR)/go.mod
	cd $(TOOLS_DIR) && go build -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

##@ Lab

LAB := $(BIN)/seamark-lab

.PHONY: lab-deps
lab-deps: ## Check for root and install what the lab runs from Debian when missing: iproute2, curl, FRR, nftables, iptables, arping, ndisc6.
	@if [ "$$(id -u)" != 0 ]; then echo "The lab and the e2e suite need root (network namespaces): run as root." >&2; exit 1; fi
	@missing=""; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	{ command -v vtysh >/dev/null && [ -x /usr/lib/frr/bgpd ]; } || missing="$$missing frr"; \
	command -v nft >/dev/null || missing="$$missing nftables"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	command -v arping >/dev/null || missing="$$missing iputils-arping"; \
	command -v ndisc6 >/dev/null || missing="$$missing ndisc6"; \
	if [ -n "$$missing" ]; then \
		echo "Installing$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

.PHONY: lab
lab: build testbin lab-deps ## Start the lab (3 nodes, FRR router, seamark) and print where the demo Services go.
	$(LAB) up

.PHONY: lab-down
lab-down: ## Stop and remove everything the lab created (idempotent).
	@if [ -x $(LAB) ]; then $(LAB) down; else go run ./cmd/seamark-lab down; fi

# kube-proxy's mode in the lab's nodes: nftables, or iptables.
KUBE_PROXY_MODE ?= nftables
export SEAMARK_KUBE_PROXY_MODE := $(KUBE_PROXY_MODE)

.PHONY: e2e
e2e: build testbin lab-deps ## Run the end-to-end suite against the lab (root, FRR; KUBE_PROXY_MODE=iptables for kube-proxy's other mode).
	go test $(GO_TEST_FLAGS) -tags e2e -timeout 30m -v ./e2e/

