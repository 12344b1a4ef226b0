#!/usr/bin/env bash
# The end-to-end benchmark: real broker, real database, release builds, one run, ratios.
#
#   scripts/bench/e2e.sh           # 1,000,000 readings per fleetd scenario
#   scripts/bench/e2e.sh --quick   # 100,000 (a few minutes)
#   scripts/bench/e2e.sh --readings N
#   scripts/bench/e2e.sh --modes "plain:1 shared:2" --repeat 3 --fleetd-only
#                                  # fleetd's subscription modes side by side (mode:connections),
#                                  # interleaved, each repeated; no broker/naive/ceiling runs
#   scripts/bench/e2e.sh --security "off tls on" --readings 200000 --repeat 3 [--shapes single]
#                                  # fleetd with its links plain and anonymous vs secured, side
#                                  # by side, interleaved, each repeated (implies --fleetd-only):
#     off  anonymous broker over TCP, PostgreSQL sslmode=disable, redis://
#     tls  the same anonymous broker over TLS (trackers and daemon, mqtts:// with the CA),
#          PostgreSQL sslmode=verify-full, rediss:// (a private redis-server with a TLS port)
#     on   tls, and a secured broker (dynamic-security plugin): the daemon's own account
#          (`fleetd broker setup`) and one account per tracker (`fleet-sim provision`, so one
#          connection per vehicle, as trackers connect)
#   Certificates: .run/tls/ (scripts/tls.sh, made by services.sh). Without --security, fleetd
#   runs as before: anonymous TCP broker, no Redis, PostgreSQL sslmode=disable.
#   scripts/bench/e2e.sh --trips "off on" --readings 200000 --repeat 3 [--shapes single]
#                                  # fleetd with its trip segmenter and rollups off
#                                  # (trips.enabled = false) vs on (the default), interleaved,
#                                  # each repeated (implies --fleetd-only). With "on", after the
#                                  # ingest is timed, it also waits for the segmenter to catch up
#                                  # and reports that time, the trips and stops derived and
#                                  # fleetd_trips_lag_seconds (commit to trips/rollups) p50/p99.
#   scripts/bench/e2e.sh --fences "0 10000" --readings 1000000 --repeat 3 [--shapes single]
#                                  # fleetd with no geofences vs N polygon fences of 50 vertices
#                                  # (random stars 200 m to 2 km across, over fleet-sim's region)
#                                  # and the six reading-driven alert rules over the whole fleet,
#                                  # interleaved, each repeated (implies --fleetd-only). After the
#                                  # ingest is timed it waits for the segmenter (and with it the
#                                  # fence engine) to catch up, and reports that time, the
#                                  # geofence events raised and the commit-to-event lag
#                                  # (fleetd_trips_lag_seconds: fences are evaluated in the
#                                  # segmenter's transaction).
#   --rate R    fleet-sim sends R readings/s (its --rate) instead of --max-rate
#   --settle S  fleetd's trips.settle_s (default 5)
#
# For each payload shape (single-reading JSON, JSON batches of 100) it measures, in one run:
#   broker   the broker's own QoS 1 pass-through: fleet-sim → Mosquitto → a counting subscriber
#            (`fleet-sim peer count`)
#   fleetd   fleet-sim → Mosquitto → fleetd → PostgreSQL, until every reading is committed;
#            then `fleet-sim verify` (lost / duplicated / unexpected / wrong values, exact)
#   naive    fleet-sim → Mosquitto → one consumer INSERTing row by row (autocommit,
#            `fleet-sim peer naive`); it is slow, so it gets a tenth of the readings (its rate is
#            what is compared)
# and once: ceiling  a bare binary COPY client writing the same number of GPS rows into the same
# partitioned table (no MQTT, no decode): benches/copy_db.rs.
# Results: a table on stdout and .run/e2e/results.json.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
PATH="/usr/sbin:/sbin:$PATH"

READINGS=1000000
MODES="plain:1"
REPEAT=1
FLEETD_ONLY=0
SECURITY=""
SHAPES="single batch100"
TRIPS=""
FENCES=""
RATE=""
SETTLE=5
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) READINGS=100000 ;;
    --readings) READINGS="$2"; shift ;;
    --modes) MODES="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --fleetd-only) FLEETD_ONLY=1 ;;
    --security) SECURITY="$2"; FLEETD_ONLY=1; shift ;;
    --shapes) SHAPES="$2"; shift ;;
    --trips) TRIPS="$2"; FLEETD_ONLY=1; shift ;;
    --fences) FENCES="$2"; FLEETD_ONLY=1; shift ;;
    --rate) RATE="$2"; shift ;;
    --settle) SETTLE="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--readings N] [--modes \"plain:1 shared:2\"] [--repeat N] [--fleetd-only] [--security \"off tls on\"] [--shapes \"single batch100\"]" >&2; exit 2 ;;
  esac
  shift
done
for tr in $TRIPS; do
  case "$tr" in off | on) ;; *) echo "--trips: off or on, not $tr" >&2; exit 2 ;; esac
done
for n in $FENCES; do
  case "$n" in *[!0-9]* | "") echo "--fences: counts of fences, not $n" >&2; exit 2 ;; esac
done
for sec in $SECURITY; do
  case "$sec" in off | tls | on) ;; *) echo "--security: off, tls or on, not $sec" >&2; exit 2 ;; esac
done
NAIVE_READINGS=$((READINGS / 10))
DB=fleetd_bench
# sslmode=disable: libpq's default (prefer) would negotiate TLS with a server that offers it.
DB_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
CA="$REPO/.run/tls/ca.crt"
DB_TLS_URL="" # security.sh
ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
OUT="$REPO/.run/e2e"
HTTP=127.0.0.1:18080
mkdir -p "$OUT"

say() { printf '[e2e] %s\n' "$*" >&2; }

bash scripts/services.sh >&2
# A broker of its own, configured as the project's (config/mosquitto.conf) but anonymous: these
# figures are the pipeline's, without authentication. With --security it also listens for TLS,
# and a secured broker (accounts, TLS listener) and a Redis with a TLS port join it.
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
PB_ANON_PID="" SEC_PID="" REDIS_PID="" PROV_PID=""
cleanup() { kill "$PB_ANON_PID" $SEC_PID $REDIS_PID $PROV_PID 2>/dev/null || true; }
trap cleanup EXIT
private_broker "$OUT/broker" anonymous ${SECURITY:+"$REPO/.run/tls"} >&2
PB_ANON_PID=$PB_PID
TLS_PORT=$PB_TLS_PORT
MQTT_URL="mqtt://127.0.0.1:$PB_PORT"
say "building release binaries"
cargo build --release --workspace --quiet
exe() { # the executable of a bench target (cargo also lists the package's binaries: skip them)
  cargo bench --bench "$1" --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | grep "/deps/$1-" | tail -1
}
COPY_DB=$(exe copy_db)
FLEETD="$REPO/target/release/fleetd"
SIM="$REPO/target/release/fleet-sim"
[ -x "$COPY_DB" ] && [ -x "$FLEETD" ] && [ -x "$SIM" ] || { say "cannot find the release or bench binaries"; exit 1; }
MOSQ_PID=$PB_PID
PORT=$PB_PORT

psql_q() { psql -qtAX "$DB_URL" -c "$1"; }
reset_db() {
  psql -qX "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  FLEETD_DATABASE_URL="$DB_URL" "$FLEETD" migrate >/dev/null 2>&1
}
cpu_ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
now() { date +%s.%N; }
json_get() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print($1)"; }

# Quantile upper bound from a Prometheus histogram's cumulative buckets on stdin (default:
# fleetd_ingest_latency_seconds).
quantile() {
  awk -v q="$1" -v h="^${2:-fleetd_ingest_latency_seconds}_bucket" -F'[{}" ]+' '
    $0 ~ h { for (i=1;i<=NF;i++) if ($i=="le=") le=$(i+1); n[++k]=$NF; b[k]=le }
    END { total=n[k]; for (i=1;i<=k;i++) if (n[i] >= q*total) { print b[i]; exit } }'
}


RESULTS=()
record() { RESULTS+=("$1"); }

run_broker() { # shape format batch
  local shape=$1 format=$2 batch=$3 prefix="pt$RANDOM"
  "$SIM" peer count --mqtt-url "$MQTT_URL" --readings "$READINGS" --prefix "$prefix" \
    > "$OUT/broker-$shape.json" &
  local peer=$!
  sleep 1
  local m0; m0=$(cpu_ticks "$MOSQ_PID")
  "$SIM" run --mqtt-url "$MQTT_URL" --prefix "$prefix" --vehicles 2000 --format "$format" --batch "$batch" \
    --max-rate --readings "$READINGS" --qos 1 --quiet --json > "$OUT/broker-sim-$shape.json" 2>/dev/null
  wait "$peer"
  local rate; rate=$(grep -o '"readings_per_s":[0-9.]*' "$OUT/broker-$shape.json" | cut -d: -f2)
  say "broker $shape: $rate readings/s"
  record "{\"shape\":\"$shape\",\"path\":\"broker\",\"readings_per_s\":$rate,\"broker_cpu_s\":$(( ($(cpu_ticks "$MOSQ_PID") - m0) / 100 ))}"
}

# Ends the persistent sessions of a finished run, so they queue nothing of the next one.
drop_sessions() { # client_id connections [port [mosquitto_sub flags...]]
  local id=$1 n=$2 port=${3:-$PORT} i pids=()
  shift $(($# < 3 ? $# : 3))
  for i in $(seq 0 $((n - 1))); do
    timeout 5 mosquitto_sub -p "$port" "$@" -i "$id-$i" -t none -W 1 >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

# The links of one --security setting (none: the plain pipeline, no Redis): fleetd's
# environment FENV, fleet-sim's broker flags SIM_LINK, the database URL VERIFY_DB, the broker
# process BROKER_PID and the flags that end a daemon session on it (DROP); security.sh
# defines links_for for the settings.
FENV=() SIM_LINK=() DROP=()
links() {
  if [ -n "${1:-}" ]; then links_for "$1"; return; fi
  FENV=(FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="$MQTT_URL" FLEETD_REDIS_URL="")
  SIM_LINK=(--mqtt-url "$MQTT_URL")
  VERIFY_DB=$DB_URL BROKER_PID=$MOSQ_PID LINK_PREFIX="" DROP=("$PORT")
}

# N random star polygons of 50 vertices, 100 m to 1 km from centre to vertex, over fleet-sim's
# default region (52.35..52.68 N, 13.08..13.76 E), as the API would store them.
seed_fences() { # n
  psql_q "INSERT INTO geofences (id, name, geojson, area, created_at, updated_at)
    SELECT gen_random_uuid(), 'bench-' || f.g, f.j, ST_GeomFromGeoJSON(f.j::text)::geography, now(), now()
      FROM (SELECT g, jsonb_build_object('type', 'Polygon', 'coordinates', jsonb_build_array(
                   (SELECT jsonb_agg(jsonb_build_array(c.lon + r * sin(a) / cos(radians(c.lat)), c.lat + r * cos(a))
                                     ORDER BY k)
                      FROM (SELECT k, radians(360.0 * (k % 50) / 50) AS a,
                                   (100 + random() * 900) / 111195.0 AS r
                              FROM generate_series(0, 50) k) v))) AS j
              FROM generate_series(1, $1) g,
                   LATERAL (SELECT 52.35 + random() * 0.33 + g * 0 AS lat,
                                   13.08 + random() * 0.68 AS lon) c) f" >/dev/null
  # Close each ring exactly: its last position repeats its first.
  psql_q "UPDATE geofences SET geojson = jsonb_set(geojson, '{coordinates,0,50}', geojson->'coordinates'->0->0),
                               area = ST_GeomFromGeoJSON(jsonb_set(geojson, '{coordinates,0,50}', geojson->'coordinates'->0->0)::text)::geography" >/dev/null
  # The reading-driven alert rules, over the whole fleet (the geofence rule over 10 fences).
  psql_q "INSERT INTO alert_rules (id, name, kind, params, vehicle_types, vehicle_ids, geofence_ids,
                                   clear_s, enabled, created_at, updated_at)
    SELECT gen_random_uuid(), k, k, p::jsonb, '{}', '{}',
           CASE WHEN k = 'geofence' THEN (SELECT array_agg(id) FROM (SELECT id FROM geofences LIMIT 10) f)
                ELSE '{}' END, 300, true, now(), now()
      FROM (VALUES ('speeding', '{\"limit_kmh\": 110, \"min_duration_s\": 10}'),
                   ('overheat', '{\"coolant_c\": 105, \"min_duration_s\": 30}'),
                   ('low_fuel', '{\"below_pct\": 10}'),
                   ('fuel_drop', '{\"drop_pct\": 10, \"within_s\": 600}'),
                   ('dtc', '{}'),
                   ('geofence', '{\"on\": \"both\"}')) AS r(k, p)" >/dev/null
}

run_fleetd() { # shape format batch [mode connections [security [trips [fences]]]]
  local shape=$1 format=$2 batch=$3 mode=${4:-plain} conns=${5:-1} sec=${6:-} trips=${7:-} fences=${8:-}
  local path="fleetd" id="e2e$RANDOM" prefix="e2e$shape$RANDOM"
  [ "$mode:$conns" = "plain:1" ] || path="fleetd-$mode$conns"
  [ -z "$sec" ] || path="$path-sec-$sec"
  [ -z "$trips" ] || path="$path-trips-$trips"
  [ -z "$fences" ] || path="$path-fences-$fences"
  links "$sec"
  [ -z "$LINK_PREFIX" ] || prefix=$LINK_PREFIX
  reset_db
  [ "${fences:-0}" -eq 0 ] || seed_fences "$fences"
  env "${FENV[@]}" FLEETD_HTTP_ADDR="$HTTP" \
    FLEETD_MQTT_CLIENT_ID="$id" FLEETD_MQTT_TOPIC_PREFIX="$prefix" FLEETD_INGEST_UNKNOWN_VEHICLES=store \
    FLEETD_MQTT_SUBSCRIPTION="$mode" FLEETD_MQTT_CONNECTIONS="$conns" \
    FLEETD_TRIPS_ENABLED="$([ "$trips" = off ] && echo false || echo true)" FLEETD_TRIPS_SETTLE_S="$SETTLE" \
    "$FLEETD" serve > "$OUT/fleetd-$shape.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local c0 m0; c0=$(cpu_ticks $pid); m0=$(cpu_ticks "$BROKER_PID")
  local t0; t0=$(now)
  "$SIM" run "${SIM_LINK[@]}" --prefix "$prefix" --vehicles 2000 --format "$format" --batch "$batch" \
    $(if [ -n "$RATE" ]; then echo "--rate $RATE"; else echo --max-rate; fi) --readings "$READINGS" --qos 1 --quiet --json --manifest "$OUT/manifest-$shape.jsonl" \
    > "$OUT/fleetd-sim-$shape.json" 2>"$OUT/fleetd-sim-$shape.err" || say "fleet-sim: $(tail -3 "$OUT/fleetd-sim-$shape.err")"
  local want; want=$(head -1 "$OUT/manifest-$shape.jsonl" | json_get 'd["expected"]["gps"] + d["expected"]["obd"]')
  local stored=0 last=-1 still=0
  for _ in $(seq 1 6000); do
    stored=$(curl -s "http://$HTTP/metrics" | awk '/^fleetd_readings_stored_total/ {s+=$2} END {print s+0}')
    [ "$stored" -ge "$want" ] && break
    # Nothing stored for 30 s: what is missing is not coming (verify counts it).
    if [ "$stored" = "$last" ]; then still=$((still + 1)); else still=0; last=$stored; fi
    [ "$still" -lt 600 ] || { say "$path $shape: stalled at $stored of $want readings"; break; }
    sleep 0.05
  done
  local t1; t1=$(now)
  local metrics; metrics=$(curl -s "http://$HTTP/metrics")
  local catchup=null segs=null lag50=null lag99=null fevents=null elat=-
  if [ "$trips" = on ] || [ -n "$fences" ]; then
    # Until every mark is folded and no vehicle has readings older than trips.settle_s (5 s)
    # left to segment.
    for _ in $(seq 1 12000); do
      [ "$(psql_q "SELECT (SELECT count(*) FROM segment_marks) + (SELECT count(*) FROM segment_state
                  WHERE least(dirty_from, obd_dirty_from) < now() - interval '6 seconds')")" = 0 ] && break
      sleep 0.05
    done
    catchup=$(awk -v a="$t1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}')
    segs=$(psql_q "SELECT (SELECT count(*) FROM trips) || '/' || (SELECT count(*) FROM stops)")
    segs="\"$segs\""
    local tm; tm=$(curl -s "http://$HTTP/metrics")
    lag50="\"$(quantile 0.5 fleetd_trips_lag_seconds <<<"$tm")\""
    lag99="\"$(quantile 0.99 fleetd_trips_lag_seconds <<<"$tm")\""
    fevents=$(psql_q "SELECT (SELECT count(*) FROM events WHERE type LIKE 'geofence.%')
                           + (SELECT count(*) FROM event_outbox WHERE type LIKE 'geofence.%')")
    local alerts; alerts=$(psql_q "SELECT coalesce(string_agg(kind || ':' || n, ' '), '-')
                                     FROM (SELECT kind, count(*) n FROM alerts GROUP BY kind ORDER BY kind) a")
    # Each geofence event's staging (occurred_at, in the pass's transaction) minus the arrival
    # of the reading that caused it (received_at, before its commit): an upper bound of
    # commit to event, exact per event.
    elat=$(psql_q "SELECT coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 3)
                                   || '/' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY x)::numeric, 3), '-')
                     FROM (SELECT extract(epoch FROM e.occurred_at - g.received_at) AS x
                             FROM (SELECT occurred_at, payload FROM events WHERE type LIKE 'geofence.%'
                                   UNION ALL
                                   SELECT occurred_at, payload FROM event_outbox WHERE type LIKE 'geofence.%') e
                             JOIN gps_readings g ON g.vehicle_id = e.payload->>'vehicle_id'
                                                AND g.ts = (e.payload->>'ts')::timestamptz) l")
    say "$path $shape: segmenter caught up ${catchup}s after the last commit; trips/stops $segs; geofence events $fevents (reading to event p50/p99 ${elat}s); alerts $alerts; lag p50<=$lag50 p99<=$lag99"
  fi
  local cpu=$(( $(cpu_ticks $pid) - c0 )) mcpu=$(( $(cpu_ticks "$BROKER_PID") - m0 )) rss; rss=$(peak_rss_kb $pid)
  kill -TERM $pid; wait $pid || true
  drop_sessions "$id" "$conns" "${DROP[@]}"
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  local rate; rate=$(awk -v n="$stored" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
  local p50 p99; p50=$(quantile 0.5 <<<"$metrics"); p99=$(quantile 0.99 <<<"$metrics")
  local verify; verify=$("$SIM" verify --manifest "$OUT/manifest-$shape.jsonl" --database-url "$VERIFY_DB" --json 2>/dev/null || true)
  local lost dup
  lost=$(json_get 'd["lost"]["gps"] + d["lost"]["obd"]' <<<"$verify" || echo null)
  dup=$(json_get 'd["duplicated"]["gps"] + d["duplicated"]["obd"]' <<<"$verify" || echo null)
  say "$path $shape: $stored readings in ${secs}s = ${rate}/s, p50<=${p50}s p99<=${p99}s, cpu ${cpu} ticks, broker cpu ${mcpu} ticks, peak rss ${rss} kB, lost ${lost:-?} dup ${dup:-?}"
  record "{\"shape\":\"$shape\",\"path\":\"$path\",\"readings\":$stored,\"seconds\":$secs,\"readings_per_s\":$rate,\"latency_p50_le_s\":\"$p50\",\"latency_p99_le_s\":\"$p99\",\"fleetd_cpu_s\":$(printf %d.%02d $((cpu / 100)) $((cpu % 100))),\"broker_cpu_s\":$(printf %d.%02d $((mcpu / 100)) $((mcpu % 100))),\"fleetd_peak_rss_kb\":$rss,\"lost\":${lost:-null},\"duplicated\":${dup:-null},\"trips_catchup_s\":$catchup,\"trips_stops\":$segs,\"trips_lag_p50_le_s\":$lag50,\"trips_lag_p99_le_s\":$lag99,\"geofence_events\":$fevents}"
}

run_naive() { # shape format batch
  local shape=$1 format=$2 batch=$3 prefix="nv$RANDOM"
  reset_db
  "$SIM" peer naive --mqtt-url "$MQTT_URL" --readings "$NAIVE_READINGS" --prefix "$prefix" \
    --database-url "$DB_URL" > "$OUT/naive-$shape.json" &
  local peer=$!
  sleep 1
  "$SIM" run --mqtt-url "$MQTT_URL" --prefix "$prefix" --vehicles 2000 --format "$format" --batch "$batch" \
    --max-rate --readings "$NAIVE_READINGS" --qos 1 --quiet --json > /dev/null 2>&1
  wait "$peer"
  local rate; rate=$(grep -o '"readings_per_s":[0-9.]*' "$OUT/naive-$shape.json" | cut -d: -f2)
  say "naive $shape: $rate readings/s"
  record "{\"shape\":\"$shape\",\"path\":\"naive\",\"readings_per_s\":$rate}"
}

# shellcheck source=scripts/bench/security.sh
[ -z "$SECURITY" ] || source "$REPO/scripts/bench/security.sh"

if [ "$FLEETD_ONLY" -eq 0 ]; then
  reset_db
  say "ceiling: bare binary COPY of $READINGS GPS rows"
  ceiling=$(FLEETD_BENCH_DATABASE_URL="$ADMIN_URL" FLEETD_BENCH_ROWS="$READINGS" "$COPY_DB" | awk '$1=="copy" {print $4}')
  say "ceiling: $ceiling rows/s"
  record "{\"path\":\"ceiling\",\"readings_per_s\":$ceiling}"
fi

for spec in "single json 1" "batch100 json-batch 100"; do
  # shellcheck disable=SC2086
  set -- $spec
  case " $SHAPES " in *" $1 "*) ;; *) continue ;; esac
  [ "$FLEETD_ONLY" -eq 1 ] || run_broker "$1" "$2" "$3"
  for _ in $(seq 1 "$REPEAT"); do
    for m in $MODES; do
      for sec in ${SECURITY:-""}; do
        for tr in ${TRIPS:-""}; do
          for fn in ${FENCES:-""}; do
            run_fleetd "$1" "$2" "$3" "${m%%:*}" "${m##*:}" "$sec" "$tr" "$fn"
          done
        done
      done
    done
  done
  [ "$FLEETD_ONLY" -eq 1 ] || run_naive "$1" "$2" "$3"
done

printf '[%s]\n' "$(IFS=,; echo "${RESULTS[*]}")" > "$OUT/results.json"
python3 - "$OUT/results.json" <<'PY'
import json, sys, statistics
rows = json.load(open(sys.argv[1]))
ceiling = next((float(r["readings_per_s"]) for r in rows if r["path"] == "ceiling"), None)
paths = []
for r in rows:
    if r["path"] not in paths and r["path"] != "ceiling":
        paths.append(r["path"])
ratio = lambda a, b: f"{a / b:.2f}" if b else "-"
print(f"{'shape':<10} {'path':<16} {'readings/s':>12} {'vs ceiling':>10} {'vs naive':>9} {'vs broker':>9}  notes")
for shape in ("single", "batch100"):
    mine = [r for r in rows if r.get("shape") == shape]
    def rate(path):  # median over repeats
        v = [float(r["readings_per_s"]) for r in mine if r["path"] == path]
        return statistics.median(v) if v else None
    for path in paths:
        runs = [r for r in mine if r["path"] == path]
        if not runs: continue
        v = rate(path)
        note = ""
        if path.startswith("fleetd"):
            each = " ".join(f"{float(r['readings_per_s']):.0f}" for r in runs)
            r = runs[-1]
            note = (f"runs [{each}] p50<={r['latency_p50_le_s']}s p99<={r['latency_p99_le_s']}s "
                    f"cpu {r['fleetd_cpu_s']:.1f}s broker cpu {r['broker_cpu_s']:.1f}s "
                    f"rss {r['fleetd_peak_rss_kb']//1024} MiB lost {sum(x['lost'] or 0 for x in runs)} "
                    f"dup {sum(x['duplicated'] or 0 for x in runs)}")
        print(f"{shape:<10} {path:<16} {v:>12.0f} {ratio(v, ceiling) if ceiling else '-':>10} "
              f"{ratio(v, rate('naive')) if rate('naive') else '-':>9} "
              f"{ratio(v, rate('broker')) if rate('broker') else '-':>9}  {note}")
if ceiling:
    print(f"ceiling (bare binary COPY): {ceiling:.0f} rows/s")
trips = [p for p in paths if "-trips-" in p]
if trips:
    print("\ntrip segmenter and rollups off vs on (median of the repeats)")
    print(f"{'shape':<10} {'path':<20} {'readings/s':>10} {'vs off':>6} {'catch-up s':>10} "
          f"{'lag p50<=':>9} {'lag p99<=':>9} {'trips/stops':>12}  runs")
    for shape in ("single", "batch100"):
        mine = [r for r in rows if r.get("shape") == shape]
        for path in trips:
            runs = [r for r in mine if r["path"] == path]
            if not runs: continue
            q = [float(r["readings_per_s"]) for r in runs]
            m = statistics.median(q)
            offq = [float(r["readings_per_s"]) for r in mine if r["path"] == path.rsplit("-trips-", 1)[0] + "-trips-off"]
            off = statistics.median(offq) if offq else None
            last = runs[-1]
            print(f"{shape:<10} {path:<20} {m:>10.0f} {ratio(m, off) if off else '-':>6} "
                  f"{str(last.get('trips_catchup_s') or '-'):>10} {str(last.get('trips_lag_p50_le_s') or '-'):>9} "
                  f"{str(last.get('trips_lag_p99_le_s') or '-'):>9} {str(last.get('trips_stops') or '-'):>12}  "
                  f"[{' '.join(f'{x:.0f}' for x in q)}]")
fenced = [p for p in paths if "-fences-" in p]
if fenced:
    print("\ngeofences: none vs N polygon fences of 50 vertices (median of the repeats)")
    print(f"{'shape':<10} {'path':<22} {'readings/s':>10} {'vs 0':>6} {'catch-up s':>10} "
          f"{'lag p50<=':>9} {'lag p99<=':>9} {'events':>8}  runs")
    for shape in ("single", "batch100"):
        mine = [r for r in rows if r.get("shape") == shape]
        for path in fenced:
            runs = [r for r in mine if r["path"] == path]
            if not runs: continue
            q = [float(r["readings_per_s"]) for r in runs]
            m = statistics.median(q)
            zq = [float(r["readings_per_s"]) for r in mine if r["path"] == path.rsplit("-fences-", 1)[0] + "-fences-0"]
            zero = statistics.median(zq) if zq else None
            last = runs[-1]
            print(f"{shape:<10} {path:<22} {m:>10.0f} {ratio(m, zero) if zero else '-':>6} "
                  f"{str(last.get('trips_catchup_s') or '-'):>10} {str(last.get('trips_lag_p50_le_s') or '-'):>9} "
                  f"{str(last.get('trips_lag_p99_le_s') or '-'):>9} {str(last.get('geofence_events') or '-'):>8}  "
                  f"[{' '.join(f'{x:.0f}' for x in q)}]")
secured = [p for p in paths if "-sec-" in p]
if secured:
    print("\nsecurity settings (median of the repeats; spread = (max - min) / median)")
    print(f"{'shape':<10} {'path':<24} {'readings/s':>10} {'spread %':>8} {'vs off':>6} "
          f"{'fleetd cpu us/rdg':>17} {'broker cpu us/rdg':>17} {'lost':>4} {'dup':>4}  runs")
    # "?" when a verification did not run
    total = lambda runs, f: "?" if any(r[f] is None for r in runs) else sum(r[f] for r in runs)
    for shape in ("single", "batch100"):
        mine = [r for r in rows if r.get("shape") == shape]
        med = lambda vals: statistics.median(vals) if vals else None
        def stat(path, f):
            return med([float(r[f]) for r in mine if r["path"] == path])
        for path in secured:
            runs = [r for r in mine if r["path"] == path]
            if not runs: continue
            q = [float(r["readings_per_s"]) for r in runs]
            m = med(q)
            off = stat(path.rsplit("-sec-", 1)[0] + "-sec-off", "readings_per_s")
            per = lambda f: med([float(r[f]) * 1e6 / max(r["readings"], 1) for r in runs])
            print(f"{shape:<10} {path:<24} {m:>10.0f} {100 * (max(q) - min(q)) / m:>8.1f} "
                  f"{ratio(m, off) if off else '-':>6} {per('fleetd_cpu_s'):>17.2f} "
                  f"{per('broker_cpu_s'):>17.2f} {total(runs, 'lost'):>4} "
                  f"{total(runs, 'duplicated'):>4}  [{' '.join(f'{x:.0f}' for x in q)}]")
PY
