#!/usr/bin/env bash
# Run every cargo-fuzz target in fuzz/ for SECONDS each (default 30) and print how many
# inputs each ran. Any crash fails the run and leaves its input under fuzz/artifacts/.
#   bash scripts/fuzz.sh            # the CI smoke run
#   bash scripts/fuzz.sh 3600       # a long local run (numbers go in docs/reliability.md)
# Runs on stable Rust: `--sanitizer none` (AddressSanitizer needs nightly; the code under
# test forbids unsafe, so what is fuzzed is panics, overflows and the round-trip checks).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-30}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/tessera/fuzz-target}"
CORPUS_ROOT="${FUZZ_CORPUS_DIR:-$HOME/.cache/tessera/fuzz-corpus}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
cargo fuzz build --sanitizer none
total=0
for target in $(cargo fuzz list); do
  corpus="$CORPUS_ROOT/$target"
  mkdir -p "$corpus"
  log="$(mktemp)"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  if ! cargo fuzz run --sanitizer none "$target" "$corpus" "${seeds[@]}" -- \
      -max_total_time="$SECONDS_EACH" -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $target FAILED; the input is under fuzz/artifacts/$target" >&2
    exit 1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)"
  total=$((total + runs))
  printf '%-16s %12s inputs in %ss, 0 crashes\n' "$target" "$runs" "$SECONDS_EACH"
  rm -f "$log"
done
printf '%-16s %12s inputs\n' "all" "$total"
