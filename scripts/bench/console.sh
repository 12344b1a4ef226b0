#!/usr/bin/env bash
# The console's figures in a real browser (issue 17): frames per second while panning the live
# map with N vehicles reporting at 1 Hz (goal >= 30 at 10,000), and the time to load and draw
# one vehicle's 24-hour, 86,400-reading day (goal <= 1 s); then, fleet-sim stopped, the same
# panning over the same (now silent) vehicles, for what the live updates cost. A benchmark,
# not a test: nothing here passes or fails on a time.
#
#   scripts/bench/console.sh                     # 10,000 vehicles, 3 rounds
#   scripts/bench/console.sh --vehicles 2000 --rounds 1
#   scripts/bench/console.sh --pin     # the browser on CPU 1, the broker, fleetd and fleet-sim on
#                                      # CPU 0 (taskset; PostgreSQL is the system's, unpinned): a
#                                      # dispatcher's browser does not share its cores with the fleet
#
# What it runs, all on this machine: the services (scripts/services.sh, which installs Debian's
# chromium), a private anonymous Mosquitto, release builds of fleetd and fleet-sim, a fresh
# database with one vehicle's day of readings (yesterday, one a second, written by SQL), fleet-sim
# driving N vehicles in real time, and headless Chromium (Debian's) driven by playwright-core
# (npm, installed once into .run/bench-node/). Chromium runs with software rendering (no GPU
# here): the frame rate is a floor for a desktop browser. Results: .run/console-bench/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"

VEHICLES=10000
ROUNDS=3
PAN_S=10
PIN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --vehicles) VEHICLES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --pan-s) PAN_S=$2; shift 2 ;;
    --pin) PIN=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

OUT="$REPO/.run/console-bench"
NODE_DIR="$REPO/.run/bench-node"
PLAYWRIGHT_VERSION=1.65.2
DB=fleetd_bench_console
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
DB_URL="postgres://postgres@127.0.0.1:5432/$DB"
PASSWORD="bench-admin-password"
mkdir -p "$OUT"
say() { printf '[console-bench] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
command -v chromium >/dev/null || { say "chromium is missing (scripts/services.sh installs it)"; exit 1; }
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
  say "installing playwright-core@$PLAYWRIGHT_VERSION into ${NODE_DIR#"$REPO"/} (drives Debian's chromium; downloads no browser)"
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION")
fi

# With --pin: the fleet's side on CPU 0, the browser on CPU 1.
FLEET_CPU=() BROWSER_CPU=()
if [ "$PIN" = 1 ]; then
  FLEET_CPU=(taskset -c 0) BROWSER_CPU=(taskset -c 1)
fi

# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
FLEETD_PID="" SIM_PID="" PB_PID=""
cleanup() {
  kill "$SIM_PID" 2>/dev/null || true
  [ -n "$FLEETD_PID" ] && kill -TERM "$FLEETD_PID" 2>/dev/null && wait "$FLEETD_PID" 2>/dev/null || true
  kill "$PB_PID" 2>/dev/null || true
  psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
private_broker "$OUT/broker" anonymous >&2
[ "$PIN" = 1 ] && taskset -p -c 0 "$PB_PID" >/dev/null
MQTT_URL="mqtt://127.0.0.1:$PB_PORT"

say "building release binaries"
cargo build --release --workspace --quiet
FLEETD="$REPO/target/release/fleetd"
SIM="$REPO/target/release/fleet-sim"

psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
HTTP="127.0.0.1:$(free_port)"
FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="$MQTT_URL" FLEETD_HTTP_ADDR="$HTTP" \
  FLEETD_REDIS_URL="" FLEETD_JWT_SECRET="console-bench-secret-console-bench-secret" \
  FLEETD_ADMIN_PASSWORD="$PASSWORD" FLEETD_INGEST_UNKNOWN_VEHICLES=store \
  FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 FLEETD_MQTT_CLIENT_ID="console-bench-$$" \
  "${FLEET_CPU[@]}" "$FLEETD" serve >"$OUT/fleetd.log" 2>&1 &
FLEETD_PID=$!
for _ in $(seq 1 240); do
  curl -fsS -o /dev/null "http://$HTTP/readyz" 2>/dev/null && break
  sleep 0.5
done
curl -fsS -o /dev/null "http://$HTTP/readyz" || { say "fleetd did not get ready; see $OUT/fleetd.log"; exit 1; }

# Yesterday (local time, as the console's day picker), one reading a second: a loop of about
# 30 km around the fleet's region.
DAY=$(date -d yesterday +%F)
say "writing day-1's 86,400 readings of $DAY"
psql -qX "$DB_URL" -v day="$DAY" <<'SQL'
INSERT INTO gps_readings (vehicle_id, ts, position, speed_kmh, heading_deg, received_at)
SELECT 'day-1', (:'day'::date)::timestamp AT TIME ZONE current_setting('TimeZone') + make_interval(secs => s),
       ST_SetSRID(ST_MakePoint(13.4 + 0.07 * cos(s / 86400.0 * 2 * pi() * 6),
                               52.5 + 0.045 * sin(s / 86400.0 * 2 * pi() * 6)), 4326),
       40 + 20 * sin(s / 600.0), (s / 240) % 360, now()
  FROM generate_series(0, 86399) AS s;
SQL
[ "$(psql -qtAX "$DB_URL" -c "SELECT count(*) FROM gps_readings WHERE vehicle_id = 'day-1'")" = 86400 ] \
  || { say "day-1 has not 86,400 readings"; exit 1; }

say "fleet-sim: $VEHICLES vehicles at 1 Hz"
"${FLEET_CPU[@]}" "$SIM" run --mqtt-url "$MQTT_URL" --vehicles "$VEHICLES" --gps-hz 1 --obd-hz 0 --duration 1h \
  --quiet >"$OUT/sim.log" 2>&1 &
SIM_PID=$!

SIM_PID="$SIM_PID" NODE_PATH="$NODE_DIR/node_modules" "${BROWSER_CPU[@]}" node scripts/bench/console_browser.js \
  "http://$HTTP" admin "$PASSWORD" "$VEHICLES" "$ROUNDS" "$PAN_S" "$DAY" | tee "$OUT/results.json"
