#!/usr/bin/env bash
# What the event outbox costs the API's writes: one release fleetd, one fresh database,
# THREADS clients registering vehicles (POST /v1/vehicles: one row, one audit entry and one
# `vehicle.registered` event per request) for SECONDS, with events on and off interleaved,
# REPEAT times. "off" replaces the database's fleetd_emit with a no-op (the daemon still
# serialises the payload and calls it), so the difference is what staging and numbering
# events cost. Results: a JSON line per run on stdout and in .run/outbox/results.jsonl; the
# events table is checked gapless at the end.
#
#   scripts/bench/outbox.sh [--seconds 8] [--threads 16] [--repeat 3]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"
SECONDS_EACH=8 THREADS=16 REPEAT=3
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    *) echo "usage: $0 [--seconds N] [--threads N] [--repeat N]" >&2; exit 2 ;;
  esac
  shift
done
DB=fleetd_bench_outbox
DB_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
HTTP_PORT=18083
OUT="$REPO/.run/outbox"
ADMIN_PASSWORD="outbox-bench-admin-password"
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
say() { printf '[outbox] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
private_broker "$OUT/broker" anonymous >&2
say "building the release binary"
cargo build --release -p fleetd --bin fleetd --quiet
FLEETD="$REPO/target/release/fleetd"
FLEETD_PID=
cleanup() {
  if [ -n "$FLEETD_PID" ]; then kill -TERM "$FLEETD_PID" 2>/dev/null || true; wait "$FLEETD_PID" 2>/dev/null || true; fi
  kill "$PB_PID" 2>/dev/null || true
}
trap cleanup EXIT

psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
FLEETD_DATABASE_URL="$DB_URL" "$FLEETD" migrate >/dev/null
FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="mqtt://127.0.0.1:$PB_PORT" \
  FLEETD_HTTP_ADDR="127.0.0.1:$HTTP_PORT" FLEETD_REDIS_URL="" FLEETD_MQTT_CLIENT_ID="outbox-bench" \
  FLEETD_JWT_SECRET="outbox-bench-secret-0123456789abcdef" FLEETD_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 "$FLEETD" serve > "$OUT/fleetd.log" 2>&1 &
FLEETD_PID=$!
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=$(curl -fsS -X POST "http://127.0.0.1:$HTTP_PORT/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# The migration's fleetd_emit, and a no-op with the same signature.
ON="CREATE OR REPLACE FUNCTION fleetd_emit(event_type text, aggregate_id text, payload jsonb,
      version integer DEFAULT 1) RETURNS void LANGUAGE sql AS \$\$
      INSERT INTO event_outbox (type, aggregate_type, aggregate_id, payload, version)
      VALUES (event_type, split_part(event_type, '.', 1), aggregate_id, payload, version) \$\$"
OFF="CREATE OR REPLACE FUNCTION fleetd_emit(event_type text, aggregate_id text, payload jsonb,
      version integer DEFAULT 1) RETURNS void LANGUAGE plpgsql AS \$\$ BEGIN END \$\$"
load() { python3 scripts/bench/api_writes.py 127.0.0.1 "$HTTP_PORT" "$TOKEN" "$@"; }
say "warm-up"
load 3 "$THREADS" warm 0 >/dev/null
base=10000000
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$REPEAT"); do
  for mode in on off; do
    if [ "$mode" = on ]; then psql -qX "$DB_URL" -c "$ON"; else psql -qX "$DB_URL" -c "$OFF"; fi
    base=$((base + 10000000))
    load "$SECONDS_EACH" "$THREADS" "$mode$r" "$base" | tee -a "$OUT/results.jsonl"
  done
done
psql -qX "$DB_URL" -c "$ON"
sleep 1
say "events: $(psql -qtAX "$DB_URL" -c "SELECT count(*) || ' numbered, max id ' || coalesce(max(id), 0) || ', ' || (SELECT count(*) FROM event_outbox) || ' staged' FROM events")"
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
