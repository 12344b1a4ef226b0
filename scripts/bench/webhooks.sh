#!/usr/bin/env bash
# The webhook relay (issue 15): how soon a healthy receiver gets an event after its commit,
# and how many events per second the relay delivers to a local receiver. One release fleetd,
# one fresh database, one subscription (vehicle.status_changed) to a receiver on 127.0.0.1
# (scripts/bench/webhook_receiver.py: raw asyncio, keep-alive, checks every signature,
# answers 200 at once). Each of REPEAT rounds measures:
#   - latency: RATE status writes per second (POST /v1/vehicles/{id}/status, active <->
#     under_maintenance over VEHICLES vehicles, open loop over 4 connections) for SECONDS;
#     each write's 2xx answer is matched to its event, and the time from the answer to the
#     receiver's first receipt of that event is reported (p50/p95/p99/max). The commit
#     happened before the answer, so this is a lower bound of commit -> receipt; the time
#     from staging (events.occurred_at, inside the transaction) is the upper bound.
#   - burst: EVENTS vehicle.status_changed events over AGGREGATES aggregates staged with
#     fleetd_emit in one transaction from psql; from its commit to the receiver's last first
#     receipt: events/s.
#     Also reported: CPU seconds of fleetd, the receiver and this database's backends, and
#     what those backends were doing (pg_stat_activity sampled every 0.1 s).
# Each measurement starts with VACUUM (ANALYZE) of the tables it churns (the development
# PostgreSQL runs with autovacuum off). After each: every event received at least once, each
# aggregate's first receipts in id order, no bad signature, every write matched to its
# event; otherwise the script fails. Results: a JSON line per measurement on stdout and in
# .run/webhooks/results.jsonl, per-event latencies in .run/webhooks/latency_*.jsonl, each
# burst's receipts in .run/webhooks/burst_*.jsonl, a summary (medians over the rounds) on
# stderr. The database is dropped and fleetd, the receiver and the broker stopped at the
# end, also on failure.
#
#   scripts/bench/webhooks.sh [--seconds 20] [--rate 50] [--vehicles 200] [--events 20000]
#                             [--aggregates 1000] [--repeat 3] [--concurrency 8] [--pool-size 8]
# --concurrency is webhooks.concurrency (the relay's places per subscription), --pool-size
# database.pool_size (the pool the API, the sequencer and the relay share); both default to
# fleetd's defaults. On a loaded 2-core machine the relay delivered 450-600 events/s, so the
# default burst takes 30-45 s and the whole run with defaults 3-4 minutes.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"
SECONDS_EACH=20 RATE=50 VEHICLES=200 EVENTS=20000 AGGREGATES=1000 REPEAT=3 CONCURRENCY=8 POOL=8
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift ;;
    --rate) RATE="$2"; shift ;;
    --vehicles) VEHICLES="$2"; shift ;;
    --events) EVENTS="$2"; shift ;;
    --aggregates) AGGREGATES="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --concurrency) CONCURRENCY="$2"; shift ;;
    --pool-size) POOL="$2"; shift ;;
    *) echo "usage: $0 [--seconds N] [--rate N] [--vehicles N] [--events N] [--aggregates N] [--repeat N] [--concurrency N] [--pool-size N]" >&2; exit 2 ;;
  esac
  shift
done
for v in "$SECONDS_EACH" "$RATE" "$VEHICLES" "$EVENTS" "$AGGREGATES" "$REPEAT" "$CONCURRENCY" "$POOL"; do
  case "$v" in '' | *[!0-9]* | 0) echo "$0: every option takes a positive integer (got '$v')" >&2; exit 2 ;; esac
done
DB=fleetd_bench_webhooks
DB_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
HTTP_PORT=18084
OUT="$REPO/.run/webhooks"
ADMIN_PASSWORD="webhooks-bench-admin-password"
SECRET="whsec_bench_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$OUT"
: > "$OUT/results.jsonl"
rm -f "$OUT"/latency_*.jsonl "$OUT"/burst_*.jsonl
say() { printf '[webhooks] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
FLEETD_PID= RECEIVER_PID= PB_PID= DB_MADE=
cleanup() {
  local pid
  for pid in "$FLEETD_PID" "$RECEIVER_PID"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  if [ -n "$PB_PID" ]; then kill "$PB_PID" 2>/dev/null || true; fi
  if [ -n "$DB_MADE" ]; then
    psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
private_broker "$OUT/broker" anonymous >&2
say "building the release binary"
cargo build --release -p fleetd --bin fleetd --quiet
FLEETD="${CARGO_TARGET_DIR:-$REPO/target}/release/fleetd"

RECEIVER_PORT=$(free_port)
python3 scripts/bench/webhook_receiver.py "$RECEIVER_PORT" "$SECRET" 2> "$OUT/receiver.log" &
RECEIVER_PID=$!

DB_MADE=1
PGOPTIONS='-c client_min_messages=warning' psql -qX "$ADMIN_URL" \
  -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
FLEETD_DATABASE_URL="$DB_URL" "$FLEETD" migrate >/dev/null
FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="mqtt://127.0.0.1:$PB_PORT" \
  FLEETD_HTTP_ADDR="127.0.0.1:$HTTP_PORT" FLEETD_REDIS_URL="" FLEETD_MQTT_CLIENT_ID="webhooks-bench" \
  FLEETD_JWT_SECRET="webhooks-bench-secret-0123456789abcdef" FLEETD_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 FLEETD_WEBHOOKS_ALLOW_PRIVATE=true \
  FLEETD_WEBHOOKS_CONCURRENCY="$CONCURRENCY" FLEETD_DATABASE_POOL_SIZE="$POOL" "$FLEETD" serve > "$OUT/fleetd.log" 2>&1 &
FLEETD_PID=$!
for _ in $(seq 1 600); do curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$RECEIVER_PORT/_stats" >/dev/null
TOKEN=$(curl -fsS -X POST "http://127.0.0.1:$HTTP_PORT/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
export API="http://127.0.0.1:$HTTP_PORT" TOKEN DB_URL RECEIVER="http://127.0.0.1:$RECEIVER_PORT" FLEETD_PID OUT CONCURRENCY POOL
drive() { python3 scripts/bench/webhooks.py "$@"; }

say "registering $VEHICLES vehicles, subscribing the receiver (port $RECEIVER_PORT)"
HOOK=$(drive setup "$VEHICLES" "$SECRET")
say "warm-up"
drive latency warm 3 "$RATE" "$VEHICLES" "$HOOK" >/dev/null
drive burst warm 2000 "$AGGREGATES" "$HOOK" >/dev/null
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$REPEAT"); do
  drive latency "latency$r" "$SECONDS_EACH" "$RATE" "$VEHICLES" "$HOOK" | tee -a "$OUT/results.jsonl"
  drive burst "burst$r" "$EVENTS" "$AGGREGATES" "$HOOK" | tee -a "$OUT/results.jsonl"
done
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
say "deliveries: $(psql -qtAX "$DB_URL" -c "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM webhook_deliveries GROUP BY 1 ORDER BY 1) s"), webhooks.concurrency $CONCURRENCY, database.pool_size $POOL"
python3 - "$OUT/results.jsonl" >&2 <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")
lat = [r for r in rows if r["measure"] == "latency"]
bur = [r for r in rows if r["measure"] == "burst"]
print("[webhooks] latency, write answer -> first receipt (ms), median of %d runs of ~%d writes:" % (len(lat), med([r["writes"] for r in lat])))
for k in ("answer_to_receipt_ms", "staged_to_receipt_ms", "answer_to_queued_ms", "queued_to_receipt_ms"):
    print("[webhooks]   %-22s p50 %7.1f  p95 %7.1f  p99 %7.1f  max %7.1f" % ((k,) + tuple(med([r[k][p] for r in lat]) for p in ("p50", "p95", "p99", "max"))))
print("[webhooks] burst of %d events over %d aggregates: %.0f events/s commit -> last receipt (runs: %s), first receipt after %.2f s" % (
    med([r["events"] for r in bur]), med([r["aggregates"] for r in bur]), med([r["events_per_s"] for r in bur]),
    ", ".join("%.0f" % r["events_per_s"] for r in bur), med([r["first_receipt_s"] for r in bur])))
print("[webhooks] CPU per burst event (median): postgres backends %.2f ms, fleetd %.2f ms, receiver %.2f ms; same-aggregate gap p50 %.1f ms" % (
    med([r["postgres_cpu_s"] * 1e3 / r["events"] for r in bur]), med([r["fleetd_cpu_s"] * 1e3 / r["events"] for r in bur]),
    med([r["receiver_cpu_s"] * 1e3 / r["events"] for r in bur]), med([r["same_aggregate_gap_ms"]["p50"] for r in bur])))
print("[webhooks] checks: missing %d, duplicates %d, out of order %d, bad signatures %d" % tuple(
    sum(r[k] for r in rows) for k in ("missing", "duplicates", "out_of_order", "bad_signatures")))
EOF
