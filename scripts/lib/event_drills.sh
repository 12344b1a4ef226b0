# shellcheck shell=bash
# The event delivery drills of scripts/drills.sh (events_receiver_down, events_kill9,
# events_pgrestart; its header says what they do). Sourced by it after its own functions:
# uses say, start_fleetd, stop_fleetd, pg, free_port and DB, DB_URL, HTTP, MQTT_URL, PORT, OUT, SIM,
# FLEETD_PID, FLEETD_ENV. Defines functions only; event_drill sets EVENT_LINE (the PASS/FAIL
# line) and returns 1 on FAIL.

EV_PASSWORD="drill-admin-password"
EV_RECEIVER_PID="" EV_SSE_PID="" EV_TRAFFIC_PID="" EV_SIM_PID="" EV_MQTT_PID=""
# Where fleetd publishes the events on the drill's broker (outside its telemetry prefix).
EV_TOPICS="drill-events"

# stop_event_helpers: ends what an event drill started but fleetd (also on the way out).
stop_event_helpers() {
  local pid
  for pid in "$EV_TRAFFIC_PID" "$EV_SIM_PID" "$EV_SSE_PID" "$EV_RECEIVER_PID" "$EV_MQTT_PID"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  EV_RECEIVER_PID="" EV_SSE_PID="" EV_TRAFFIC_PID="" EV_SIM_PID="" EV_MQTT_PID="" EV_MQTT_PID=""
# Where fleetd publishes the events on the drill's broker (outside its telemetry prefix).
EV_TOPICS="drill-events"
}

# ev_receiver_start DIR PORT SECRET DELAY_MS: the receiver, appending every delivery to
# DIR/receipts.jsonl, answering each DELAY_MS after it arrived.
ev_receiver_start() {
  python3 "$REPO/scripts/bench/webhook_receiver.py" "$2" "$3" "$1/receipts.jsonl" "$4" 2>>"$1/receiver.log" &
  EV_RECEIVER_PID=$!
  local _
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$2/_stats" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  say "the receiver did not start"; return 1
}

# ev_claims: queues a daemon is delivering now.
ev_claims() { psql -qtAX "$DB_URL" -c "SELECT count(*) FROM webhook_queues WHERE claimed_until > now()" 2>/dev/null || echo 0; }

ev_receipts() { wc -l < "$1/receipts.jsonl" 2>/dev/null || echo 0; }

# ev_token: the admin's access token.
ev_token() {
  curl -fsS -X POST "http://$HTTP/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$EV_PASSWORD\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# event_drill NAME RUN
event_drill() {
  local drill=$1 run=$2 dir="$OUT/$1-$2" port secret after token recovered n0 _ rc=0
  local down_s="${DRILL_RECEIVER_DOWN_S:-600}" after_s="${DRILL_EVENT_AFTER_S:-30}"
  local sim_s delay_ms=0 claims=0
  # Where the daemon or its database goes away, the receiver takes its time, so that
  # deliveries are in flight when it happens.
  [ "$drill" = events_receiver_down ] || delay_ms="${DRILL_RECEIVER_DELAY_MS:-100}"
  rm -rf "$dir"
  mkdir -p "$dir"
  say "=== $drill, run $run of $RUNS (files in $dir)"
  psql -qX postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  # shellcheck disable=SC2034 # read by start_fleetd, in scripts/drills.sh
  FLEETD_ENV=(FLEETD_JWT_SECRET="drill-jwt-secret-0123456789abcdef0123" FLEETD_ADMIN_PASSWORD="$EV_PASSWORD"
    FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 FLEETD_HTTP_LOGIN_PER_MINUTE=0 FLEETD_WEBHOOKS_ALLOW_PRIVATE=true
    FLEETD_WEBHOOKS_RETRY_MIN_MS=1000 FLEETD_WEBHOOKS_RETRY_MAX_MS="${DRILL_RETRY_MAX_MS:-10000}"
    FLEETD_WEBHOOKS_TIMEOUT_MS=2000 FLEETD_MQTT_PUBLISH_EVENTS=true FLEETD_MQTT_EVENTS_PREFIX="$EV_TOPICS")
  # The third path: a persistent QoS 1 subscriber to the events fleetd publishes on the broker.
  # shellcheck disable=SC2153 # PORT: the drill broker's, set by scripts/drills.sh
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -c -i "ev-drill-$run" -t "$EV_TOPICS/#" -v \
    > "$dir/mqtt.txt" 2>>"$dir/mqtt.log" &
  EV_MQTT_PID=$!
  start_fleetd
  # The publisher starts after the last event numbered when it first runs: wait for it.
  for _ in $(seq 1 100); do
    [ "$(psql -qtAX "$DB_URL" -c "SELECT count(*) FROM event_publishers" 2>/dev/null)" = 1 ] && break
    sleep 0.1
  done
  port=$(free_port)
  secret="whsec_drill_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  ev_receiver_start "$dir" "$port" "$secret" "$delay_ms"
  # Nothing changes yet: the subscription takes every event after this one.
  after=$(psql -qtAX "$DB_URL" -c "SELECT last_id FROM event_counter")
  token=$(ev_token)
  curl -fsS -X POST "http://$HTTP/v1/webhooks" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:$port/hook\",\"events\":[\"*\"],\"secret\":\"$secret\",\"description\":\"$drill\"}" \
    > "$dir/subscription.json"
  python3 "$REPO/scripts/lib/sse_client.py" "http://$HTTP" "$EV_PASSWORD" '*' "$after" "$dir/stream.jsonl" 2>>"$dir/sse.log" &
  EV_SSE_PID=$!
  sim_s=$((10 + after_s + 60))
  [ "$drill" = events_receiver_down ] && sim_s=$((sim_s + down_s))
  "$SIM" run --mqtt-url "$MQTT_URL" --prefix drill --vehicles 200 --format json-batch --batch 10 \
    --rate "${DRILL_EVENT_SIM_RATE:-1000}" --duration "${sim_s}s" --qos 1 --quiet > "$dir/sim.txt" 2>&1 &
  EV_SIM_PID=$!
  python3 "$REPO/scripts/lib/event_traffic.py" "http://$HTTP" "$EV_PASSWORD" --rate "${DRILL_EVENT_RATE:-20}" \
    > "$dir/traffic.json" 2>>"$dir/traffic.log" &
  EV_TRAFFIC_PID=$!
  sleep 10
  n0=$(ev_receipts "$dir")
  [ "$n0" -gt 0 ] || say "no delivery yet after 10 s (see $dir/receiver.log, $OUT/fleetd.log)"
  case "$drill" in
    events_receiver_down)
      say "receiver down for $down_s s ($n0 deliveries so far)"
      kill -TERM "$EV_RECEIVER_PID"; wait "$EV_RECEIVER_PID" 2>/dev/null || true
      sleep "$down_s"
      ev_receiver_start "$dir" "$port" "$secret" "$delay_ms"
      recovered=$(date +%s.%N)
      say "receiver back" ;;
    events_kill9)
      # Mid-delivery: as soon as fleetd holds claims on queues (deliveries in flight).
      for _ in $(seq 1 200); do claims=$(ev_claims); [ "$claims" -gt 0 ] && break; done
      kill -9 "$FLEETD_PID"; wait "$FLEETD_PID" 2>/dev/null || true
      say "killed fleetd (-9) holding $claims queue claims, $(ev_receipts "$dir") deliveries so far"
      start_fleetd
      recovered=$(date +%s.%N)
      say "fleetd back" ;;
    events_pgrestart)
      for _ in $(seq 1 200); do claims=$(ev_claims); [ "$claims" -gt 0 ] && break; done
      pg restart
      recovered=$(date +%s.%N)
      say "restarted PostgreSQL at $(date -u +%FT%TZ) with $claims queue claims held, $(ev_receipts "$dir") deliveries so far" ;;
    *) say "unknown drill $drill"; exit 2 ;;
  esac
  sleep "$after_s"
  kill -TERM "$EV_TRAFFIC_PID" 2>/dev/null || true; wait "$EV_TRAFFIC_PID" 2>/dev/null || true
  kill -TERM "$EV_SIM_PID" 2>/dev/null || true; wait "$EV_SIM_PID" 2>/dev/null || true
  EV_TRAFFIC_PID="" EV_SIM_PID=""
  say "traffic: $(cat "$dir/traffic.json")"
  EVENT_LINE=$(python3 "$REPO/scripts/lib/event_verify.py" --db "$DB_URL" --after "$after" \
    --receipts "$dir/receipts.jsonl" --sse "$dir/stream.jsonl" --recovered "$recovered" \
    --mqtt "$dir/mqtt.txt" --mqtt-prefix "$EV_TOPICS" \
    --wait "${DRILL_EVENT_WAIT_S:-900}" --label "$drill run $run" --json "$dir/verify.json") || rc=1
  [ -n "$EVENT_LINE" ] || EVENT_LINE="FAIL $drill run $run: the check did not run (see above)"
  say "$EVENT_LINE"
  say "deliveries: $(psql -qtAX "$DB_URL" -c "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM webhook_deliveries GROUP BY 1 ORDER BY 1) s")"
  stop_event_helpers
  stop_fleetd
  # shellcheck disable=SC2034 # read by start_fleetd, in scripts/drills.sh
  FLEETD_ENV=()
  return "$rc"
}
