# swemill's tasks; `make help` lists them. `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X swemill/pipeline.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 75m
# Where debootstrap output, bare clones and image use stamps are kept between runs.
export SWEMILL_CACHE ?= $(HOME)/.cache/swemill

.PHONY: help deps build base test lint bench bench-scale demo fidelity

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

deps: ## install what tests and the demo need from Debian's packages (debootstrap, postgresql, chromium, docker-registry)
	@need=""; \
	command -v debootstrap >/dev/null || need="$$need debootstrap"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v docker-registry >/dev/null || need="$$need docker-registry"; \
	if [ -n "$$need" ]; then \
		echo "installing$$need"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	fi

build: ## build bin/swemill
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/swemill ./cmd/swemill

base: deps build ## bootstrap the base images from Debian's packages (cached: seconds; cold: a few minutes)
	bin/swemill base build

test: deps base ## run every test with the race detector (Docker and PostgreSQL ones included)
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

demo: base ## mill the bundled offline snapshot into a dataset in demo-out/ (run again: reuses everything)
	bin/swemill run --dir demo-run --config testdata/demo.yaml
	bin/swemill report --dir demo-run --out demo-run/report.html
	@echo
	@echo "dataset:  demo-out/ (Parquet shards, README.md card, manifest.json)"
	@echo "report:   demo-run/report.html"
	@echo "the run:  bin/swemill status --dir demo-run; bin/swemill ls --dir demo-run; bin/swemill show --dir demo-run demo__textkit-8"

lint: ## go vet and staticcheck
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench: ## run the benchmarks; print the figures and write bench/results.json (SUITES=mine: those suites only)
	$(GO) run ./bench $(if $(SUITES),-suites $(SUITES))

bench-scale: deps ## simulate a Skywork-sized run (fake GitHub, stub stages, SQLite and PostgreSQL workers); write bench/results-scale.json (about 17 minutes)
	cd bench/scale && $(GO) test -run '^$$' -bench Scale -benchtime 1x -timeout 60m -args -scale.out ../results-scale.json

# The real-repository measurement (not part of `make test`): MIRRORS holds bare git mirrors,
# OWNER/NAME.git; FIDELITY_FLAGS adds e.g. -cases ID,ID -keep -parallel 2.
fidelity: build ## measure swemill on bench/fidelity/corpus.json: make fidelity MIRRORS=DIR
	@test -n "$(MIRRORS)" || { echo "usage: make fidelity MIRRORS=DIR (bare git mirrors, OWNER/NAME.git)" >&2; exit 2; }
	bin/swemill base build
	$(GO) run ./bench/fidelity -mirrors $(MIRRORS) -corpus bench/fidelity/corpus.json -swemill bin/swemill -work fidelity-run $(FIDELITY_FLAGS)
