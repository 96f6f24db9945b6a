# invoice-edge: the two commands are `make dev` and `make test` (see README.md).
# Each first installs what is missing (scripts/setup.sh), and skips what is already there.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
export PATH := $(ROOT)/.tools/bin:$(HOME)/.cargo/bin:$(PATH)
# worker-build must not download its tools (docs/DEVELOPERS.md, "worker-build must not download").
export WASM_BINDGEN_BIN := $(HOME)/.cargo/bin/wasm-bindgen
export WASM_OPT_BIN := $(ROOT)/node_modules/.bin/wasm-opt
export ESBUILD_BIN := $(ROOT)/node_modules/.bin/esbuild
export WRANGLER_SEND_METRICS := false
# Miniflare would fetch a Request.cf sample from the internet at each start; there is none here.
export CLOUDFLARE_CF_FETCH_ENABLED := false
export CARGO_TERM_COLOR := never

WORKER_SOURCES := $(shell find src crates/core/src -name '*.rs' 2>/dev/null) $(wildcard www/templates/*.html) Cargo.toml Cargo.lock crates/core/Cargo.toml
BROWSER_SOURCES := $(shell find crates/browser/src crates/core/src -name '*.rs' 2>/dev/null) Cargo.toml Cargo.lock crates/core/Cargo.toml crates/browser/Cargo.toml

.PHONY: help setup dev test lint unit worker worker-test worker-size browser binaries integration bench bench-native bench-wasm bench-edge bench-origin bench-origin-pg drill-long drill-failover origin-pg schemathesis fuzz-setup fuzz-short fuzz clean

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

## The tests' build of the worker: the same code with the `test-hooks` feature (the series'
## clock shift and a skipped inv: write, for the offline-limit and KV-failure tests), into
## build-test/. Never deployed: `make dev` and `wrangler deploy` use build/.
build-test/index_bg.wasm: $(WORKER_SOURCES)
	WORKER_BUILD_OPT=0 WORKER_BUILD_OUT=build-test scripts/build-worker.sh --features test-hooks

worker-test: setup build-test/index_bg.wasm

## The deployable worker within its budget (docs/DEVELOPERS.md, "size"): built exactly as
## `wrangler deploy` builds it (deploy profile, wasm-opt), into build-size/.
WORKER_SIZE_BUDGET := 450000
worker-size: setup
	WORKER_BUILD_OUT=build-size scripts/build-worker.sh
	@size=$$(gzip -9c build-size/index_bg.wasm | wc -c); \
	  echo "deployable worker: $$size bytes gzip -9 (budget $(WORKER_SIZE_BUDGET))"; \
	  test "$$size" -le $(WORKER_SIZE_BUDGET) || { echo "the deployable worker is over its size budget"; exit 1; }

## The browser module (crates/browser) for the widget and /v/{id}: wasm-bindgen --target web
## into www/pkg/ (gitignored), wasm-opt -Oz for size (README, "Embed the widget").
www/pkg/invoice_edge_browser_bg.wasm: $(BROWSER_SOURCES) scripts/build-browser.sh
	scripts/build-browser.sh

browser: setup www/pkg/invoice_edge_browser_bg.wasm

## The native binaries: the CLI (keys, merchants, tokens) and the origin ledger.
binaries: setup
	cargo build -p invoice-edge-cli -p invoice-edge-origin

dev: setup build/index_bg.wasm www/pkg/invoice_edge_browser_bg.wasm binaries
	scripts/dev.sh

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	# The worker as wasm, with the benchmark's floor route (`bench` feature), which no other
	# target compiles: make bench-edge builds it.
	cargo clippy -p invoice-edge-worker --target wasm32-unknown-unknown --features bench -- -D warnings

unit: setup
	cargo test --workspace

integration: worker-test browser binaries
	node --test --test-concurrency=1 tests/*.test.mjs

test: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory worker-size
	$(MAKE) --no-print-directory worker-test
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory schemathesis
	$(MAKE) --no-print-directory fuzz-short

## Security proofs (docs/SECURITY.md): schemathesis against the running worker (fixed seed,
## bounded examples), and each cargo-fuzz target briefly (about 60 s in all). `make fuzz`
## runs each for FUZZ_SECONDS (default 600), by hand. cargo-fuzz is installed only here.
schemathesis: worker-test binaries
	scripts/schemathesis.sh

fuzz-setup:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --version 0.13.2 --locked

fuzz-short: fuzz-setup
	scripts/fuzz.sh 15

fuzz: fuzz-setup
	scripts/fuzz.sh $${FUZZ_SECONDS:-600}

## Benchmarks (docs/PERFORMANCE.md), all in benches/: not part of `make test`, which asserts no
## timings. `make bench` runs every one of them in turn (about 45 minutes on 2 cores, most of it
## bench-edge's drain; BENCH_DRAIN=0 skips that).
bench: setup
	$(MAKE) --no-print-directory bench-native
	$(MAKE) --no-print-directory bench-wasm
	$(MAKE) --no-print-directory bench-origin
	$(MAKE) --no-print-directory bench-edge

## The core's issue path natively (criterion): benches/issue_path.rs.
bench-native: setup
	cargo bench -p invoice-edge-core --bench issue_path

## The issue path in wasm under Node 24, release against deploy profile, beside the JS peer.
bench-wasm: setup
	scripts/bench-wasm.sh

## The long outage drill (docs/RESILIENCE.md): N = 20,000 with every fault kind repeated, run by
## hand (about 40 min on 2 cores; bounded by its own deadlines). DRILL_SEED=… replays a schedule.
## The short drill runs in `make test` (tests/drill.test.mjs).
drill-long: worker-test binaries
	timeout 4200 node tests/chaos/drill.mjs --profile long $${DRILL_SEED:+--seed $$DRILL_SEED}

## The origin ledger on PostgreSQL (issue 17): the ledger suite on a server it starts, and the
## failover drill's short form. Both are tests/*.test.mjs files, so `make integration` (and so
## `make test`) runs them; this target runs only them.
origin-pg: worker-test binaries
	cargo test -p invoice-edge-origin --test ledger --no-run
	node --test --test-concurrency=1 tests/origin-pg.test.mjs tests/origin-failover.test.mjs tests/origin-multi-edge.test.mjs

## The failover drill's long form, by hand (docs/ORIGIN.md, "Failover drill"): 10,000 documents
## in 4 series; DRILL_PER_SERIES=… changes the load.
drill-failover: setup binaries
	DRILL_PER_SERIES=$${DRILL_PER_SERIES:-2500} timeout 3600 node --test --test-concurrency=1 tests/origin-failover.test.mjs

## The origin ledger's ingest and single-PUT latency (bounded load on 127.0.0.1): benches/origin_load.rs.
bench-origin: setup
	cargo bench -p invoice-edge-origin --bench origin_load

## The same on PostgreSQL: a single server, then a primary with a synchronous standby, started
## here (fsync on); arguments after BENCH_ARGS=… go to the bench.
bench-origin-pg: setup
	node tests/support/pg-bench.mjs $${BENCH_ARGS:-}

## The edge under wrangler dev with wrk (issuance origin down/up, storage floor, drain), beside
## the JS peer: scripts/bench-edge.sh with benches/issue.lua and benches/drain.mjs.
bench-edge: setup
	scripts/bench-edge.sh

clean:
	rm -rf build build-test target/test-artifacts
