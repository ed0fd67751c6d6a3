# vxbgp — build, test and lab targets. Run as root for test and demo
# (they create network namespaces).
SHELL    := /bin/bash
GO       ?= go
BIN      ?= bin
# The release (VERSION file) names the image tag the manifests use; the
# binaries report it with the commit they were built from.
VERSION  := $(shell cat VERSION)
GITREV   ?= $(shell git describe --always --dirty 2>/dev/null || echo unknown)
IMAGE    ?= ghcr.io/vxbgp/vxbgp:$(VERSION)
LDFLAGS  := -X github.com/vxbgp/vxbgp/control/agent.Version=$(VERSION)+$(GITREV) -X github.com/vxbgp/vxbgp/internal/version.Version=$(VERSION)+$(GITREV)
# Unit and privileged package tests: everything but the multi-host lab.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e /e2e -e /bench -e /kubelab/cluster)

.PHONY: all build image test test-unit test-e2e test-k8s demo demo-clean demo-k8s demo-k8s-clean bench lint clean fuzz kubelab install uninstall

all: build

# Static binaries (CGO_ENABLED=0): vxbgp-cni is copied onto hosts of any
# distribution, and the image has no libc.
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/... ./e2e/cmd/...

# An OCI image-layout tarball FROM scratch (the three binaries and the
# conflist), built without a container engine: ctr images import or
# podman load it on the nodes.
image: build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./deploy/cmd/vxbgp-image
	$(BIN)/vxbgp-image -name $(IMAGE) -bin $(BIN) -conflist deploy/cni/10-vxbgp.conflist -o $(BIN)/vxbgp-image.tar

# Bare-metal install (as root, after make build; DESTDIR stages into a
# tree). Each binary is replaced by a rename, so a running agent, CLI or
# runtime never sees a half-written file. The example config is installed
# only where none exists: an operator's config is never overwritten. The
# conflist is not installed: the agent writes it once ready when
# cni.conflistDest is set. uninstall removes what install put and keeps
# the config and the state dir unless PURGE=1.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
CNIBINDIR  ?= /opt/cni/bin
UNITDIR    ?= /etc/systemd/system
CONFDIR    ?= /etc/vxbgp
STATEDIR   ?= /var/lib/vxbgp
EXAMPLE    ?= deploy/config/overlay.yaml
# systemd is running (sd_booted(3)) and the install is for this system.
SYSTEMD_UP  = [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]
install:
	@set -e; for f in $(BIN)/vxbgpd $(BIN)/vxbgpctl $(BIN)/vxbgp-cni; do [ -x $$f ] || { echo "$$f missing: run make build first" >&2; exit 1; }; done; \
	put() { install -D -m $$1 $$2 $$3.vxbgp-new && mv -f $$3.vxbgp-new $$3 && echo "installed $$3"; }; \
	put 0755 $(BIN)/vxbgpd $(DESTDIR)$(BINDIR)/vxbgpd; \
	put 0755 $(BIN)/vxbgpctl $(DESTDIR)$(BINDIR)/vxbgpctl; \
	put 0755 $(BIN)/vxbgp-cni $(DESTDIR)$(CNIBINDIR)/vxbgp-cni; \
	unit=$(DESTDIR)$(UNITDIR)/vxbgpd.service; install -d -m 0755 $(DESTDIR)$(UNITDIR); \
	sed 's|/usr/local/bin/vxbgpd|$(BINDIR)/vxbgpd|g; s|/etc/vxbgp/config.yaml|$(CONFDIR)/config.yaml|g' deploy/systemd/vxbgpd.service > $$unit.vxbgp-new; \
	chmod 0644 $$unit.vxbgp-new && mv -f $$unit.vxbgp-new $$unit && echo "installed $$unit"; \
	[ -d $(DESTDIR)$(CONFDIR) ] || install -d -m 0755 $(DESTDIR)$(CONFDIR); \
	if [ -e $(DESTDIR)$(CONFDIR)/config.yaml ]; then echo "kept $(DESTDIR)$(CONFDIR)/config.yaml (never overwritten)"; \
	else install -m 0600 $(EXAMPLE) $(DESTDIR)$(CONFDIR)/config.yaml && echo "installed $(DESTDIR)$(CONFDIR)/config.yaml from $(EXAMPLE): edit it, then vxbgpd --check"; fi; \
	if $(SYSTEMD_UP); then systemctl daemon-reload && echo "systemctl daemon-reload: done; start with systemctl enable --now vxbgpd"; fi

uninstall:
	@set -e; if $(SYSTEMD_UP) && { systemctl is-enabled --quiet vxbgpd.service 2>/dev/null || systemctl is-active --quiet vxbgpd.service; }; then \
		systemctl disable --now vxbgpd.service && echo "stopped and disabled vxbgpd.service (its kernel state stays: README, Cleaning the kernel)"; fi; \
	for f in $(DESTDIR)$(BINDIR)/vxbgpd $(DESTDIR)$(BINDIR)/vxbgpctl $(DESTDIR)$(CNIBINDIR)/vxbgp-cni $(DESTDIR)$(UNITDIR)/vxbgpd.service; do \
		if [ -e $$f ]; then rm -f $$f && echo "removed $$f"; fi; done; \
	wants=$(DESTDIR)$(UNITDIR)/multi-user.target.wants/vxbgpd.service; if [ -L $$wants ]; then rm -f $$wants && echo "removed $$wants"; fi; \
	if $(SYSTEMD_UP); then systemctl daemon-reload; fi; \
	if [ "$(PURGE)" = 1 ]; then rm -rf $(DESTDIR)$(CONFDIR) $(DESTDIR)$(STATEDIR) && echo "PURGE=1: removed $(DESTDIR)$(CONFDIR) and $(DESTDIR)$(STATEDIR)"; \
	else echo "kept $(DESTDIR)$(CONFDIR) and $(DESTDIR)$(STATEDIR) (the config, the endpoint store): PURGE=1 removes them"; fi; \
	echo "not removed: a conflist the agent wrote at cni.conflistDest, and the kernel state (README, Cleaning the kernel)"

# The Kubernetes binaries the tests run (internal/kubelab): built once from
# the Go module proxy into /var/cache/vxbgp/k8s (~15 min cold), reused after.
# A failed build fails CI; elsewhere the tests that need them skip, saying why.
kubelab:
	$(GO) run ./internal/kubelab/cmd/kubelab-build kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl || [ "$$CI" != true ]

# All layers: unit (with -race), privileged (netns, as root), e2e, and last
# the cluster lab (test-k8s); the lab packages (e2e, bench) one at a time
# (-p 1): two labs sharing the 2 cores would time each other.
test: build kubelab
	$(GO) test -race -count=1 -timeout 20m $(UNIT_PKGS)
	CGO_ENABLED=0 $(GO) test -p 1 -count=1 -timeout 40m -v ./e2e/... ./bench/... 2>&1 | tee $(BIN)/e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|TIMING|_test.go:' ; exit $${PIPESTATUS[0]}
	$(MAKE) --no-print-directory test-k8s

# The quick loop: no lab.
test-unit: kubelab
	$(GO) test -race -count=1 -timeout 10m $(UNIT_PKGS)

# The cluster lab (internal/kubelab/cluster, root): a control plane and two
# nodes with containerd and kubelet; pods on the bridge CNI, then on vxbgp;
# then the DaemonSet from deploy/kubernetes with make image's image; then
# workloads on 3 nodes (TestWorkloads: exec ping matrix, nodes come and go).
test-k8s: build kubelab
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m -v ./internal/kubelab/cluster/ 2>&1 | tee $(BIN)/k8s.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|TIMING|_test.go:' ; exit $${PIPESTATUS[0]}

test-e2e: build
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 40m -v ./e2e/...

# Native Go fuzzing, each target for FUZZTIME (default 1m). Their seed
# corpora (f.Add and testdata/fuzz/) run as plain tests in make test.
FUZZTIME ?= 1m
FUZZ_TARGETS = control/config:FuzzParse cni/plugin:FuzzParseConf control/localapi:FuzzDecodeEndpoint \
	control/evpn:FuzzDecode ipam:FuzzRecord ipam:FuzzNetworkInfo
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$pkg; done

# A 3-host lab in network namespaces; KEEP=1 leaves it up; MODE=routed
# runs it in routed mode.
demo: build
	$(BIN)/vxbgp-lab demo $(if $(MODE),-mode $(MODE))

# Benchmarks next to same-run references (root, FRR 8.4, iperf3, go); QUICK=1
# for the short run, ONLY=bulk,gobench for some parts, BULK=1000,10000 for
# the bulk sizes, FLEET=50 for the fleet part's hosts (ONLY=fleet; not in
# QUICK). Results: bench/results/latest.{md,json}. The k8s part (a full run,
# or ONLY=k8s) needs the Kubernetes binaries (kubelab) and the static pause
# binary.
BENCH_K8S = $(if $(findstring k8s,$(ONLY)),kubelab,$(if $(QUICK)$(ONLY),,kubelab))
bench: build $(BENCH_K8S)
	$(GO) build -o $(BIN)/ ./bench/cmd/vxbgp-bench
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./internal/kubelab/cmd/kubelab-pause
	$(BIN)/vxbgp-bench $(if $(QUICK),-quick) $(if $(ONLY),-only $(ONLY)) $(if $(BULK),-bulk $(BULK)) $(if $(FLEET),-fleet $(FLEET)) -bin $(BIN) -out bench/results

demo-clean: build
	$(BIN)/vxbgp-lab clean

# A 3-node Kubernetes cluster on the lab, vxbgp deployed by its manifests
# (make image's image, deploy/kubernetes), a Deployment of 9 pods and
# their ping matrix; KEEP=1 leaves it up (make demo-k8s-clean removes
# it). The Kubernetes binaries are built once into /var/cache/vxbgp/k8s.
demo-k8s:
	@echo "demo-k8s: building vxbgp's binaries and image (make image; about 30 s when Go's build cache is cold)"
	@$(MAKE) --no-print-directory image
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./internal/kubelab/cmd/kubelab-pause
	$(BIN)/vxbgp-lab demo-k8s -bin $(BIN)

demo-k8s-clean: build
	$(BIN)/vxbgp-lab demo-k8s-clean

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	staticcheck ./...

clean:
	rm -rf $(BIN)
