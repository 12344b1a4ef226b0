#!/usr/bin/env bash
# Reliability drills at full size, against the real services (the test suite runs the same drills
# small, in tests/drills.rs). While fleet-sim publishes at QoS 1:
#   kill9     kill -9 fleetd mid-stream and start it again
#   pgrestart restart the PostgreSQL cluster (pg_ctlcluster restart)
#   broker    restart the project Mosquitto gracefully (persistence on)
#   pgdown    stop PostgreSQL for 60 s, sampling fleetd's RSS every 5 s (it must stay bounded),
#             then start it again
# Each drill ends with `fleet-sim verify`: lost = 0, duplicated = 0, unexpected = 0.
#
#   scripts/drills.sh                 # all four
#   scripts/drills.sh kill9 broker    # some
# Note: pgrestart and pgdown restart the machine's PostgreSQL cluster; run it on a dev machine.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"
DRILLS=("$@")
[ ${#DRILLS[@]} -gt 0 ] || DRILLS=(kill9 pgrestart broker pgdown)
PORT="${FLEETD_MQTT_PORT:-1884}"
MQTT_URL="mqtt://127.0.0.1:$PORT"
DB=fleetd_drill
DB_URL="postgres://postgres@127.0.0.1:5432/$DB"
HTTP=127.0.0.1:18081
OUT="$REPO/.run/drills"
RATE="${DRILL_RATE:-20000}"
READINGS="${DRILL_READINGS:-600000}"
PGVER=$(ls /etc/postgresql | sort -n | tail -1)
mkdir -p "$OUT"

say() { printf '[drill] %s\n' "$*"; }
bash scripts/services.sh
cargo build --release --workspace --quiet
FLEETD="$REPO/target/release/fleetd"
SIM="$REPO/target/release/fleet-sim"

FLEETD_PID=""
start_fleetd() {
  FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="$MQTT_URL" FLEETD_HTTP_ADDR="$HTTP" FLEETD_REDIS_URL="" \
    FLEETD_MQTT_CLIENT_ID="drill" FLEETD_MQTT_TOPIC_PREFIX="drill" FLEETD_MQTT_RECONNECT_MAX_MS=1000 \
    "$FLEETD" serve >> "$OUT/fleetd.log" 2>&1 &
  FLEETD_PID=$!
  for _ in $(seq 1 600); do curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  say "fleetd did not start"; tail -20 "$OUT/fleetd.log"; exit 1
}
stop_fleetd() { [ -n "$FLEETD_PID" ] && kill -TERM "$FLEETD_PID" 2>/dev/null && wait "$FLEETD_PID" || true; FLEETD_PID=""; }
trap stop_fleetd EXIT
pg() { pg_ctlcluster --skip-systemctl-redirect "$PGVER" main "$1"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

failed=0
for drill in "${DRILLS[@]}"; do
  say "=== $drill: $READINGS readings at $RATE/s"
  psql -qX postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  start_fleetd
  "$SIM" run --mqtt-url "$MQTT_URL" --prefix drill --vehicles 2000 --format json-batch --batch 50 \
    --rate "$RATE" --readings "$READINGS" --qos 1 --quiet --manifest "$OUT/$drill.jsonl" \
    --fault-duplicate 1 --fault-out-of-order 1 --fault-malformed 0.5 > "$OUT/$drill-sim.txt" 2>&1 &
  sim=$!
  sleep 10
  case "$drill" in
    kill9) say "kill -9 fleetd"; kill -9 "$FLEETD_PID"; wait "$FLEETD_PID" 2>/dev/null || true; start_fleetd ;;
    pgrestart) say "restarting PostgreSQL"; pg restart ;;
    broker)
      say "restarting Mosquitto (SIGTERM, then services.sh starts it again)"
      kill -TERM "$(cat .run/mosquitto/mosquitto.pid)"; sleep 1; bash scripts/services.sh >/dev/null ;;
    pgdown)
      say "stopping PostgreSQL for 60 s; fleetd RSS every 5 s:"
      pg stop
      for i in $(seq 1 12); do sleep 5; say "  t+$((i * 5))s rss $(( $(rss_kb "$FLEETD_PID") / 1024 )) MiB, in flight $(curl -s "http://$HTTP/metrics" | awk '/^fleetd_in_flight_bytes/ {print $2}') bytes"; done
      pg start ;;
    *) say "unknown drill $drill"; exit 2 ;;
  esac
  wait "$sim" || say "fleet-sim reported errors (expected when its broker restarts)"
  want=$(head -1 "$OUT/$drill.jsonl" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["expected"]["gps"] + d["expected"]["obd"])')
  for _ in $(seq 1 1200); do
    got=$(psql -qtAX "$DB_URL" -c "select (select count(*) from gps_readings) + (select count(*) from obd_readings)" 2>/dev/null || echo 0)
    [ "$got" -ge "$want" ] && break
    sleep 0.25
  done
  if "$SIM" verify --manifest "$OUT/$drill.jsonl" --database-url "$DB_URL"; then
    say "$drill: PASS (expected $want, stored $got, fleetd peak rss $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$FLEETD_PID/status") MiB)"
  else
    say "$drill: FAIL"; failed=1
  fi
  stop_fleetd
done
exit $failed
