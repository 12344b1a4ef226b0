#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run): services, rustfmt, clippy, cargo test,
# then a bounded Schemathesis run against a fresh daemon (scripts/api_fuzz.sh, 60 s, fixed seed).
# Integration tests create their own databases from FLEETD_TEST_DATABASE_URL and start their own
# Mosquitto processes (the `mosquitto` binary must be on PATH). Exits non-zero on any failure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

# /usr/sbin holds mosquitto and is not always on a non-root PATH; cargo may live in ~/.cargo/bin.
PATH="/usr/sbin:/sbin:$PATH"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-${HOME:-}/.cargo}/bin/cargo" ]; then
  PATH="${CARGO_HOME:-${HOME:-}/.cargo}/bin:$PATH"
fi
export PATH

export RUST_BACKTRACE=1
FMT_ARGS=()
if [ -n "${CI:-}" ]; then
  export CARGO_TERM_COLOR=never
  FMT_ARGS=(-- --color never)      # rustfmt prints its diff in colour unless told otherwise
fi
export FLEETD_TEST_DATABASE_URL="${FLEETD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export FLEETD_TEST_REDIS_URL="${FLEETD_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

STEP=0
STEPS=5
SUITE_START=$SECONDS

banner() {
  STEP=$((STEP + 1))
  printf '\n==> [%d/%d] %s\n' "$STEP" "$STEPS" "$1"
}

# run_step TITLE COMMAND...: prints a banner, runs COMMAND, stops the suite if it fails.
run_step() {
  local title=$1 start=$SECONDS rc=0
  shift
  banner "$title"
  printf '    $ %s\n' "$*"
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '\n==> FAILED: %s (exit %d after %ds)\n' "$title" "$rc" "$((SECONDS - start))" >&2
    exit "$rc"
  fi
  printf '==> ok: %s (%ds)\n' "$title" "$((SECONDS - start))"
}

# The fmt and clippy steps need these rustup components; say so plainly instead of failing oddly.
check_components() {
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing Rust components: ${missing[*]}; install them with: rustup component add ${missing[*]}" >&2
    return 1
  fi
}

# The suite must not depend on a developer's fleetd settings: drop FLEETD_* variables other than
# FLEETD_TEST_* (the only ones the tests read) before cargo runs.
clean_fleetd_env() {
  local name dropped=()
  while IFS= read -r name; do
    case "$name" in
      FLEETD_TEST_*) ;;
      FLEETD_*) unset "$name"; dropped+=("$name") ;;
    esac
  done < <(compgen -e)
  if [ "${#dropped[@]}" -gt 0 ]; then
    echo "(ignoring ${dropped[*]} for the test run)"
  fi
}

echo "fleetd test suite in $REPO"
run_step "services (PostgreSQL + PostGIS, Redis, Mosquitto, nats-server, Chromium)" bash scripts/services.sh
clean_fleetd_env
check_components
run_step "format check" cargo fmt --all --check "${FMT_ARGS[@]}"
run_step "lint" cargo clippy --workspace --all-targets -- -D warnings
echo "    FLEETD_TEST_DATABASE_URL=$FLEETD_TEST_DATABASE_URL"
echo "    FLEETD_TEST_REDIS_URL=$FLEETD_TEST_REDIS_URL"
echo "    mosquitto: $(command -v mosquitto || echo 'NOT FOUND')"
run_step "tests" cargo test --workspace
# The API against its own OpenAPI document: a fresh daemon and database, --checks all, the
# stateful phase on, 60 s with a fixed seed so a failure reproduces (api_fuzz.sh drops every
# FLEETD_* variable before it configures its own daemon). One worker: with two, Hypothesis
# parses lambdas' source from two threads at once, which Debian 12's Python 3.11 can fail with
# "SystemError: AST constructor recursion depth mismatch" (a run failed on that tool error,
# not on fleetd); one worker also makes the fixed seed reproduce exactly.
run_step "api fuzz (schemathesis, 60 s)" \
  env FLEETD_FUZZ_SECONDS=60 FLEETD_FUZZ_WORKERS=1 FLEETD_FUZZ_SEED="${FLEETD_TEST_FUZZ_SEED:-20261206}" \
  FLEETD_FUZZ_BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/fleetd" bash scripts/api_fuzz.sh

printf '\n==> all %d steps passed in %ds\n' "$STEPS" "$((SECONDS - SUITE_START))"
