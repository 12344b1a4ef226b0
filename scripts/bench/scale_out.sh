#!/usr/bin/env bash
# Scale-out benchmark (issue 18): fleetd on one Mosquitto vs fleetd nodes sharing a NATS
# JetStream consumer, side by side in one run, interleaved, each repeated.
#
#   scripts/bench/scale_out.sh                      # 200,000 readings per run, once each
#   scripts/bench/scale_out.sh --readings N --repeat R --nodes "1 2 3" --replicas 3
#
# Scenarios, each from a fresh database (and a fresh NATS cluster):
#   mosquitto  fleet-sim → the project's Mosquitto configuration → one fleetd → PostgreSQL
#   js:N       fleet-sim → nats-server's MQTT listener (a 3-node cluster, the stream kept on
#              --replicas of them) → N fleetd nodes sharing the durable consumer → PostgreSQL
# Each ends when every reading is committed, then `fleet-sim verify` (lost / duplicated, exact).
# Reported per run: readings/s from fleet-sim's first publish to the last commit, publish-to-
# commit latency (fleetd_ingest_latency_seconds: arrival at fleetd to commit, p50/p99 bucket
# bounds, the worst node's), CPU seconds of fleetd (all nodes), of the broker (all NATS nodes)
# and of PostgreSQL per million readings. Everything shares this machine's cores, so more nodes
# cannot add cores: read the CPU per reading, not the rate, for what a node costs.
# Results: a table on stdout and .run/scale/results.json.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"

READINGS=200000
REPEAT=1
NODES="1 2 3"
REPLICAS=3
VEHICLES=2000
# fleet-sim's MQTT connections: real trackers each have their own, and nats-server 2.9 answers a
# connection's QoS 1 publishes one at a time (each PUBACK after the stream stored the reading),
# so a few connections would measure the round trip, not the servers.
CONNECTIONS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --readings) READINGS="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --nodes) NODES="$2"; shift ;;
    --replicas) REPLICAS="$2"; shift ;;
    --vehicles) VEHICLES="$2"; shift ;;
    --connections) CONNECTIONS="$2"; shift ;;
    *) echo "usage: $0 [--readings N] [--repeat R] [--nodes \"1 2 3\"] [--replicas 1|3] [--vehicles V] [--connections C]" >&2; exit 2 ;;
  esac
  shift
done
case "$REPLICAS" in 1 | 3) ;; *) echo "--replicas: 1 or 3" >&2; exit 2 ;; esac
for n in $NODES; do
  case "$n" in [1-3]) ;; *) echo "--nodes: counts from 1 to 3, not $n" >&2; exit 2 ;; esac
done

OUT="$REPO/.run/scale"
DB=fleetd_scale
DB_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
NATS_CLIENT=(4241 4242 4243) NATS_MQTT=(1901 1902 1903) NATS_ROUTE=(6241 6242 6243) NATS_HTTP=(8241 8242 8243)
HTTP_PORTS=(18091 18092 18093)
mkdir -p "$OUT"
say() { printf '[scale] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
command -v nats-server >/dev/null || { say "nats-server is missing (apt-get install nats-server)"; exit 1; }
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
NATS_PIDS=() FLEETD_PIDS=() PB_ANON_PID=""
stop_nats() { [ ${#NATS_PIDS[@]} -eq 0 ] || { kill "${NATS_PIDS[@]}" 2>/dev/null || true; wait "${NATS_PIDS[@]}" 2>/dev/null || true; }; NATS_PIDS=(); }
cleanup() {
  kill "${FLEETD_PIDS[@]}" 2>/dev/null || true
  stop_nats
  kill "$PB_ANON_PID" 2>/dev/null || true
}
trap cleanup EXIT
private_broker "$OUT/broker" anonymous >&2
PB_ANON_PID=$PB_PID
say "building release binaries"
cargo build --release --workspace --quiet
FLEETD="$REPO/target/release/fleetd" SIM="$REPO/target/release/fleet-sim"

psql_q() { psql -qtAX "$DB_URL" -c "$1"; }
reset_db() {
  psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  FLEETD_DATABASE_URL="$DB_URL" "$FLEETD" migrate >/dev/null 2>&1
}
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
pg_ticks() { ticks $(pgrep -u postgres -x postgres || true); }
now() { date +%s.%N; }
json_get() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print($1)"; }
# The smallest bucket bound holding quantile q of fleetd_ingest_latency_seconds.
quantile() {
  awk -v q="$1" '/^fleetd_ingest_latency_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); b[++n] = le; c[n] = $2 }
    END { t = c[n]; for (i = 1; i <= n; i++) if (c[i] >= q * t) { print b[i]; exit } }'
}

# A fresh 3-node NATS cluster with JetStream and the MQTT listener.
start_nats() {
  stop_nats
  rm -rf "$OUT/nats"
  local i routes=""
  for i in 0 1 2; do routes="$routes nats-route://127.0.0.1:${NATS_ROUTE[$i]}"; done
  for i in 0 1 2; do
    mkdir -p "$OUT/nats/n$i"
    cat > "$OUT/nats/n$i.conf" <<EOF
server_name: s$i
listen: 127.0.0.1:${NATS_CLIENT[$i]}
http: 127.0.0.1:${NATS_HTTP[$i]}
jetstream { store_dir: "$OUT/nats/n$i" }
mqtt { listen: 127.0.0.1:${NATS_MQTT[$i]}, stream_replicas: 3 }
cluster { name: bench, listen: 127.0.0.1:${NATS_ROUTE[$i]}, routes: [$(echo "$routes" | sed 's/ /, /g; s/^, //')] }
EOF
    nats-server -c "$OUT/nats/n$i.conf" > "$OUT/nats/n$i.log" 2>&1 &
    NATS_PIDS+=($!)
  done
  for _ in $(seq 1 300); do
    local ok=0
    for i in 0 1 2; do
      curl -fsS "http://127.0.0.1:${NATS_HTTP[$i]}/healthz?js-enabled-only=true" >/dev/null 2>&1 && ok=$((ok + 1))
    done
    [ $ok -eq 3 ] && curl -fsS "http://127.0.0.1:${NATS_HTTP[0]}/jsz" 2>/dev/null | grep -q '"meta_cluster"' && \
      curl -fsS "http://127.0.0.1:${NATS_HTTP[0]}/jsz" | grep -q '"leader"' && return 0
    sleep 0.1
  done
  say "the NATS cluster did not become ready"; exit 1
}

RESULTS=()
run() { # scenario: mosquitto | js:N
  local scenario=$1 nodes=1 mqtt_url pids=() broker_pids=() prefix="sc$RANDOM"
  reset_db
  local envs=(FLEETD_DATABASE_URL="$DB_URL" FLEETD_REDIS_URL= FLEETD_INGEST_UNKNOWN_VEHICLES=store
              FLEETD_MQTT_TOPIC_PREFIX="$prefix")
  if [ "$scenario" = mosquitto ]; then
    mqtt_url="mqtt://127.0.0.1:$PB_PORT"; broker_pids=("$PB_PID")
    envs+=(FLEETD_MQTT_URL="$mqtt_url" FLEETD_MQTT_CLIENT_ID="sc$RANDOM")
  else
    nodes=${scenario#js:}
    start_nats; broker_pids=("${NATS_PIDS[@]}")
    mqtt_url="mqtt://127.0.0.1:${NATS_MQTT[0]}"
    # mqtt.url: nats-server's MQTT listener, which fleetd connects to once so that nats-server
    # creates the stream fleetd reads ($MQTT_msgs).
    envs+=(FLEETD_INGEST_SOURCE=jetstream FLEETD_JETSTREAM_REPLICAS="$REPLICAS" FLEETD_MQTT_URL="$mqtt_url"
           FLEETD_JETSTREAM_URLS="nats://127.0.0.1:${NATS_CLIENT[0]},nats://127.0.0.1:${NATS_CLIENT[1]},nats://127.0.0.1:${NATS_CLIENT[2]}")
  fi
  local i
  for ((i = 0; i < nodes; i++)); do
    env "${envs[@]}" FLEETD_HTTP_ADDR="127.0.0.1:${HTTP_PORTS[$i]}" FLEETD_JETSTREAM_NAME="node$i" \
      "$FLEETD" serve > "$OUT/fleetd-$scenario-$i.log" 2>&1 &
    pids+=($!)
  done
  FLEETD_PIDS=("${pids[@]}")
  # Ready means the consumer exists: what trackers publish before that, nats-server drops.
  for ((i = 0; i < nodes; i++)); do
    local ready=0
    for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:${HTTP_PORTS[$i]}/readyz" >/dev/null 2>&1 && { ready=1; break; }; sleep 0.1; done
    [ $ready = 1 ] || { say "$scenario: fleetd node $i not ready in 30 s (see $OUT/fleetd-$scenario-$i.log)"; exit 1; }
  done
  local c0 b0 g0 t0; c0=$(ticks "${pids[@]}"); b0=$(ticks "${broker_pids[@]}"); g0=$(pg_ticks); t0=$(now)
  "$SIM" run --mqtt-url "$mqtt_url" --prefix "$prefix" --vehicles "$VEHICLES" --connections "$CONNECTIONS" --max-rate --readings "$READINGS" \
    --qos 1 --quiet --json --manifest "$OUT/manifest.jsonl" > "$OUT/sim.json" 2>"$OUT/sim.err" || say "fleet-sim: $(tail -3 "$OUT/sim.err")"
  local want stored=0 last=-1 still=0
  want=$(head -1 "$OUT/manifest.jsonl" | json_get 'd["expected"]["gps"] + d["expected"]["obd"]')
  for _ in $(seq 1 12000); do
    stored=0
    for ((i = 0; i < nodes; i++)); do
      stored=$((stored + $(curl -s "http://127.0.0.1:${HTTP_PORTS[$i]}/metrics" | awk '/^fleetd_readings_stored_total/ {s+=$2} END {print s+0}')))
    done
    [ "$stored" -ge "$want" ] && break
    if [ "$stored" = "$last" ]; then still=$((still + 1)); else still=0; last=$stored; fi
    [ "$still" -lt 600 ] || { say "$scenario: stalled at $stored of $want readings"; break; }
    sleep 0.05
  done
  local t1; t1=$(now)
  local cpu bcpu gcpu; cpu=$(( $(ticks "${pids[@]}") - c0 )); bcpu=$(( $(ticks "${broker_pids[@]}") - b0 )); gcpu=$(( $(pg_ticks) - g0 ))
  local p50=0 p99=0 q
  for ((i = 0; i < nodes; i++)); do
    local m; m=$(curl -s "http://127.0.0.1:${HTTP_PORTS[$i]}/metrics")
    q=$(quantile 0.5 <<<"$m"); p50=$(awk -v a="$p50" -v b="$q" 'BEGIN {print (b > a) ? b : a}')
    q=$(quantile 0.99 <<<"$m"); p99=$(awk -v a="$p99" -v b="$q" 'BEGIN {print (b > a) ? b : a}')
  done
  kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
  FLEETD_PIDS=()
  local verify lost dup
  verify=$("$SIM" verify --manifest "$OUT/manifest.jsonl" --database-url "$DB_URL" --json 2>/dev/null || true)
  lost=$(json_get 'd["lost"]["gps"] + d["lost"]["obd"]' <<<"$verify" || echo null)
  dup=$(json_get 'd["duplicated"]["gps"] + d["duplicated"]["obd"]' <<<"$verify" || echo null)
  [ "$scenario" = mosquitto ] || stop_nats
  local secs rate per; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  rate=$(awk -v n="$stored" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
  per() { awk -v t="$1" -v n="$stored" 'BEGIN {printf "%.1f", t / 100 / n * 1e6}'; }
  say "$scenario: $stored readings in ${secs}s = ${rate}/s; latency p50<=${p50}s p99<=${p99}s; CPU s per million readings: fleetd $(per $cpu), broker $(per $bcpu), postgres $(per $gcpu); lost ${lost} dup ${dup}"
  RESULTS+=("{\"scenario\":\"$scenario\",\"replicas\":$([ "$scenario" = mosquitto ] && echo null || echo "$REPLICAS"),\"readings\":$stored,\"seconds\":$secs,\"readings_per_s\":$rate,\"latency_p50_le_s\":\"$p50\",\"latency_p99_le_s\":\"$p99\",\"fleetd_cpu_s_per_m\":$(per $cpu),\"broker_cpu_s_per_m\":$(per $bcpu),\"postgres_cpu_s_per_m\":$(per $gcpu),\"lost\":${lost:-null},\"duplicated\":${dup:-null}}")
}

SCENARIOS="mosquitto"
for n in $NODES; do SCENARIOS="$SCENARIOS js:$n"; done
for r in $(seq 1 "$REPEAT"); do
  for s in $SCENARIOS; do
    say "round $r: $s"
    run "$s"
  done
done
printf '%s\n' "${RESULTS[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
json.dump(rows, open(sys.argv[1], "w"), indent=1)
print("| scenario | readings/s | p50 / p99 latency <= s | fleetd CPU s/M | broker CPU s/M | PostgreSQL CPU s/M | lost | dup |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
cols = ["scenario", "readings_per_s", "latency_p50_le_s", "latency_p99_le_s", "fleetd_cpu_s_per_m",
        "broker_cpu_s_per_m", "postgres_cpu_s_per_m", "lost", "duplicated"]
for r in rows:
    v = [r[c] for c in cols]
    print("| {} | {:,} | {} / {} | {} | {} | {} | {} | {} |".format(*v))
' "$OUT/results.json"
