#!/usr/bin/env bash
# Nearest-vehicle queries side by side, in one run, on this machine:
#   fleetd   GET /v1/dispatch/nearest over HTTP (live index + driver roster, from memory)
#   postgis  KNN on a GiST-indexed geography column (ORDER BY position <-> point LIMIT k, then the radius)
#   redis    GEOSEARCH key FROMLONLAT lon lat BYRADIUS r m ASC COUNT k WITHDIST
# The same points, the same seeded query mix and the same closed-loop concurrency, all driven by
# one load tool (`fleet-sim peer nearest`); all three rank by great-circle distance. Every
# vehicle has an available driver, so fleetd's availability filter removes nothing and the
# three answer the same question (the `agree` line counts identical answers).
#
#   scripts/bench/nearest.sh                 # 100,000 vehicles, city and country spreads
#   scripts/bench/nearest.sh --quick         # 10,000 vehicles, shorter runs
#   scripts/bench/nearest.sh --vehicles N --seconds S --concurrency "4 50" --spreads "city"
#   scripts/bench/nearest.sh --security "off on" --repeat 3 --spreads city
#                                  # fleetd and postgis with their links plain ("off": fleetd's
#                                  # PostgreSQL sslmode=disable and broker over TCP; the load
#                                  # tool's PostgreSQL sslmode=disable) vs TLS ("on": fleetd's
#                                  # PostgreSQL verify-full and mqtts://, the load tool's
#                                  # PostgreSQL verify-full), interleaved, each repeated.
#                                  # fleetd's nearest route asks for a bearer token (JWT) in
#                                  # both: there is no unauthenticated mode to compare with.
#                                  # Redis is left out (the load tool's Redis client has no TLS).
#
# Results: a table on stdout and .run/nearest/results.jsonl.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"

VEHICLES=100000
SECONDS_EACH=10
WARMUP=2
CONCURRENCY="4 50"
SPREADS="city country"
K=10
RADIUS=5000
SECURITY=""
REPEAT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) VEHICLES=10000; SECONDS_EACH=4; WARMUP=1 ;;
    --vehicles) VEHICLES="$2"; shift ;;
    --seconds) SECONDS_EACH="$2"; shift ;;
    --concurrency) CONCURRENCY="$2"; shift ;;
    --spreads) SPREADS="$2"; shift ;;
    --security) SECURITY="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--vehicles N] [--seconds S] [--concurrency \"C ...\"] [--spreads \"city country\"] [--security \"off on\" [--repeat N]]" >&2; exit 2 ;;
  esac
  shift
done

DB=fleetd_nearest
for sec in $SECURITY; do
  case "$sec" in off | on) ;; *) echo "--security: off or on, not $sec" >&2; exit 2 ;; esac
done
# sslmode=disable: libpq's default (prefer) would negotiate TLS with a server that offers it.
DB_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
CA="$REPO/.run/tls/ca.crt"
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL="${FLEETD_BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
HTTP=127.0.0.1:18081
OUT="$REPO/.run/nearest"
PG_CA="$OUT/pg-ca.crt" # this checkout's CA and the one of the server's certificate (scripts/lib/pg_ca.sh)
DB_TLS_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=verify-full&sslrootcert=$PG_CA"
ADMIN_PASSWORD="nearest-bench-admin-password"
mkdir -p "$OUT"
: > "$OUT/results.jsonl"

say() { printf '[nearest] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
# fleetd needs a broker; a private anonymous one (nothing is published in this benchmark).
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
private_broker "$OUT/broker" anonymous ${SECURITY:+"$REPO/.run/tls"} >&2
# shellcheck source=scripts/lib/pg_ca.sh
source "$REPO/scripts/lib/pg_ca.sh"
say "building release binaries"
cargo build --release -p fleetd -p fleet-sim --bins --quiet
FLEETD="$REPO/target/release/fleetd"
SIM="$REPO/target/release/fleet-sim"
[ -x "$FLEETD" ] && [ -x "$SIM" ] || { say "cannot find the release binaries"; exit 1; }
FLEETD_PID=
FLEETD_SEC=

cleanup() {
  if [ -n "$FLEETD_PID" ]; then kill -TERM "$FLEETD_PID" 2>/dev/null || true; wait "$FLEETD_PID" 2>/dev/null || true; fi
  kill "$PB_PID" 2>/dev/null || true
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The whole cluster's CPU ticks: every live postgres process, plus what the postmaster's exited
# children used (the load's backends exit when the load tool disconnects; their time then
# moves to the postmaster's cutime + cstime, so the sum stays continuous).
pg_ticks() {
  local t=0 p pm
  for p in $(pgrep -x postgres || true); do t=$((t + $(cpu_ticks "$p"))); done
  pm=$(pgrep -o -x postgres || true)
  [ -z "$pm" ] || t=$((t + $(awk '{print $16 + $17}' "/proc/$pm/stat" 2>/dev/null || echo 0)))
  echo "$t"
}
redis_pid() { pgrep -x redis-server | head -1; }

# `fleet-sim peer nearest STEP --spread S ...`; setup takes no query flags. The bearer token
# goes by environment (FLEETD_BENCH_TOKEN), not on the command line.
peer() {
  local step=$1 spread=$2; shift 2
  local query=()
  [ "$step" = setup ] || query=(--http-addr "$HTTP" --k "$K" --radius-m "$RADIUS")
  "$SIM" peer nearest "$step" --spread "$spread" --database-url "${PEER_DB:-$DB_URL}" --redis-url "$REDIS_URL" \
    ${query[@]+"${query[@]}"} "$@"
}

start_fleetd() { # [security]: "on" gives fleetd's PostgreSQL and broker links TLS
  local links=(FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="mqtt://127.0.0.1:$PB_PORT")
  [ "${1:-}" != on ] || links=(FLEETD_DATABASE_URL="$DB_TLS_URL"
    FLEETD_MQTT_URL="mqtts://127.0.0.1:$PB_TLS_PORT" FLEETD_MQTT_TLS_CA_FILE="$CA")
  FLEETD_SEC=${1:-}
  env "${links[@]}" FLEETD_HTTP_ADDR="$HTTP" \
    FLEETD_REDIS_URL="" FLEETD_MQTT_CLIENT_ID="nearest-bench" FLEETD_MQTT_TOPIC_PREFIX="nearestbench" \
    FLEETD_JWT_SECRET="nearest-bench-secret-0123456789abcdef" FLEETD_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 FLEETD_DISPATCH_STALENESS_S=86400 \
    "$FLEETD" serve > "$OUT/fleetd.log" 2>&1 &
  FLEETD_PID=$!
  for _ in $(seq 1 600); do curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 || { say "fleetd did not become ready; see $OUT/fleetd.log"; exit 1; }
  TOKEN=$(curl -fsS -X POST "http://$HTTP/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  export FLEETD_BENCH_TOKEN="$TOKEN"
}

stop_fleetd() {
  if [ -n "$FLEETD_PID" ]; then kill -TERM "$FLEETD_PID" 2>/dev/null || true; wait "$FLEETD_PID" 2>/dev/null || true; fi
  FLEETD_PID=
}

measure() { # spread concurrency target [security]: one load, one result line
  local spread=$1 c=$2 target=$3 sec=${4:-} s0 s1 line server_cpu
  case $target in
    fleetd) s0=$(cpu_ticks "$FLEETD_PID") ;;
    postgis) s0=$(pg_ticks) ;;
    redis) s0=$(cpu_ticks "$(redis_pid)") ;;
  esac
  line=$(peer load "$spread" --target "$target" --concurrency "$c" --seconds "$SECONDS_EACH" \
    --warmup "$WARMUP")
  case $target in
    fleetd) s1=$(cpu_ticks "$FLEETD_PID") ;;
    postgis) s1=$(pg_ticks) ;;
    redis) s1=$(cpu_ticks "$(redis_pid)") ;;
  esac
  server_cpu=$(awk -v t=$((s1 - s0)) 'BEGIN {printf "%.2f", t / 100}')
  say "$spread c=$c $target${sec:+ security $sec}: $line server_cpu_s=$server_cpu"
  echo "{\"spread\":\"$spread\",\"vehicles\":$VEHICLES,\"security\":\"$sec\",\"server_cpu_s\":$server_cpu,\"result\":$line}" >> "$OUT/results.jsonl"
}

for spread in $SPREADS; do
  say "$spread: $VEHICLES vehicles, each with an available driver"
  psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  FLEETD_DATABASE_URL="$DB_URL" "$FLEETD" migrate >/dev/null
  psql -qX "$DB_URL" -v vehicles="$VEHICLES" -v prefix=nb- -v available_pct=100 -f scripts/seed_fleet.sql >/dev/null
  peer setup "$spread" >/dev/null
  start_fleetd "${SECURITY%% *}"
  agree=$(peer agree "$spread")
  say "$spread agreement: $agree"
  echo "{\"spread\":\"$spread\",\"vehicles\":$VEHICLES,\"result\":$agree}" >> "$OUT/results.jsonl"
  if [ -z "$SECURITY" ]; then
    for c in $CONCURRENCY; do
      for target in fleetd postgis redis; do measure "$spread" "$c" "$target"; done
    done
  else
    for _ in $(seq 1 "$REPEAT"); do
      for c in $CONCURRENCY; do
        for sec in $SECURITY; do
          pg_ca_bundle "$CA" "$PG_CA" "$ADMIN_URL"
          [ "$FLEETD_SEC" = "$sec" ] || { stop_fleetd; start_fleetd "$sec"; }
          PEER_DB=$DB_URL
          [ "$sec" != on ] || PEER_DB=$DB_TLS_URL
          for target in fleetd postgis; do measure "$spread" "$c" "$target" "$sec"; done
          PEER_DB=
        done
      done
    done
  fi
  stop_fleetd
done

python3 - "$OUT/results.jsonl" "$SECONDS_EACH" "$WARMUP" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
# Server CPU is read around warm-up + measurement; queries are counted in the measurement only.
busy = (float(sys.argv[2]) + float(sys.argv[3])) / float(sys.argv[2])
print(f"{'spread':8} {'conc':>4} {'system':8} {'queries/s':>10} {'p50 us':>7} {'p99 us':>7} {'hits':>5} "
      f"{'errors':>6} {'srv cpu/q us':>12} {'vs redis':>8} {'vs postgis':>10}")
loads = [r for r in rows if r["result"]["mode"] == "load"]
for r in rows:
    res = r["result"]
    if res["mode"] == "agree":
        print(f"{r['spread']:8} agreement over {res['queries']} queries (mean {res['mean_hits']} hits): "
              f"fleetd = postgis on {res['same_as_postgis']}, fleetd = redis on {res['same_as_redis']}, "
              f"max distance difference to postgis {res['max_distance_diff_vs_postgis_m']:.3f} m")
secured = [r for r in loads if r.get("security")]
loads = [r for r in loads if not r.get("security")]
for r in loads:
    res = r["result"]
    peers = {x["result"]["target"]: x["result"]["qps"] for x in loads
             if x["spread"] == r["spread"] and x["result"]["concurrency"] == res["concurrency"]}
    ratio = lambda other: f"{res['qps'] / peers[other]:.2f}" if peers.get(other) else "-"
    per_q = r["server_cpu_s"] * 1e6 / max(res["queries"] * busy, 1)
    print(f"{r['spread']:8} {res['concurrency']:>4} {res['target']:8} {res['qps']:>10.0f} {res['p50_us']:>7} "
          f"{res['p99_us']:>7} {res['mean_hits']:>5.1f} {res['errors']:>6} {per_q:>12.1f} "
          f"{ratio('redis'):>8} {ratio('postgis'):>10}")
if secured:
    import statistics
    print(f"\nsecurity off vs on (median of each repeat's queries/s; runs in order)")
    print(f"{'spread':8} {'conc':>4} {'system':8} {'security':8} {'queries/s':>10} {'spread %':>8} "
          f"{'p50 us':>7} {'p99 us':>7} {'errors':>6} {'srv cpu/q us':>12}  runs")
    keys = []
    for r in secured:
        k = (r["spread"], r["result"]["concurrency"], r["result"]["target"], r["security"])
        if k not in keys:
            keys.append(k)
    for k in sorted(keys, key=lambda k: (k[0], k[1], k[2], k[3] != "off")):
        runs = [r for r in secured if (r["spread"], r["result"]["concurrency"], r["result"]["target"], r["security"]) == k]
        q = [r["result"]["qps"] for r in runs]
        med = statistics.median(q)
        pick = lambda f: statistics.median(r["result"][f] for r in runs)
        cpu = statistics.median(r["server_cpu_s"] * 1e6 / max(r["result"]["queries"] * busy, 1) for r in runs)
        print(f"{k[0]:8} {k[1]:>4} {k[2]:8} {k[3]:8} {med:>10.0f} {100 * (max(q) - min(q)) / med:>8.1f} "
              f"{pick('p50_us'):>7.0f} {pick('p99_us'):>7.0f} {sum(r['result']['errors'] for r in runs):>6} "
              f"{cpu:>12.1f}  [{' '.join(f'{x:.0f}' for x in q)}]")
PY
