#!/usr/bin/env bash
# Reliability drills at full size, against the real services (the test suite runs the same drills
# small: tests/it/ingest/drills.rs, `cargo test --test it ingest::drills::`). While fleet-sim
# publishes at QoS 1:
#   kill9          kill -9 fleetd mid-stream and start it again
#   pgrestart      restart the PostgreSQL cluster (pg_ctlcluster restart)
#   broker         restart the broker gracefully (persistence on); the drills run their own,
#                  configured as config/mosquitto.conf but anonymous, in .run/drills/broker/
#   pgdown         stop PostgreSQL for 60 s, sampling fleetd's RSS every 5 s (it must stay
#                  bounded), then start it again
#   pg_broker      restart PostgreSQL, then 10 s later restart the broker gracefully
#   kill9_pg_broker  kill -9 fleetd (started again), then pg_broker
#   broker_kill9   kill -9 the broker and start it again: Mosquitto has no write-ahead log, so
#                  it loses what it accepted since its last autosave (autosave_interval, 10 s in
#                  config/mosquitto.conf); the drill passes if nothing is duplicated or
#                  unexpected and the loss stays within RATE x autosave_interval readings
# fleetd reconnects to the broker only after 2 s (FLEETD_MQTT_RECONNECT_MIN_MS), so fleet-sim is
# back first and publishes before fleetd has re-subscribed: the window of a broker restart.
# Each drill runs DRILL_RUNS times (default 3) and each run ends with an exact `fleet-sim verify`:
# lost = 0, duplicated = 0, unexpected = 0.
#
# Event delivery drills (issue 15; `events` selects the three; not in the default list, which
# stays the ingestion drills). While fleet-sim publishes (DRILL_EVENT_SIM_RATE readings/s,
# default 1,000) and scripts/lib/event_traffic.py makes API state changes as the admin
# (DRILL_EVENT_RATE requests/s, default 20: vehicles, breakdowns, rentals, maintenance,
# dispatch jobs, a new aggregate every few requests), a webhook subscription to `*` delivers to
# scripts/bench/webhook_receiver.py, which logs every delivery, and scripts/lib/sse_client.py
# follows GET /v1/stream?events=* (resuming with Last-Event-ID after each disconnect), and
# fleetd publishes every event on the drill's broker (mqtt.publish_events, topics
# drill-events/{type}/{aggregate_id}) to a persistent QoS 1 mosquitto_sub:
#   events_receiver_down  the receiver is down (killed, port closed) for DRILL_RECEIVER_DOWN_S
#                  (default 600), then started again
#   events_kill9   kill -9 fleetd while deliveries are in flight (it holds queue claims), and
#                  start it again
#   events_pgrestart  restart the PostgreSQL cluster (pg_ctlcluster restart), deliveries in flight
# In these two the receiver answers each delivery DRILL_RECEIVER_DELAY_MS (default 100) late, so
# that deliveries are in flight when the fault strikes.
# Traffic runs 10 s before the fault and DRILL_EVENT_AFTER_S (default 30) after it. fleetd runs
# with webhooks.retry_min_ms 1000 and retry_max_ms DRILL_RETRY_MAX_MS (default 10000, not
# the 30 min default), so every queue is retried within 10 s of the receiver's return, and
# webhooks.timeout_ms 2000, so the claims of a killed daemon expire after 26 s (timeout x 8
# + 10 s) instead of 90 s. scripts/lib/event_verify.py then checks against the database that
# every event numbered since the subscription was received at least once, with a valid
# signature and the stored event's exact body (so duplicates are identical), each aggregate's
# first receipts in id order, and that the stream client got every event exactly once in id
# order. Its PASS/FAIL line counts events, receipts, duplicates, retried receipts, stream
# reconnects and the max delay after recovery (fault end, or the event if later, to its
# first receipt). Files in .run/drills/<drill>-<run>/.
#
# Cluster drills (issue 18; `cluster` selects the four; not in the default list): three fleetd
# nodes on a three-node NATS JetStream cluster with a read replica, scripts/cluster.sh's, on
# ports of their own: cluster_kill9 (a fleetd node), cluster_nats_kill9 (the NATS node leading
# $MQTT_msgs), cluster_rolling (every fleetd node in turn), cluster_replica (the replica stopped:
# reads from the primary). scripts/lib/cluster_drills.sh says what each does and how it is
# judged: exact verify, and throughput back within DRILL_CLUSTER_BACK_S (10) of the fault.
# DRILL_CLUSTER_RATE (5,000 readings/s, one per payload) and DRILL_CLUSTER_READINGS (300,000)
# size them.
#
#   scripts/drills.sh                          # the ingestion drills, 3 runs each
#   DRILL_RUNS=1 scripts/drills.sh kill9 broker  # some, once
#   DRILL_RUNS=1 scripts/drills.sh events      # the event drills, once
#   DRILL_RUNS=1 scripts/drills.sh cluster     # the cluster drills, once
#   DRILL_RUNS=1 DRILL_RECEIVER_DOWN_S=120 scripts/drills.sh events_receiver_down
#   FLEETD_MQTT_SUBSCRIPTION=shared FLEETD_MQTT_CONNECTIONS=2 scripts/drills.sh pg_broker
#                                              # the shared subscription: loses readings on
#                                              # Mosquitto 2.0
# Note: the pg* drills and events_pgrestart restart the machine's PostgreSQL cluster; run them
# on a dev machine.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"
DRILLS=()
for d in "$@"; do
  case "$d" in
    events) DRILLS+=(events_receiver_down events_kill9 events_pgrestart) ;;
    cluster) DRILLS+=(cluster_kill9 cluster_nats_kill9 cluster_rolling cluster_replica) ;;
    *) DRILLS+=("$d") ;;
  esac
done
[ ${#DRILLS[@]} -gt 0 ] || DRILLS=(kill9 pgrestart broker pgdown pg_broker kill9_pg_broker broker_kill9)
RUNS="${DRILL_RUNS:-3}"
DB=fleetd_drill
DB_URL="postgres://postgres@127.0.0.1:5432/$DB"
HTTP=127.0.0.1:18081
OUT="$REPO/.run/drills"
RATE="${DRILL_RATE:-20000}"
READINGS="${DRILL_READINGS:-600000}"
PGVER=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -1)
mkdir -p "$OUT"

say() { printf '[drill] %s\n' "$*"; }
bash scripts/services.sh
# A broker of its own, configured as the project's (config/mosquitto.conf) but anonymous: the
# drills test the delivery guarantee, not authentication, and restart it at will.
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
private_broker "$OUT/broker" anonymous
PORT=$PB_PORT
MQTT_URL="mqtt://127.0.0.1:$PORT"
say "broker: $MQTT_URL (data in $OUT/broker)"
cargo build --release --workspace --quiet
FLEETD="${CARGO_TARGET_DIR:-$REPO/target}/release/fleetd"
SIM="${CARGO_TARGET_DIR:-$REPO/target}/release/fleet-sim"

FLEETD_PID=""
FLEETD_ENV=()   # more FLEETD_* settings (the event drills')
start_fleetd() {
  FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="$MQTT_URL" FLEETD_HTTP_ADDR="$HTTP" FLEETD_REDIS_URL="" \
    FLEETD_MQTT_CLIENT_ID="drill" FLEETD_MQTT_TOPIC_PREFIX="drill" FLEETD_INGEST_UNKNOWN_VEHICLES=store \
    FLEETD_MQTT_RECONNECT_MIN_MS=2000 FLEETD_MQTT_RECONNECT_MAX_MS=2000 \
    env "${FLEETD_ENV[@]}" "$FLEETD" serve >> "$OUT/fleetd.log" 2>&1 &
  FLEETD_PID=$!
  for _ in $(seq 1 600); do curl -fsS "http://$HTTP/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  say "fleetd did not start"; tail -20 "$OUT/fleetd.log"; exit 1
}
stop_fleetd() {
  if [ -n "$FLEETD_PID" ] && kill -TERM "$FLEETD_PID" 2>/dev/null; then wait "$FLEETD_PID" || true; fi
  FLEETD_PID=""
}
trap 'stop_event_helpers; cl_stop_helpers; stop_fleetd; kill "$PB_PID" 2>/dev/null || true; [ ! -d "$CL_DIR" ] || cl down >/dev/null 2>&1 || true' EXIT
pg() { pg_ctlcluster --skip-systemctl-redirect "$PGVER" main "$1"; }
broker_restart() { # TERM (graceful: saves its database) or KILL (loses what came since the last save)
  kill "-$1" "$PB_PID"
  wait "$PB_PID" 2>/dev/null || true
  private_broker_start
}
AUTOSAVE_S=$(awk '$1 == "autosave_interval" {print $2}' config/mosquitto.conf)
# A drill with the shared subscription must not inherit the sessions of an earlier run.
drop_sessions() {
  local i pids=()
  for i in $(seq 0 7); do
    timeout 5 mosquitto_sub -p "$PORT" -i "drill-$i" -t none -W 1 >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# shellcheck source=scripts/lib/event_drills.sh
source "$REPO/scripts/lib/event_drills.sh"
# shellcheck source=scripts/lib/cluster_drills.sh
source "$REPO/scripts/lib/cluster_drills.sh"

failed=0
summary=()
for drill in "${DRILLS[@]}"; do
 for run in $(seq 1 "$RUNS"); do
  case "$drill" in
    events_*)
      event_drill "$drill" "$run" || failed=1
      summary+=("$EVENT_LINE")
      continue ;;
    cluster_*)
      cluster_drill "$drill" "$run" || failed=1
      summary+=("$CLUSTER_LINE")
      continue ;;
  esac
  say "=== $drill, run $run of $RUNS: $READINGS readings at $RATE/s"
  psql -qX postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  drop_sessions
  start_fleetd
  manifest="$OUT/$drill-$run.jsonl"
  "$SIM" run --mqtt-url "$MQTT_URL" --prefix drill --vehicles 2000 --format json-batch --batch 50 \
    --rate "$RATE" --readings "$READINGS" --qos 1 --quiet --manifest "$manifest" \
    --fault-duplicate 1 --fault-out-of-order 1 --fault-malformed 0.5 > "$OUT/$drill-$run-sim.txt" 2>&1 &
  sim=$!
  sleep 10
  case "$drill" in
    kill9) say "kill -9 fleetd"; kill -9 "$FLEETD_PID"; wait "$FLEETD_PID" 2>/dev/null || true; start_fleetd ;;
    pgrestart) say "restarting PostgreSQL"; pg restart ;;
    broker) say "restarting Mosquitto (SIGTERM, then start it again)"; broker_restart TERM ;;
    pgdown)
      say "stopping PostgreSQL for 60 s; fleetd RSS every 5 s:"
      pg stop
      for i in $(seq 1 12); do sleep 5; say "  t+$((i * 5))s rss $(( $(rss_kb "$FLEETD_PID") / 1024 )) MiB, in flight $(curl -s "http://$HTTP/metrics" | awk '/^fleetd_in_flight_bytes/ {print $2}') bytes"; done
      pg start ;;
    pg_broker|kill9_pg_broker)
      if [ "$drill" = kill9_pg_broker ]; then
        say "kill -9 fleetd"; kill -9 "$FLEETD_PID"; wait "$FLEETD_PID" 2>/dev/null || true; start_fleetd
      fi
      say "restarting PostgreSQL"; pg restart
      sleep 10
      say "restarting Mosquitto (SIGTERM, then start it again)"; broker_restart TERM ;;
    broker_kill9) say "kill -9 Mosquitto, then start it again"; broker_restart KILL ;;
    *) say "unknown drill $drill"; exit 2 ;;
  esac
  wait "$sim" || say "fleet-sim reported errors (expected when its broker restarts)"
  want=$(head -1 "$manifest" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["expected"]["gps"] + d["expected"]["obd"])')
  # Wait for the count to reach what was sent, or to stop moving for 10 s (readings lost).
  last=-1; still=0
  for _ in $(seq 1 1200); do
    got=$(psql -qtAX "$DB_URL" -c "select (select count(*) from gps_readings) + (select count(*) from obd_readings)" 2>/dev/null || echo 0)
    [ "$got" -ge "$want" ] && break
    if [ "$got" = "$last" ]; then still=$((still + 1)); else still=0; last=$got; fi
    [ "$still" -ge 40 ] && break
    sleep 0.25
  done
  report=$("$SIM" verify --manifest "$manifest" --database-url "$DB_URL" --json || true)
  read -r lost dup unexpected < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); t=lambda k: d[k]["gps"] + d[k]["obd"]; print(t("lost"), t("duplicated"), t("unexpected"))' "$report")
  allowed=0
  [ "$drill" = broker_kill9 ] && allowed=$((RATE * AUTOSAVE_S))
  rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$FLEETD_PID/status")
  line="$drill run $run: expected $want, stored $got, lost $lost (allowed $allowed), duplicated $dup, unexpected $unexpected, fleetd peak rss $rss MiB"
  if [ "$dup" -eq 0 ] && [ "$unexpected" -eq 0 ] && [ "$lost" -le "$allowed" ]; then
    say "PASS $line"; summary+=("PASS $line")
  else
    say "FAIL $line"; summary+=("FAIL $line"); failed=1
    echo "$report" > "$OUT/$drill-$run-verify.json"
  fi
  stop_fleetd
 done
done
say "summary:"
for line in "${summary[@]}"; do say "  $line"; done
exit $failed
