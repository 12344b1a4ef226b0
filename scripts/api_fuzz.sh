#!/usr/bin/env bash
# Fuzzes the HTTP API with Schemathesis (issue 12): brings up the services, installs a pinned
# Schemathesis from PyPI into .run/fuzz-venv, builds fleetd (debug), creates a FRESH database
# with a random name and a private Mosquitto on a free port (anonymous clients refused, accounts
# in its dynamic-security plugin, set up with `fleetd broker setup`, so the tracker-credentials
# routes work), starts `fleetd serve` on a free port, logs in as the bootstrap admin, then runs
#
#   st run http://127.0.0.1:PORT/openapi.json -H "Authorization: Bearer $TOKEN" \
#      --phases examples,coverage,fuzzing,stateful --max-time $FLEETD_FUZZ_SECONDS
#
# with every check (each is on by default) except the per-operation exceptions of
# schemathesis.toml.
#
# Exits non-zero when Schemathesis reports any failure (a server error, 5xx, is one: the
# not_a_server_error check is one of them) or does not finish in time. On exit, however it
# ends, fleetd is stopped and the database dropped.
#
#   scripts/api_fuzz.sh                               # 300 s of fuzzing (issue 12's "done" bar)
#   FLEETD_FUZZ_SECONDS=60 FLEETD_FUZZ_SEED=12 scripts/api_fuzz.sh   # the test suite's run
#   scripts/api_fuzz.sh --include-path-regex '^/v1/rentals'          # arguments go to `st run`
#
# Environment (script settings, never passed to fleetd):
#   FLEETD_FUZZ_SECONDS  time budget of `st run --max-time` (default 300); the whole st run is
#                        also killed after FLEETD_FUZZ_SECONDS + 300 s as a hard bound
#   FLEETD_FUZZ_SEED     Schemathesis/Hypothesis seed (default: random; st prints the one used)
#   FLEETD_FUZZ_WORKERS  concurrent Schemathesis workers (default 2)
#   FLEETD_FUZZ_BIN      a fleetd binary to test instead of building one (`cargo build --bin
#                        fleetd`); scripts/test.sh passes the one `cargo test` built
# Before the run it creates fixture rows through the API as the admin (a pricing plan, a
# customer user and customer, a driver user and driver, a vehicle, a geofence;
# .run/fuzz/fixtures.json).
# scripts/api_fuzz_hooks.py edits valid-data cases only, for the rules a JSON Schema cannot
# express: a fresh Idempotency-Key each, time windows ordered and clamped, licence_expiry not
# past, returned_at now, odometer readings not below the known reading, VIN check digits,
# payment currency = the rental's, references to missing rows -> the fixtures, cursors the
# server did not issue dropped, /v1/stream jobs/bbox made consistent (see that file).
# Invalid-data cases are sent as generated.
# Output in .run/fuzz/: st-output.txt (Schemathesis' text output, with a curl command for each
# failure), junit.xml, fleetd.log, openapi.json (the document tested), fixtures.json and
# rejections.jsonl (every valid-data case answered 400/422, also those a first failure of the
# same operation hid from st-output.txt). Needs only what services.sh installs, plus python3
# with venv (installed with apt when missing) and PyPI.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-${HOME:-}/.cargo}/bin/cargo" ]; then
  PATH="${CARGO_HOME:-${HOME:-}/.cargo}/bin:$PATH"
fi
export PATH

SCHEMATHESIS_VERSION=4.32.5         # pinned: a new release brings new checks; bump it on purpose
RUN_DIR="$REPO/.run"
OUT_DIR="$RUN_DIR/fuzz"
VENV="$RUN_DIR/fuzz-venv"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
FLEETD_BIN="${FLEETD_FUZZ_BIN:-$TARGET_DIR/debug/fleetd}"
BUILD="${FLEETD_FUZZ_BIN:+no}"
LOG="$OUT_DIR/fleetd.log"
PG_URL_BASE="postgres://postgres@127.0.0.1:5432"
FUZZ_SECONDS="${FLEETD_FUZZ_SECONDS:-300}"
FUZZ_SEED="${FLEETD_FUZZ_SEED:-}"
FUZZ_WORKERS="${FLEETD_FUZZ_WORKERS:-2}"
HARD_BOUND_S=$((FUZZ_SECONDS + 300)) # examples + coverage + shrinking may overrun --max-time a bit
READY_TIMEOUT_S=120
STOP_TIMEOUT_S=35

case "$FUZZ_SECONDS" in '' | *[!0-9]* | 0) echo "FLEETD_FUZZ_SECONDS must be a positive integer" >&2; exit 2 ;; esac
case "$FUZZ_SEED" in *[!0-9]*) echo "FLEETD_FUZZ_SEED must be an integer" >&2; exit 2 ;; esac

RUN_ID="$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
DB_NAME="fleetd_fuzz_$RUN_ID"
FLEETD_PID=""
DB_CREATED=0

say() { printf '[fuzz] %s\n' "$*"; }
banner() { printf '\n==> %s\n' "$*"; }
psql_admin() { PGCONNECT_TIMEOUT=5 psql -X -q -v ON_ERROR_STOP=1 "$PG_URL_BASE/postgres" "$@"; }

# True while PID is a live process (a zombie counts as gone).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? deadline
  trap - EXIT INT TERM
  if [ -n "$FLEETD_PID" ] && alive "$FLEETD_PID"; then
    say "stopping fleetd (pid $FLEETD_PID)"
    kill -TERM "$FLEETD_PID" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT_S))
    while alive "$FLEETD_PID"; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        say "WARNING: fleetd did not exit within ${STOP_TIMEOUT_S}s; SIGKILL"
        kill -KILL "$FLEETD_PID" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    wait "$FLEETD_PID" 2>/dev/null || true
  fi
  if [ -n "${PB_PID:-}" ]; then
    kill -TERM "$PB_PID" 2>/dev/null || true
    wait "$PB_PID" 2>/dev/null || true
  fi
  if [ "$DB_CREATED" -eq 1 ]; then
    if psql_admin -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)"; then
      say "dropped database $DB_NAME"
    else
      say "WARNING: could not drop database $DB_NAME"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. services and Schemathesis ------------------------------------------------------------
banner "services"
bash scripts/services.sh

banner "schemathesis $SCHEMATHESIS_VERSION (${VENV#"$REPO"/})"
if [ -x "$VENV/bin/st" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ]; then
  say "already installed"
else
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    say "installing python3-venv with apt"
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    else
      sudo -n apt-get update -qq && sudo -n apt-get install -y -qq python3 python3-venv >/dev/null
    fi
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/st" --version

# ---- 2. build --------------------------------------------------------------------------------
if [ "$BUILD" = no ]; then
  # The test suite passes the binary `cargo test` just built: building again here would
  # resolve other dependency features and recompile a few dozen crates.
  [ -x "$FLEETD_BIN" ] || { echo "FLEETD_FUZZ_BIN=$FLEETD_BIN is not an executable" >&2; exit 2; }
  banner "using $FLEETD_BIN"
else
  banner "cargo build --bin fleetd"
  cargo build --bin fleetd
fi

# ---- 3. a fresh database and a daemon of its own ---------------------------------------------
# fleetd reads every FLEETD_* variable as configuration: drop the developer's (and this
# script's own settings) so the fuzz daemon is configured only by what follows.
while IFS= read -r name; do
  case "$name" in FLEETD_*) unset "$name" ;; esac
done < <(compgen -e)
unset RUST_LOG

# A fresh output directory: it also holds Schemathesis' crash cache (.schemathesis/), which
# would otherwise replay the last run's failures first and make runs depend on each other.
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
banner "database $DB_NAME"
psql_admin -c "CREATE DATABASE \"$DB_NAME\""
DB_CREATED=1

export FLEETD_DATABASE_URL="$PG_URL_BASE/$DB_NAME"
export FLEETD_REDIS_URL="redis://127.0.0.1:6379"
banner "a private broker (${OUT_DIR#"$REPO"/}/broker)"
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
private_broker "$OUT_DIR/broker"
export FLEETD_MQTT_URL="mqtt://127.0.0.1:$PB_PORT"
export FLEETD_MQTT_CLIENT_ID="fuzz-$RUN_ID"           # mqtt.client_id: at most 20 characters
export FLEETD_MQTT_USERNAME=fleetd
FLEETD_MQTT_PASSWORD="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export FLEETD_MQTT_PASSWORD
export FLEETD_BROKER_ADMIN_USERNAME="$PB_ADMIN_USER"
export FLEETD_BROKER_ADMIN_PASSWORD="$PB_ADMIN_PASSWORD"
export FLEETD_HTTP_ADDR="127.0.0.1:0"          # a free port, read back from the log
# The per-client rate limit (default 600/min, burst 60) would answer most of the fuzzer's
# requests with 429, and a 429 passes every check while testing nothing: raise it far above
# what Schemathesis can send. The limiter itself stays on.
export FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=6000000     # the largest value config validation allows
export FLEETD_HTTP_RATE_LIMIT_BURST=1000000
export FLEETD_SHUTDOWN_TIMEOUT_S=5
FLEETD_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
FLEETD_ADMIN_PASSWORD="fuzz-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export FLEETD_JWT_SECRET FLEETD_ADMIN_PASSWORD
export RUST_LOG=info

banner "fleetd migrate, fleetd broker setup"
"$FLEETD_BIN" migrate
"$FLEETD_BIN" broker setup

banner "fleetd serve (log: ${LOG#"$REPO"/})"
setsid "$FLEETD_BIN" --log-format text serve </dev/null >>"$LOG" 2>&1 &
FLEETD_PID=$!
HTTP_ADDR=""
deadline=$((SECONDS + READY_TIMEOUT_S))
while :; do
  if ! alive "$FLEETD_PID"; then
    say "ERROR: fleetd exited during start-up; last 50 lines of ${LOG#"$REPO"/}:"
    tail -n 50 "$LOG"
    exit 1
  fi
  if [ -z "$HTTP_ADDR" ]; then
    HTTP_ADDR=$(sed -n 's/.*http listening.*http_addr=\([0-9.]*:[0-9]*\).*/\1/p' "$LOG" | head -n 1)
  fi
  if [ -n "$HTTP_ADDR" ] && curl -fsS -o /dev/null --max-time 2 "http://$HTTP_ADDR/readyz" 2>/dev/null; then
    break
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "ERROR: fleetd not ready after ${READY_TIMEOUT_S}s; last 50 lines of ${LOG#"$REPO"/}:"
    tail -n 50 "$LOG"
    exit 1
  fi
  sleep 0.3
done
BASE_URL="http://$HTTP_ADDR"
say "fleetd pid $FLEETD_PID ready at $BASE_URL (database $DB_NAME)"

# POST /v1/auth/token, see docs/http.md "Auth".
TOKEN=$(curl -fsS --max-time 30 "$BASE_URL/v1/auth/token" \
  -d "{\"username\":\"admin\",\"password\":\"$FLEETD_ADMIN_PASSWORD\"}" | jq -r '.access_token // empty')
if [ -z "$TOKEN" ]; then
  say "ERROR: could not log in as the bootstrap admin"
  exit 1
fi

curl -fsS --max-time 30 -o "$OUT_DIR/openapi.json" "$BASE_URL/openapi.json"

# Fixture rows for scripts/api_fuzz_hooks.py: valid-data cases that name a plan, customer,
# driver, user or vehicle that does not exist get these ids instead (see that file).
api_post() { # PATH JSON: POSTs as the admin, prints the answer's id (or fails loudly)
  local answer id
  answer=$(curl -sS --max-time 30 -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -w '\n%{http_code}' -d "$2" "$BASE_URL$1")
  id=$(sed '$d' <<<"$answer" | jq -r '.id // empty')
  if [ "$(tail -n 1 <<<"$answer")" != 201 ] || [ -z "$id" ]; then
    say "ERROR: fixture POST $1 failed: $answer" >&2
    return 1
  fi
  printf '%s' "$id"
}
banner "fixtures (${OUT_DIR#"$REPO"/}/fixtures.json)"
FIXTURE_PASSWORD="fuzz-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
plan_id=$(api_post /v1/pricing-plans '{"name":"fuzz fixture","currency":"EUR","daily_rate":5000,
  "included_km_per_day":200,"extra_km_rate":30,"late_fee_per_hour":1500,
  "free_cancellation_hours":48,"cancellation_fee_pct":20}')
customer_user_id=$(api_post /v1/users "{\"username\":\"fuzz-customer-$RUN_ID\",\"password\":\"$FIXTURE_PASSWORD\",\"role\":\"customer\"}")
customer_id=$(api_post /v1/customers "{\"user_id\":\"$customer_user_id\",\"name\":\"Fuzz Customer\",\"email\":\"fuzz@example.com\"}")
driver_user_id=$(api_post /v1/users "{\"username\":\"fuzz-driver-$RUN_ID\",\"password\":\"$FIXTURE_PASSWORD\",\"role\":\"driver\"}")
# The latest licence expiry a date can have: no generated assignment window ends after it.
driver_id=$(api_post /v1/drivers "{\"user_id\":\"$driver_user_id\",\"name\":\"Fuzz Driver\",
  \"licence_number\":\"FUZZ-$RUN_ID\",\"licence_expiry\":\"9999-12-31\"}")
# The run's admin (its token must live through the run) and a spare user the hooks aim the
# admin's own PATCH /v1/users/{id} and password changes at instead.
admin_id=$(curl -fsS --max-time 30 -H "Authorization: Bearer $TOKEN" "$BASE_URL/v1/me" | jq -r '.id // empty')
[ -n "$admin_id" ] || { say "ERROR: GET /v1/me failed"; exit 1; }
spare_user_id=$(api_post /v1/users "{\"username\":\"fuzz-spare-$RUN_ID\",\"password\":\"$FIXTURE_PASSWORD\",\"role\":\"dispatcher\"}")
vehicle_id=$(api_post /v1/vehicles "{\"id\":\"fuzz-fixture-$RUN_ID\",\"plate\":\"FUZZ-$RUN_ID\",
  \"vin\":\"1M8GDM9AXKP042788\",\"make\":\"Volvo\",\"model\":\"FH16\",\"year\":2021,\"type\":\"truck\",
  \"seats\":2,\"load_kg\":18000,\"specs\":{}}")
# A fence with a speed limit, for alert rules whose scope needs one.
geofence_id=$(api_post /v1/geofences '{"name":"fuzz fixture","center":{"lat":0.5,"lon":0.5},
  "radius_m":1000,"speed_limit_kmh":50}')
# A location, for quotes, reservations and availability by location.
location_id=$(api_post /v1/locations '{"name":"fuzz fixture","kind":"depot","lat":0.5,"lon":0.5}')
jq -n --arg plan "$plan_id" --arg cu "$customer_user_id" --arg c "$customer_id" \
  --arg du "$driver_user_id" --arg d "$driver_id" --arg v "$vehicle_id" \
  --arg admin "$admin_id" --arg spare "$spare_user_id" --arg g "$geofence_id" \
  --arg l "$location_id" '{
    admin: {id: $admin, role: "admin"}, spare_user: {id: $spare, role: "dispatcher"},
    plan: {id: $plan, currency: "EUR"},
    customer_user: {id: $cu, role: "customer"}, customer: {id: $c, user_id: $cu},
    driver_user: {id: $du, role: "driver"},
    driver: {id: $d, user_id: $du, licence_expiry: "9999-12-31"},
    vehicle: {id: $v, odometer_km: 0},
    geofence: {id: $g, speed_limit_kmh: 50}, location: {id: $l}
  }' >"$OUT_DIR/fixtures.json"
cat "$OUT_DIR/fixtures.json"

# ---- 4. schemathesis -------------------------------------------------------------------------
st_args=(
  run "$BASE_URL/openapi.json"
  --header "Authorization: Bearer $TOKEN"
  # Every check runs: each is on by default (max_response_time aside). Not `--checks all`:
  # command-line options outrank schemathesis.toml, whose per-operation exceptions would then
  # be ignored.
  --phases examples,coverage,fuzzing,stateful
  --max-time "$FUZZ_SECONDS"
  --workers "$FUZZ_WORKERS"
  --request-timeout 10
  --continue-on-failure                     # report every distinct failure, not the first
  --generation-database none
  # Logging out revokes the run's token (tests/it/api/accounts.rs covers it).
  --exclude-path /v1/auth/logout
  --report junit --report-junit-path "$OUT_DIR/junit.xml"
  --no-color
)
if [ -n "$FUZZ_SEED" ]; then
  st_args+=(--seed "$FUZZ_SEED")
fi
st_args+=("$@")

banner "st ${st_args[*]/Bearer */Bearer ***} (budget ${FUZZ_SECONDS}s; output ${OUT_DIR#"$REPO"/}/st-output.txt)"
start=$SECONDS
set +e
# Run from .run/fuzz: st keeps its crash cache (.schemathesis/) in the working directory.
(
  cd "$OUT_DIR"
  export SCHEMATHESIS_HOOKS="$REPO/scripts/api_fuzz_hooks.py"
  export API_FUZZ_FIXTURES="$OUT_DIR/fixtures.json"
  export API_FUZZ_REJECTIONS="$OUT_DIR/rejections.jsonl"
  exec timeout --kill-after=30 "$HARD_BOUND_S" "$VENV/bin/st" "${st_args[@]}"
) 2>&1 | tee "$OUT_DIR/st-output.txt"
st_rc=${PIPESTATUS[0]}
set -e
say "schemathesis took $((SECONDS - start))s, exit status $st_rc"
if [ "$st_rc" -eq 124 ] || [ "$st_rc" -eq 137 ]; then
  say "FAILED: schemathesis did not finish within the hard bound of ${HARD_BOUND_S}s"
elif [ "$st_rc" -ne 0 ]; then
  say "FAILED: schemathesis reported failures or errors (see ${OUT_DIR#"$REPO"/}/st-output.txt)"
else
  say "passed: no failures, no server errors"
fi
exit "$st_rc"
