# invoice-edge: the two commands are `make dev` and `make test` (see README.md).
# Each first installs what is missing (scripts/setup.sh), and skips what is already there.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/bin:$(HOME)/.cargo/bin:$(PATH)
# worker-build must not download its tools (../shared/TOOLCHAIN.md, "worker-build must not download").
export WASM_BINDGEN_BIN := $(HOME)/.cargo/bin/wasm-bindgen
export WASM_OPT_BIN := $(ROOT)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(ROOT)/node_modules/.bin/esbuild
export WRANGLER_SEND_METRICS := false
# Miniflare would fetch a Request.cf sample from the internet at each start; there is none here.
export CLOUDFLARE_CF_FETCH_ENABLED := false
export CARGO_TERM_COLOR := never

WORKER_SOURCES := $(shell find src crates/core/src -name '*.rs' 2>/dev/null) Cargo.toml Cargo.lock crates/core/Cargo.toml

.PHONY: help setup dev test lint unit worker binaries integration bench bench-wasm bench-edge clean

help:
	@echo "make dev    build and run the whole system locally (http://127.0.0.1:8787/)"
	@echo "make test   run every check and test"

## setup: install whatever is missing; a second run only checks versions.
setup:
	@scripts/setup.sh

## The worker: built once into build/, then run by wrangler dev or Miniflare.
## Tests and dev skip wasm-opt (about 5 s); `wrangler deploy` runs the optimized build.
build/index_bg.wasm: $(WORKER_SOURCES)
	WORKER_BUILD_OPT=0 scripts/build-worker.sh

worker: setup build/index_bg.wasm

## The native binaries: the CLI (keys, merchants, tokens) and the origin ledger.
binaries: setup
	cargo build -p invoice-edge-cli -p invoice-edge-origin

dev: setup build/index_bg.wasm binaries
	scripts/dev.sh

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

unit: setup
	cargo test --workspace

integration: worker binaries
	node --test --test-concurrency=1 tests/*.test.mjs

test: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory worker
	$(MAKE) --no-print-directory integration

## Benchmarks (docs/PERFORMANCE.md): not part of `make test`, which asserts no timings.
bench: setup
	cargo bench -p invoice-edge-core --bench issue_path
	$(MAKE) --no-print-directory bench-wasm

bench-wasm: setup
	scripts/bench-wasm.sh

## The edge under wrangler dev with wrk (issuance origin down/up, storage floor, drain).
bench-edge: setup
	scripts/bench-edge.sh

clean:
	rm -rf build target/test-artifacts
