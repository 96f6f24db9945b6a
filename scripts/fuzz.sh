#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (docs/SECURITY.md, "Fuzzing"), each for SECONDS, one
# after the other, one process each, and prints one line per target: runs, corpus, result.
#
# Usage: scripts/fuzz.sh SECONDS [TARGET...]   (targets: request token document jcs)
#   `make test` runs `scripts/fuzz.sh 15` (about 60 s for the four); the long runs recorded in
#   docs/SECURITY.md were `scripts/fuzz.sh 600 <target>`, one target per shell.
# Needs the nightly toolchain and cargo-fuzz (`make fuzz-setup` installs cargo-fuzz).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request token document jcs)
logs="${FUZZ_LOGS:-$root/target/fuzz-logs}"
mkdir -p "$logs"
cd "$root/fuzz"
cargo +nightly fuzz build -O >/dev/null
status=0
for target in "${targets[@]}"; do
  corpus="$root/fuzz/corpus/$target"
  mkdir -p "$corpus"
  log="$logs/$target.log"
  # -rss_limit_mb bounds memory; -max_len covers a 64 KiB token and most bodies; timeouts are bugs.
  if nice -n 10 cargo +nightly fuzz run -O "$target" "$corpus" "$root/fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log and fuzz/artifacts/$target/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  echo "fuzz $target: ${runs:-?} executions in ${seconds} s, corpus $(ls "$corpus" | wc -l) inputs, $result"
done
exit $status
