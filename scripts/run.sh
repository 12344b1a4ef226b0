#!/usr/bin/env bash
# The main job: brings up the services, builds fleetd and fleet-sim (release), migrates, starts
# `fleetd serve` in the background, waits for /readyz, then drives it with the simulator in the
# foreground while printing live ingestion figures every 5 s. On exit (or Ctrl-C) it stops
# fleetd gracefully and prints the row counts stored in PostgreSQL.
#
#   scripts/run.sh                                   # fleet-sim --vehicles 2000 --duration 60s
#   scripts/run.sh --vehicles 500 --duration 60s     # arguments go to fleet-sim as they are
#   FLEETD_KEEP_RUNNING=1 scripts/run.sh             # leave fleetd running afterwards
#
# It prints the operator's console URL (/console, a live map of the simulated fleet) and its
# login when fleetd is ready, and again when it is left running.
#
# The broker refuses anonymous clients (docs/security.md): `fleetd broker setup` creates the
# daemon's account, and `fleet-sim provision` issues every simulated vehicle's tracker its own
# account through the API (kept in .run/trackers-{id prefix}.jsonl, so later runs reuse them);
# the simulator then connects each vehicle as its tracker.
#
# Environment: FLEETD_MQTT_PORT (default 1884, the project broker started by services.sh),
# FLEETD_DB_NAME (default fleetd), FLEETD_KEEP_RUNNING, and FLEETD_JWT_SECRET /
# FLEETD_ADMIN_PASSWORD / FLEETD_MQTT_PASSWORD (generated once into .run/ when not set).
# Log: .run/fleetd.log.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-${HOME:-}/.cargo}/bin/cargo" ]; then
  PATH="${CARGO_HOME:-${HOME:-}/.cargo}/bin:$PATH"
fi
export PATH

RUN_DIR="$REPO/.run"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
FLEETD_BIN="$TARGET_DIR/release/fleetd"
SIM_BIN="$TARGET_DIR/release/fleet-sim"
LOG="$RUN_DIR/fleetd.log"
PIDFILE="$RUN_DIR/fleetd.pid"
HTTP_ADDR=127.0.0.1:8080
BASE_URL="http://$HTTP_ADDR"
MQTT_URL="mqtt://127.0.0.1:${FLEETD_MQTT_PORT:-1884}"
DB_NAME="${FLEETD_DB_NAME:-fleetd}"
KEEP_RUNNING="${FLEETD_KEEP_RUNNING:-0}"
READY_TIMEOUT_S=120
STOP_TIMEOUT_S=35

FLEETD_PID=""
PRINTER_PID=""
TOKEN=""
CENTER_LAT=""
CENTER_LON=""
MIGRATED=0
LEAVE_RUNNING=0

say() { printf '[run] %s\n' "$*"; }
banner() { printf '\n==> %s\n' "$*"; }

# True while PID is a live process (a zombie, i.e. exited but not yet reaped, counts as gone).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"

# Reads a secret from .run/NAME, creating it (64 random hex characters, mode 600) if missing.
secret() {
  run_secret "$RUN_DIR/$1"
}

# Sends SIGTERM to PID and waits up to STOP_TIMEOUT_S for it to exit; SIGKILL after that.
stop_pid() {
  local pid=$1 what=$2 deadline=$((SECONDS + STOP_TIMEOUT_S))
  alive "$pid" || return 0
  say "stopping $what (pid $pid, SIGTERM, up to ${STOP_TIMEOUT_S}s)"
  kill -TERM "$pid" 2>/dev/null || return 0
  while alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "WARNING: $what did not exit within ${STOP_TIMEOUT_S}s (a supervisor's usual 30 s); sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

# Sums every sample of a counter (all label sets) in Prometheus text format on stdin:
# prints "received stored rejected found", where found is 0 when none of them was present.
sum_counters() {
  awk '
    /^#/ || NF < 2 { next }
    {
      name = $1; sub(/\{.*/, "", name); v = $NF + 0
      if (name == "fleetd_readings_received_total") { r += v; f = 1 }
      else if (name == "fleetd_readings_stored_total") { s += v; f = 1 }
      else if (name == "fleetd_readings_rejected_total") { j += v; f = 1 }
    }
    END { printf "%.0f %.0f %.0f %d\n", r, s, j, f }'
}

# One line about dispatch: the nearest available drivers to the region's centre, as
# GET /v1/dispatch/nearest answers from memory, and how long the request took end to end.
print_nearest() {
  local out code took
  [ -n "$TOKEN" ] || return 0
  out=$(curl -s --max-time 3 -H "Authorization: Bearer $TOKEN" -w '\n%{http_code} %{time_total}' \
    "$BASE_URL/v1/dispatch/nearest?lat=$CENTER_LAT&lon=$CENTER_LON&k=10&radius_m=5000") || return 0
  read -r code took <<<"$(tail -n 1 <<<"$out")"
  if [ "$code" != 200 ]; then
    say "nearest: HTTP $code"
    return 0
  fi
  head -n -1 <<<"$out" | jq -r --arg took "$took" \
    '"[run]   nearest available drivers to the centre: \(.items | length) within 5 km" +
     (if (.items | length) > 0 then ", closest \(.items[0].vehicle_id) at \(.items[0].distance_m | floor) m (age \(.items[0].age_s | floor) s)" else "" end) +
     ", request \((($took | tonumber) * 10000 | floor) / 10) ms"'
}

# Background loop: every 5 s one line of live figures scraped from /metrics.
print_metrics() {
  local body recv stored rej found now_ms prev_stored="" prev_ms="" rate sleeper=""
  trap '[ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null; exit 0' TERM INT
  while :; do
    sleep 5 &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
    if ! body=$(curl -s --max-time 3 "$BASE_URL/metrics"); then
      say "metrics: $BASE_URL/metrics not answering"
      continue
    fi
    read -r recv stored rej found <<<"$(sum_counters <<<"$body")"
    if [ "$found" != 1 ]; then
      say "metrics: no fleetd_readings_*_total counters in /metrics yet"
      continue
    fi
    now_ms=$(date +%s%3N)
    rate="-"
    if [ -n "$prev_ms" ] && [ "$now_ms" -gt "$prev_ms" ]; then
      rate=$(awk -v d="$((stored - prev_stored))" -v t="$((now_ms - prev_ms))" 'BEGIN { printf "%.0f", d * 1000 / t }')
    fi
    printf '[run] %s  received %s  stored %s  rejected %s  stored/s %s\n' \
      "$(date +%H:%M:%S)" "$recv" "$stored" "$rej" "$rate"
    prev_stored=$stored
    prev_ms=$now_ms
    print_nearest
  done
}

# shellcheck disable=SC2317  # reached from the EXIT trap
print_counts() {
  local counts
  if counts=$(PGCONNECT_TIMEOUT=5 psql -X -At -F ' ' -h 127.0.0.1 -p 5432 -U postgres -d "$DB_NAME" -c \
    'select (select count(*) from gps_readings), (select count(*) from obd_readings), (select count(*) from telemetry_rejects)' 2>&1); then
    read -r gps obd rejects <<<"$counts"
    say "final counts in database $DB_NAME: gps_readings=$gps obd_readings=$obd telemetry_rejects=$rejects"
  else
    say "could not count rows in database $DB_NAME: $counts"
  fi
}

# Where to look: the live map and the API reference, and how to sign in.
console_banner() {
  say "console: $BASE_URL/console ($LOGIN_HINT); API reference: $BASE_URL/docs"
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$PRINTER_PID" ]; then
    kill -TERM "$PRINTER_PID" 2>/dev/null || true
    wait "$PRINTER_PID" 2>/dev/null || true
  fi
  if [ -n "$FLEETD_PID" ]; then
    if [ "$LEAVE_RUNNING" -eq 1 ] && alive "$FLEETD_PID"; then
      say "fleetd left running: pid $FLEETD_PID, $BASE_URL, log ${LOG#"$REPO"/}; stop it with: kill $FLEETD_PID"
      console_banner
    else
      stop_pid "$FLEETD_PID" fleetd
      local status=0
      wait "$FLEETD_PID" 2>/dev/null || status=$?
      say "fleetd exited with status $status"
      rm -f "$PIDFILE"
    fi
  fi
  if [ "$MIGRATED" -eq 1 ]; then
    print_counts
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. services -----------------------------------------------------------------------------
banner "services"
bash scripts/services.sh

# Script-only settings are not fleetd configuration keys: keep them out of fleetd's environment.
unset FLEETD_KEEP_RUNNING FLEETD_MQTT_PORT FLEETD_DB_NAME
mkdir -p "$RUN_DIR"

# A fleetd left running by an earlier FLEETD_KEEP_RUNNING=1 run holds the HTTP port: stop it.
if [ -s "$PIDFILE" ]; then
  old=$(cat "$PIDFILE")
  if alive "$old" && grep -q fleetd "/proc/$old/cmdline" 2>/dev/null; then
    stop_pid "$old" "fleetd from an earlier run"
  fi
  rm -f "$PIDFILE"
fi
if curl -s -o /dev/null --max-time 2 "$BASE_URL/healthz"; then
  say "ERROR: something already answers on $BASE_URL; stop it first"
  exit 1
fi

# ---- 2. build --------------------------------------------------------------------------------
banner "cargo build --release --workspace"
cargo build --release --workspace

# ---- 3. configuration and migrations ---------------------------------------------------------
export FLEETD_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME"
export FLEETD_MQTT_URL="$MQTT_URL"
export FLEETD_REDIS_URL="redis://127.0.0.1:6379"
export FLEETD_HTTP_ADDR="$HTTP_ADDR"
# Provisioning the simulated fleet's trackers is one API request per vehicle: a per-client
# budget of 60,000 requests a minute (instead of 600) lets 2,000 go through at once.
export FLEETD_HTTP_RATE_LIMIT_PER_MINUTE="${FLEETD_HTTP_RATE_LIMIT_PER_MINUTE:-60000}"
export FLEETD_HTTP_RATE_LIMIT_BURST="${FLEETD_HTTP_RATE_LIMIT_BURST:-1000}"
if [ -z "${FLEETD_JWT_SECRET:-}" ]; then
  FLEETD_JWT_SECRET=$(secret jwt_secret)
fi
LOGIN_HINT="user admin, the password in FLEETD_ADMIN_PASSWORD"
if [ -z "${FLEETD_ADMIN_PASSWORD:-}" ]; then
  FLEETD_ADMIN_PASSWORD=$(secret admin_password)
  say "admin password (user admin): see ${RUN_DIR#"$REPO"/}/admin_password"
  # Generated for this checkout and kept in .run/ (mode 600): shown so that the console's
  # login is at hand.
  LOGIN_HINT="user admin, password $FLEETD_ADMIN_PASSWORD"
fi
export FLEETD_JWT_SECRET FLEETD_ADMIN_PASSWORD
# The broker's accounts: the daemon's own, and the administrator services.sh created, with
# which fleetd issues the trackers' accounts.
export FLEETD_MQTT_USERNAME=fleetd
if [ -z "${FLEETD_MQTT_PASSWORD:-}" ]; then
  FLEETD_MQTT_PASSWORD=$(secret mqtt_password)
fi
export FLEETD_MQTT_PASSWORD
export FLEETD_BROKER_ADMIN_USERNAME=fleetd-admin
FLEETD_BROKER_ADMIN_PASSWORD=$(cat "$RUN_DIR/broker_admin_password")
export FLEETD_BROKER_ADMIN_PASSWORD

banner "fleetd migrate, fleetd broker setup"
"$FLEETD_BIN" migrate
MIGRATED=1
"$FLEETD_BIN" broker setup

# ---- 4. fleetd serve -------------------------------------------------------------------------
banner "fleetd serve (log: ${LOG#"$REPO"/})"
if [ -f "$LOG" ]; then
  mv -f "$LOG" "$LOG.1"
fi
# setsid: a terminal Ctrl-C reaches the simulator and this script, not fleetd; the EXIT trap
# then stops fleetd with a single SIGTERM.
setsid "$FLEETD_BIN" serve </dev/null >>"$LOG" 2>&1 &
FLEETD_PID=$!
echo "$FLEETD_PID" >"$PIDFILE"
say "fleetd pid $FLEETD_PID; waiting for $BASE_URL/readyz (up to ${READY_TIMEOUT_S}s)"
deadline=$((SECONDS + READY_TIMEOUT_S))
until curl -fsS -o /dev/null --max-time 2 "$BASE_URL/readyz" 2>/dev/null; do
  if ! alive "$FLEETD_PID"; then
    say "ERROR: fleetd exited during start-up; last 50 lines of ${LOG#"$REPO"/}:"
    tail -n 50 "$LOG"
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    say "ERROR: fleetd not ready after ${READY_TIMEOUT_S}s; last 50 lines of ${LOG#"$REPO"/}:"
    tail -n 50 "$LOG"
    exit 1
  fi
  sleep 0.5
done
say "fleetd is ready: $BASE_URL (metrics $BASE_URL/metrics, API $BASE_URL/openapi.json)"
console_banner
if [ "$KEEP_RUNNING" = 1 ]; then
  LEAVE_RUNNING=1
fi

# ---- 5. the simulated fleet's registry ---------------------------------------------------------
if [ "$#" -eq 0 ]; then
  set -- --vehicles 2000 --duration 60s
fi
# fleet-sim's defaults, unless the arguments say otherwise (the same flags fleet-sim takes).
VEHICLES=1000
ID_PREFIX=veh-
REGION=52.35,13.08,52.68,13.76
prev=""
for arg in "$@"; do
  case "$prev" in
    --vehicles) VEHICLES=$arg ;;
    --id-prefix) ID_PREFIX=$arg ;;
    --region) REGION=$arg ;;
  esac
  case "$arg" in
    --vehicles=*) VEHICLES=${arg#*=} ;;
    --id-prefix=*) ID_PREFIX=${arg#*=} ;;
    --region=*) REGION=${arg#*=} ;;
  esac
  prev=$arg
done
IFS=, read -r lat_min lon_min lat_max lon_max <<<"$REGION"
CENTER_LAT=$(awk -v a="$lat_min" -v b="$lat_max" 'BEGIN { printf "%.5f", (a + b) / 2 }')
CENTER_LON=$(awk -v a="$lon_min" -v b="$lon_max" 'BEGIN { printf "%.5f", (a + b) / 2 }')
banner "registry: $VEHICLES vehicles ($ID_PREFIX...), a driver at each wheel, 80% available"
PGCONNECT_TIMEOUT=5 psql -X -q -h 127.0.0.1 -p 5432 -U postgres -d "$DB_NAME" \
  -v vehicles="$VEHICLES" -v prefix="$ID_PREFIX" -v available_pct=80 -f scripts/seed_fleet.sql
TOKEN=$(curl -s --max-time 5 "$BASE_URL/v1/auth/token" \
  -d "{\"username\":\"admin\",\"password\":\"$FLEETD_ADMIN_PASSWORD\"}" | jq -r '.access_token // empty' || true)
if [ -z "$TOKEN" ]; then
  say "WARNING: could not log in as admin (an admin with another password exists?); no dispatch figures"
fi

# ---- 6. the trackers' broker accounts ----------------------------------------------------------
TRACKERS="$RUN_DIR/trackers-$ID_PREFIX.jsonl"
banner "trackers' broker accounts (${TRACKERS#"$REPO"/})"
FLEET_SIM_API_PASSWORD="$FLEETD_ADMIN_PASSWORD" "$SIM_BIN" provision --api-url "$BASE_URL" \
  --vehicles "$VEHICLES" --id-prefix "$ID_PREFIX" --out "$TRACKERS"

# ---- 7. simulator ----------------------------------------------------------------------------
sim_args=()
case " $* " in
  *" --mqtt-url "* | *" --mqtt-url="*) ;;
  *) sim_args+=(--mqtt-url "$MQTT_URL") ;;
esac
case " $* " in
  *" --credentials "* | *" --credentials="*) ;;
  *) sim_args+=(--credentials "$TRACKERS") ;;
esac
sim_args+=("$@")

print_metrics &
PRINTER_PID=$!

banner "fleet-sim ${sim_args[*]}"
sim_rc=0
"$SIM_BIN" "${sim_args[@]}" || sim_rc=$?
if [ "$sim_rc" -ne 0 ]; then
  say "fleet-sim exited with status $sim_rc"
fi
if [ "$LEAVE_RUNNING" -ne 1 ]; then
  say "to keep the console up after the simulation: FLEETD_KEEP_RUNNING=1 scripts/run.sh"
fi
exit "$sim_rc"
