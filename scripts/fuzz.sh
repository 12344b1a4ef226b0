#!/usr/bin/env bash
# Fuzzes the telemetry decoders with cargo-fuzz / libFuzzer (issue 13): the targets in
# fuzz/fuzz_targets/ (docs/telemetry.md#fuzzing-the-decoders), one after the other, each until
# FUZZ_RUNS executions or FUZZ_MAX_SECONDS, whichever comes first:
#
#   cargo +nightly fuzz run TARGET fuzz/corpus/TARGET -s address -- \
#       -runs=$FUZZ_RUNS -max_total_time=$FUZZ_MAX_SECONDS -max_len=$FUZZ_MAX_LEN ...
#
# with a dictionary for the decoders (fuzz/dicts/: field names and the numbers at the edges of
# the field rules, which libFuzzer cannot find on its own: it sees no float comparisons).
#
# Needs a nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz with
# `cargo install cargo-fuzz --locked` when `cargo +nightly fuzz` is missing. Not part of
# scripts/test.sh: 10 million executions of every target take about 50 minutes on 2 cores.
#
#   scripts/fuzz.sh                                  # every target, 10M executions each
#   scripts/fuzz.sh decode_json topic                # some targets
#   FUZZ_RUNS=200000 FUZZ_MAX_SECONDS=60 scripts/fuzz.sh   # a short run
#
# Environment:
#   FUZZ_RUNS         executions per target (default 10000000)
#   FUZZ_MAX_SECONDS  time ceiling per target, seconds (default 3600)
#   FUZZ_MAX_LEN      largest input libFuzzer makes, bytes (default 16384: room for a binary
#                     batch over 1,000 readings)
#   FUZZ_TIMEOUT      seconds one input may take before it counts as a hang (default 10)
#   FUZZ_SANITIZER    cargo fuzz -s: address (default), none (about twice as fast), ...
#   FUZZ_FRESH=1      start each scratch corpus over instead of growing the last run's
#   FUZZ_TOOLCHAIN    the nightly toolchain's name (default nightly)
#
# Each target starts from fuzz/corpus/TARGET (scratch, not committed), into which the committed
# seeds (fuzz/seeds/TARGET) and past crashes (fuzz/regressions/TARGET) are copied first.
# libFuzzer's output goes to fuzz/logs/TARGET.log. At the end a table gives the executions,
# seconds and executions per second of each target, from libFuzzer's final stats. Exits
# non-zero if any target crashed, panicked, hung or ran out of memory; the input that did it
# is in fuzz/artifacts/TARGET/ (replay it with `cargo +nightly fuzz run TARGET FILE`, shrink
# it with `cargo +nightly fuzz tmin TARGET FILE`). Keep a fixed one as a regression: copy it to
# fuzz/regressions/TARGET/ and add a unit test next to the decoder's (src/ingest/decode/tests/).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ_DIR="$REPO/fuzz"
cd "$FUZZ_DIR"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-${HOME:-}/.cargo}/bin/cargo" ]; then
  PATH="${CARGO_HOME:-${HOME:-}/.cargo}/bin:$PATH"
fi
export PATH

ALL_TARGETS=(decode_json decode_binary timestamp topic message)
RUNS="${FUZZ_RUNS:-10000000}"
MAX_SECONDS="${FUZZ_MAX_SECONDS:-3600}"
MAX_LEN="${FUZZ_MAX_LEN:-16384}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
SANITIZER="${FUZZ_SANITIZER:-address}"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"

for var in RUNS MAX_SECONDS MAX_LEN TIMEOUT; do
  case "${!var}" in '' | *[!0-9]* | 0) echo "FUZZ_$var must be a positive integer" >&2; exit 2 ;; esac
done
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi
for t in "${TARGETS[@]}"; do
  [ -f "fuzz_targets/$t.rs" ] || { echo "unknown target $t (have: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

say() { printf '[fuzz] %s\n' "$*"; }

if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
  echo "no $TOOLCHAIN toolchain: rustup toolchain install $TOOLCHAIN" >&2
  exit 2
fi
if ! cargo "+$TOOLCHAIN" fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

say "building ${TARGETS[*]} (sanitizer $SANITIZER)"
for t in "${TARGETS[@]}"; do
  cargo "+$TOOLCHAIN" fuzz build -s "$SANITIZER" "$t"
done

mkdir -p logs
declare -A EXECS SECS RATE STATUS
FAILED=0
for t in "${TARGETS[@]}"; do
  corpus="corpus/$t"
  [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
  mkdir -p "$corpus"
  for dir in "seeds/$t" "regressions/$t"; do
    if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then cp "$dir"/* "$corpus"/; fi
  done
  dict=()
  case "$t" in
    decode_json | message) dict=(-dict=dicts/json.dict) ;;
    decode_binary) dict=(-dict=dicts/binary.dict) ;;
  esac
  log="logs/$t.log"
  say "$t: up to $RUNS executions or ${MAX_SECONDS}s, log $FUZZ_DIR/$log"
  start=$SECONDS
  rc=0
  cargo "+$TOOLCHAIN" fuzz run -s "$SANITIZER" "$t" "$corpus" -- \
    -runs="$RUNS" -max_total_time="$MAX_SECONDS" -max_len="$MAX_LEN" -timeout="$TIMEOUT" \
    -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || rc=$?
  SECS[$t]=$((SECONDS - start))
  EXECS[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  RATE[$t]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    STATUS[$t]="FAILED (exit $rc)"
    FAILED=1
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
    say "$t: FAILED, input kept in $FUZZ_DIR/artifacts/$t/, full output in $FUZZ_DIR/$log" >&2
  elif [ "${EXECS[$t]:-0}" -lt "$RUNS" ]; then
    STATUS[$t]="ok, stopped by the ${MAX_SECONDS}s ceiling"
  else
    STATUS[$t]="ok"
  fi
  say "$t: ${STATUS[$t]}, ${EXECS[$t]:-?} executions in ${SECS[$t]}s"
done

printf '\n%-14s %12s %8s %8s  %s\n' target executions seconds exec/s status
for t in "${TARGETS[@]}"; do
  printf '%-14s %12s %8s %8s  %s\n' "$t" "${EXECS[$t]:-?}" "${SECS[$t]}" "${RATE[$t]:-?}" "${STATUS[$t]}"
done
exit "$FAILED"
