# vxbgp — build, test and lab targets. Run as root for test and demo
# (they create network namespaces).
SHELL    := /bin/bash
GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/vxbgp/vxbgp/control/agent.Version=$(VERSION)
# Unit and privileged package tests: everything but the multi-host lab.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e /e2e -e /bench)

.PHONY: all build test test-unit test-e2e demo demo-clean bench lint clean kubelab

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/... ./e2e/cmd/...

# The Kubernetes binaries the tests run (internal/kubelab): built once from
# the Go module proxy into /var/cache/vxbgp/k8s (~15 min cold), reused after.
# A failed build fails CI; elsewhere the tests that need them skip, saying why.
kubelab:
	$(GO) run ./internal/kubelab/cmd/kubelab-build kube-apiserver kube-controller-manager || [ "$$CI" != true ]

# All three layers: unit (with -race), privileged (netns, as root) and e2e.
test: build kubelab
	$(GO) test -race -count=1 -timeout 20m $(UNIT_PKGS)
	$(GO) test -count=1 -timeout 40m -v ./e2e/... ./bench/... 2>&1 | tee $(BIN)/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|TIMING|_test.go:' ; exit $${PIPESTATUS[0]}

# The quick loop: no lab.
test-unit: kubelab
	$(GO) test -race -count=1 -timeout 10m $(UNIT_PKGS)

test-e2e: build
	$(GO) test -count=1 -timeout 40m -v ./e2e/...

# A 3-host lab in network namespaces; KEEP=1 leaves it up; MODE=routed
# runs it in routed mode.
demo: build
	$(BIN)/vxbgp-lab demo $(if $(MODE),-mode $(MODE))

# Benchmarks next to same-run references (root, FRR 8.4, iperf3, go); QUICK=1
# for the short run, ONLY=bulk,gobench for some parts, BULK=1000,10000 for
# the bulk sizes. Results: bench/results/latest.{md,json}.
bench: build
	$(GO) build -o $(BIN)/ ./bench/cmd/vxbgp-bench
	$(BIN)/vxbgp-bench $(if $(QUICK),-quick) $(if $(ONLY),-only $(ONLY)) $(if $(BULK),-bulk $(BULK)) -bin $(BIN) -out bench/results

demo-clean: build
	$(BIN)/vxbgp-lab clean

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	staticcheck ./...

clean:
	rm -rf $(BIN)
