# Loyalty Operator build. `make help` lists the targets.

# The image of the manager and the points engine: set it to a registry you
# can push to, such as IMG=registry.example.com/loyalty-operator:v1.
IMG ?= ghcr.io/loyaltyops/loyalty-operator:dev
CONTAINER_TOOL ?= docker
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo "$$(hack/envtest-assets.sh --kubectl)/kubectl")
# make test adds -race when cgo is available (hack/race-flag.sh).
GO_TEST_FLAGS ?= -count=1

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Main job

.PHONY: demo
demo: ## Run the whole system locally: control plane, operator, sample program, engine, traffic (KEEP=1 keeps its working directory).
	@LOCALBIN="$(LOCALBIN)" KEEP="$(KEEP)" hack/demo.sh

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and controller markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint with .golangci.yml (errcheck, staticcheck, revive, ...).
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests lint ## Fail when generated files, formatting or go.mod are stale, or make lint finds anything.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed on:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@go mod tidy -diff >/dev/null || { echo "go.mod or go.sum is not tidy: run 'go mod tidy' and commit"; exit 1; }
	@git diff --exit-code -- api config || { echo "files under api/ or config/ differ from the last commit (above): commit them if 'make generate manifests' just wrote them, or undo the local edit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- api config)" || { echo "generated files are not committed:"; git status --porcelain -- api config; exit 1; }

.PHONY: test
test: vet ## Run every test: unit, envtest (real API server) and store conformance; with the race detector when gcc is there.
	@assets="$$(hack/envtest-assets.sh)"; race="$$(hack/race-flag.sh)"; \
	KUBEBUILDER_ASSETS="$$assets" go test $$race $(GO_TEST_FLAGS) ./...

.PHONY: e2e
e2e: $(KUSTOMIZE) ## Run the end-to-end scenarios on a single-node cluster built and started on this machine (root, Linux; E2E_KEEP=1 leaves it up).
	@LOCALBIN="$(LOCALBIN)" KUSTOMIZE="$(KUSTOMIZE)" E2E_KEEP="$(E2E_KEEP)" GINKGO_ARGS="$(GINKGO_ARGS)" hack/e2e/run.sh

##@ Build

.PHONY: build
build: ## Build the manager binary.
	CGO_ENABLED=0 go build -o $(LOCALBIN)/manager ./cmd/manager

.PHONY: run
run: manifests generate ## Run the operator against the current kubeconfig.
	go run ./cmd/manager

.PHONY: docker-build
docker-build: ## Build the image IMG (manager and points engine) with CONTAINER_TOOL (docker; podman works too).
	$(CONTAINER_TOOL) build --build-arg IMG=$(IMG) -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image IMG to its registry.
	$(CONTAINER_TOOL) push $(IMG)

##@ Benchmarks

FLOOR_COUNT ?= 3

# BASELINE=<git rev> makes bench-engine compare that revision's engine (A)
# with the working tree's (B) side by side, ROUNDS rounds of both.
BASELINE ?=
ROUNDS ?= 2

.PHONY: bench-engine
bench-engine: ## Measure the points engine's max sustained rate and half-load latency on SQLite and PostgreSQL (BENCH_FLAGS=--json, --campaigns N, ...); BASELINE=<git rev> compares that revision with the working tree side by side (ROUNDS=2); BENCH_FLAGS=--sink slow|failing compares the engine with and without a webhook sink.
	CGO_ENABLED=0 go build -o $(LOCALBIN)/points-engine ./cmd/points-engine
	go build -o $(LOCALBIN)/bench-engine ./hack/bench-engine
ifeq ($(BASELINE),)
	$(LOCALBIN)/bench-engine --engine $(LOCALBIN)/points-engine $(BENCH_FLAGS)
else
	hack/bench-engine/build-baseline.sh "$(BASELINE)" $(LOCALBIN)/points-engine-baseline
	go test -c -o $(LOCALBIN)/sqlite-floor.test ./engine/store/sqlite
	$(LOCALBIN)/bench-engine --baseline $(LOCALBIN)/points-engine-baseline --baseline-name "$(BASELINE)" \
		--engine $(LOCALBIN)/points-engine --engine-name "$$(git describe --always --dirty)" \
		--rounds $(ROUNDS) --floor-bin $(LOCALBIN)/sqlite-floor.test $(BENCH_FLAGS)
endif

# CHAOS_COUNT is how many purchases chaos-ingest publishes.
CHAOS_COUNT ?= 100000

.PHONY: chaos-ingest
chaos-ingest: ## Publish CHAOS_COUNT purchases (100,000) to a JetStream stream, kill -9 the ingesting engine twice midway and check each was applied once (TEST_NATS_URL; make test runs 2,000); then a webhook receiver down for two minutes gets its backlog in order.
	LOYALTY_CHAOS=1 go test ./cmd/points-engine/ -run '^(TestIngestSurvivesKills|TestEventsAfterReceiverOutage)$$' -count=1 -v -timeout 90m -args -ingest-count=$(CHAOS_COUNT)

.PHONY: bench-wal
bench-wal: ## Measure the SQLite write-ahead log under 16 clients sending single earns flat out for 60 s: its peak, and its size once the load stops (BENCH_FLAGS=--volume-mib 256 puts it on a tmpfs, as root).
	go build -o $(LOCALBIN)/points-engine ./cmd/points-engine
	go build -o $(LOCALBIN)/bench-engine ./hack/bench-engine
	$(LOCALBIN)/bench-engine --engine $(LOCALBIN)/points-engine --wal-soak 60s --clients 16 $(BENCH_FLAGS)

.PHONY: bench-floor
bench-floor: ## Measure the fewest rows an earn can write, with no engine around them, on SQLite and PostgreSQL: a floor under bench-engine (FLOOR_COUNT=3).
	go test -p 1 -run '^$$' -bench StorageFloor -benchtime 100000x -count $(FLOOR_COUNT) ./engine/store/sqlite ./engine/store/postgres

.PHONY: bench-operator
bench-operator: ## Measure the operator at scale on a real API server: 100 programs, ~1,500 objects (BENCH_FLAGS=...).
	@assets="$$(hack/envtest-assets.sh)"; \
	CGO_ENABLED=0 go build -o $(LOCALBIN)/points-engine ./cmd/points-engine && \
	go build -o $(LOCALBIN)/bench-operator ./hack/bench-operator && \
	KUBEBUILDER_ASSETS="$$assets" $(LOCALBIN)/bench-operator --engine $(LOCALBIN)/points-engine $(BENCH_FLAGS)

##@ Fuzzing

FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s); seed corpora run in make test.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

##@ Deployment

.PHONY: install
install: manifests $(KUSTOMIZE) ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests $(KUSTOMIZE) ## Remove the CRDs (and every object of their kinds) from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy-manifests
deploy-manifests: $(KUSTOMIZE) ## Print what deploy applies: config/default with the image IMG.
	@hack/deploy-manifests.sh "$(KUSTOMIZE)" "$(IMG)"

.PHONY: deploy
deploy: manifests $(KUSTOMIZE) ## Deploy the operator with config/default and the image IMG.
	hack/deploy-manifests.sh "$(KUSTOMIZE)" "$(IMG)" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove the operator deployed with config/default.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

# Tools, installed into $(LOCALBIN) on first use.

$(CONTROLLER_GEN):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(KUSTOMIZE):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $(KUSTOMIZE)

$(GOLANGCI_LINT):
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)
