# pullkey — make targets. `make demo` and `make test` are the two set-up
# commands; everything else is for development and releases.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
FUZZTIME ?= 4s

.PHONY: all build cross test unit kubelet deploy-test image release generate fuzz bench demo lint clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/pullkey ./cmd/pullkey

## test: everything CI runs — vet, unit and end-to-end tests, the
## kubelet-driven suite (its first build compiles ~1,400 kubelet packages:
## about 10 minutes on 2 cores, seconds afterwards), brief fuzzing.
test: build lint cross unit kubelet deploy-test fuzz

unit:
	PULLKEY_BIN=$(CURDIR)/bin/pullkey $(GO) test -count=1 ./...

## kubelet: pullkey through kubelet's own credential provider code
## (a separate Go module, so the product never depends on k8s.io/kubernetes).
kubelet: build
	cd test/kubelet && PULLKEY_BIN=$(CURDIR)/bin/pullkey $(GO) test -count=1 ./...

## cross: the release platforms other than this one still compile
## (kubelet on Windows runs credential providers too).
cross:
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/pullkey
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/pullkey

## deploy-test: the DaemonSet manifests (kustomize and Helm output decoded
## strictly into k8s.io/api types) and the OCI image build, each in its own
## module so the product never depends on Helm, kustomize or crane.
deploy-test: build
	PULLKEY_BIN=$(CURDIR)/bin/pullkey $(GO) -C deploy/manifests-test test -count=1 ./...
	PULLKEY_BIN=$(CURDIR)/bin/pullkey $(GO) -C deploy/image test -count=1 ./...

## image: multi-arch (linux/amd64, linux/arm64) OCI image layout in
## out/image, built with Go alone (no Docker engine, no base image).
image:
	$(GO) -C deploy/image run . -version $(VERSION) -commit $(COMMIT)

## release: static binaries for linux/amd64, linux/arm64, windows/amd64
## with SHA256SUMS, in dist/.
release:
	VERSION=$(VERSION) COMMIT=$(COMMIT) GO=$(GO) deploy/release.sh

## generate: rewrite the shipped kubelet configs from the providers'
## patterns (a test fails when they drift).
generate:
	$(GO) run ./deploy/gen

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseImage$$' -fuzztime=$(FUZZTIME) ./providers
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeRequest$$' -fuzztime=$(FUZZTIME) ./cmd/pullkey
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEntry$$' -fuzztime=$(FUZZTIME) ./cache
	$(GO) test -run='^$$' -fuzz='^FuzzParseECRHost$$' -fuzztime=$(FUZZTIME) ./providers/ecr
	$(GO) test -run='^$$' -fuzz='^FuzzGHCRMatch$$' -fuzztime=$(FUZZTIME) ./providers/ghcr
	$(GO) test -run='^$$' -fuzz='^FuzzParseACRHost$$' -fuzztime=$(FUZZTIME) ./providers/acr
	$(GO) test -run='^$$' -fuzz='^FuzzTokenExpiry$$' -fuzztime=$(FUZZTIME) ./providers/acr

## bench: benchmarks (reports; never fails on a slow machine).
bench: build
	$(GO) run ./test/bench/report --bin $(CURDIR)/bin/pullkey --out $(CURDIR)/out/bench.txt
	PULLKEY_BIN=$(CURDIR)/bin/pullkey $(GO) test -run='^$$' -bench=. -benchtime=20x ./test/bench/ ./cache/

## demo: the real binary against local stand-ins of the clouds.
demo: build
	$(GO) run ./test/demo --bin $(CURDIR)/bin/pullkey

lint:
	@out=$$(gofmt -l cmd providers cache deploy test); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd test/kubelet && $(GO) vet ./...

clean:
	rm -rf bin dist out
