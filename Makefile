# SecureSite. `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
export KUBEBUILDER_ASSETS := $(BIN)
# bin/ first: tests and the demo use the test world's kubectl, the same version as its API server.
export PATH := $(BIN):$(PATH)
export GOTOOLCHAIN := local
GO_TEST_FLAGS ?= -count=1 -timeout 45m
PKGS ?= ./...

# Stamped into both binaries (--version, securesite_build_info), the image labels and the chart.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/securesite-io/securesite/internal/version
LDFLAGS := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ The two commands

.PHONY: demo
demo: test-world build ## Start the test world, run the controller, apply a sample, print its status.
	hack/demo.sh

# The packages that talk to AWS (every test package that starts an emulator, test/bench aside:
# its benchmarks skip in `make test`, and `make bench-idle` runs on both): `make test` runs them a
# second time on moto. With PKGS set, the moto run takes the same packages.
AWS_PKGS := ./internal/records/... ./internal/cdn/... ./internal/acmimport/... ./internal/s3bucket/... \
	./internal/smexport/... ./internal/acme/... ./internal/testworld/... ./controllers/... \
	./cmd/securesite-agent/... ./test/e2e/... ./test/badinput/... ./test/faults/... ./test/shard/...
MOTO_PKGS ?= $(if $(filter ./...,$(PKGS)),$(AWS_PKGS),$(PKGS))
# REQUIRE_MOTO=1 (CI) fails instead of running kumo only when moto_server is missing.
REQUIRE_MOTO ?=

.PHONY: test
test: test-world verify-generated lint ## Build the test world if missing, lint, run every test (unit, envtest, e2e) on kumo and the AWS-facing ones again on moto, check nothing of the world is left running.
	@if [[ -n "$(REQUIRE_MOTO)" ]] && ! command -v moto_server >/dev/null; then \
		echo "ERROR: moto_server is not on PATH and REQUIRE_MOTO is set: pip install 'moto[server]'"; exit 1; fi
	@run=$$(date +%s%N)-$$$$; status=0; \
	echo "=== AWS emulator: kumo"; \
	SECURESITE_TEST_RUN=$$run SECURESITE_AWS_EMULATOR=kumo go test $(GO_TEST_FLAGS) $(PKGS) || status=$$?; \
	if command -v moto_server >/dev/null; then \
		echo "=== AWS emulator: moto"; \
		SECURESITE_TEST_RUN=$$run SECURESITE_AWS_EMULATOR=moto go test $(GO_TEST_FLAGS) $(MOTO_PKGS) || status=$$?; \
	fi; \
	hack/check-world-stopped.sh $$run || status=1; \
	if ! command -v moto_server >/dev/null; then \
		echo; \
		echo "WARNING: moto_server is not on PATH: the AWS-facing tests ran on kumo ONLY, not on moto."; \
		echo "WARNING: kumo is lax where AWS is strict; install moto with: pip install 'moto[server]'"; \
	fi; \
	exit $$status

##@ Development

.PHONY: test-world
test-world: ## Build kube-apiserver, etcd, kumo, pebble, controller-gen into bin/ (cached per version; ~18 min cold).
	hack/build-world.sh

.PHONY: manifests
manifests: ## Generate the CRD and RBAC from the Go markers (config/ and the Helm chart's copies).
	$(CONTROLLER_GEN) rbac:roleName=securesite-manager crd paths="./api/...;./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	rm -f charts/securesite/crds/*.yaml
	cp config/crd/bases/*.yaml charts/securesite/crds/
	cp config/rbac/role.yaml charts/securesite/files/manager-role.yaml

.PHONY: generate
generate: ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: verify-generated
verify-generated: test-world ## Fail when the generated CRD, RBAC or deepcopy differ from what is committed.
	hack/verify-generated.sh

.PHONY: fmt
fmt: ## gofmt the tree.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet and a gofmt check.
	go vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: lint
lint: vet ## go vet, gofmt and golangci-lint (built from the module proxy on first use).
	@$(BIN)/golangci-lint version 2>/dev/null | grep -q ' 2\.15\.0 ' || GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	$(BIN)/golangci-lint run ./...

.PHONY: build
build: ## Build the manager binary into bin/manager (version stamped).
	go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/manager .

.PHONY: image
image: ## OCI images of the manager and the agent, without Docker: bin/image/<name>/ (layout), <name>.oci.tar, <name>.spdx.json.
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || echo 0)} \
		go run ./hack/image -version $(VERSION) -revision $(REVISION) -out $(BIN)/image

.PHONY: test-e2e
test-e2e: test-world ## Only the end-to-end tests (real manager binary, kubectl).
	go test $(GO_TEST_FLAGS) ./test/e2e/...

.PHONY: world-up
world-up: test-world build ## Start the test world for kubectl use (writes .world/kubeconfig).
	hack/world.sh up

.PHONY: world-down
world-down: ## Stop the test world.
	hack/world.sh down

.PHONY: test-faults
test-faults: test-world ## Fault and crash tests at full size: 100 sites under 20% AWS faults, 100 kill -9s.
	SECURESITE_FAULTS_N=100 SECURESITE_CRASH_KILLS=100 go test $(GO_TEST_FLAGS) ./test/faults/...

.PHONY: bench
bench: test-world ## Benchmark 100 sites against the test world; writes docs/benchmarks.md (N=1000: see there).
	SECURESITE_BENCH_N=100 go test -count=1 -timeout 60m -run TestBenchmark -v ./test/bench/

.PHONY: bench-idle
bench-idle: test-world ## Idle steady state (no pokes) and drift repair, 1,000 sites, on kumo and on moto (real pagination); ~25 min.
	SECURESITE_IDLE_N=1000 SECURESITE_IDLE_AWS=kumo go test -count=1 -timeout 60m -run TestIdleSteadyState -v ./test/bench/
	SECURESITE_IDLE_N=1000 SECURESITE_IDLE_AWS=moto go test -count=1 -timeout 60m -run TestIdleSteadyState -v ./test/bench/

.PHONY: release-artifacts
release-artifacts: test-world ## dist/<VERSION>/: install.yaml (image pinned), the Helm chart package, the image tarballs and SBOMs, SHA256SUMS.
	hack/release.sh $(VERSION) $(REVISION)

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml from config/default.
	mkdir -p dist
	kubectl kustomize config/default > dist/install.yaml
