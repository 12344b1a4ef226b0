#!/usr/bin/env bash
# The trips report benchmark: fleetd's stored trips vs Traccar's replay, same data, one run.
#
#   scripts/bench/trips_report.sh                 # 1,000 vehicles, 30 days, 10 of them at 1 Hz
#   scripts/bench/trips_report.sh --sampled 2 --days 3 --vehicles 50 --rounds 10   # minutes
#   scripts/bench/trips_report.sh --reuse         # skip the load if the database has it
#
# 1. A fresh database (fleetd_bench_trips) and a release fleetd with its segmenter on (the
#    defaults of docs/trips.md) on a private broker (nothing is published).
# 2. `fleet-sim peer trips load`: --days days of synthetic driving at --hz for --sampled
#    vehicles, COPYed into gps_readings a day per transaction with its segment mark (as the
#    writers commit), waiting for fleetd's segmenter after each day; it reports the COPY
#    rate and the segmenter's rate on history.
# 3. `fleet-sim peer trips fleet`: registers --vehicles vehicles and gives the others the
#    sampled vehicles' trips, stops and rollups, so the tables are a whole fleet's. Raw
#    readings stay with the sampled vehicles: 1,000 × 30 days at 1 Hz would be 2.6 billion
#    rows (about 300 GB); the replay only ever reads one vehicle's.
# 4. `fleet-sim peer trips report`: --rounds rounds, each timing one vehicle's trips over the
#    whole history both ways, alternating which goes first: GET /v1/vehicles/{id}/trips
#    (every page) and the replay (every reading of the window loaded, then segmented in
#    memory by fleetd's own code); plus the same route for a vehicle drawn from the whole
#    fleet and GET /v1/reports/fleet over the window. It checks that both ways find the same
#    trips.
# Results: a JSON line per step on stdout and in .run/trips_report/results.jsonl.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"

VEHICLES=1000 SAMPLED=10 DAYS=30 HZ=1 ROUNDS=40 REUSE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --vehicles) VEHICLES="$2"; shift ;;
    --sampled) SAMPLED="$2"; shift ;;
    --days) DAYS="$2"; shift ;;
    --hz) HZ="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --reuse) REUSE=1 ;;
    *) echo "usage: $0 [--vehicles N] [--sampled N] [--days N] [--hz X] [--rounds N] [--reuse]" >&2; exit 2 ;;
  esac
  shift
done

DB=fleetd_bench_trips
DB_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
HTTP=127.0.0.1:18082
OUT="$REPO/.run/trips_report"
ADMIN_PASSWORD="trips-bench-admin-password"
# The day after the history: fixed for the whole run (and kept with --reuse).
END=$(date -u +%F)
mkdir -p "$OUT"
[ "$REUSE" = 1 ] && [ -s "$OUT/end" ] && END=$(cat "$OUT/end")
: > "$OUT/results.jsonl"
HISTORY=(--database-url "$DB_URL" --sampled "$SAMPLED" --days "$DAYS" --end "$END")

say() { printf '[trips-report] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
private_broker "$OUT/broker" anonymous >&2
say "building release binaries"
cargo build --release -p fleetd -p fleet-sim --bins --quiet
FLEETD="$REPO/target/release/fleetd"
SIM="$REPO/target/release/fleet-sim"
FLEETD_PID=

cleanup() {
  if [ -n "$FLEETD_PID" ]; then kill -TERM "$FLEETD_PID" 2>/dev/null || true; wait "$FLEETD_PID" 2>/dev/null || true; fi
  kill "$PB_PID" 2>/dev/null || true
}
trap cleanup EXIT

loaded() {
  [ "$(psql -qtAX "$DB_URL" -c "SELECT count(*) FROM trips" 2>/dev/null || echo 0)" -gt 0 ]
}

if [ "$REUSE" = 1 ] && loaded; then
  say "reusing $DB (history ending $END)"
else
  psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  FLEETD_DATABASE_URL="$DB_URL" "$FLEETD" migrate >/dev/null
  echo "$END" > "$OUT/end"
fi

# Raw partitions are kept as long as the history reaches back.
FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="mqtt://127.0.0.1:$PB_PORT" FLEETD_HTTP_ADDR="$HTTP" \
  FLEETD_REDIS_URL="" FLEETD_MQTT_CLIENT_ID="trips-bench" FLEETD_MQTT_TOPIC_PREFIX="tripsbench" \
  FLEETD_JWT_SECRET="trips-bench-secret-0123456789abcdef" FLEETD_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 FLEETD_TRIPS_ENABLED=true \
  FLEETD_INGEST_RETENTION_DAYS=$((DAYS + 2)) \
  "$FLEETD" serve > "$OUT/fleetd.log" 2>&1 &
FLEETD_PID=$!
for _ in $(seq 1 600); do curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 || { say "fleetd did not become ready; see $OUT/fleetd.log"; exit 1; }
FLEETD_BENCH_TOKEN=$(curl -fsS -X POST "http://$HTTP/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export FLEETD_BENCH_TOKEN

step() { # name, then fleet-sim peer trips arguments
  local name=$1; shift
  say "$name"
  local line; line=$("$SIM" peer trips "$@")
  printf '{"step":"%s","result":%s}\n' "$name" "$line" | tee -a "$OUT/results.jsonl"
}

if [ "$REUSE" = 1 ] && [ "$(cat "$OUT/loaded" 2>/dev/null)" = "$SAMPLED $DAYS $HZ $END" ]; then
  say "history already loaded"
else
  rm -f "$OUT/loaded"
  step load load "${HISTORY[@]}" --hz "$HZ"
  echo "$SAMPLED $DAYS $HZ $END" > "$OUT/loaded"
fi
step fleet fleet "${HISTORY[@]}" --vehicles "$VEHICLES"
# The dashboard's view and the planner's statistics, as a running system would have them.
psql -qX "$DB_URL" -c "VACUUM ANALYZE" >/dev/null
step report report "${HISTORY[@]}" --vehicles "$VEHICLES" --rounds "$ROUNDS" --http-addr "$HTTP"
say "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
