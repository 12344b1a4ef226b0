# Sourced by scripts/bench/e2e.sh for `--security "off tls on"`: what the secured side of the
# comparison needs, started once per run, and links_for SETTING, which sets e2e.sh's FENV,
# SIM_LINK, VERIFY_DB, BROKER_PID, LINK_PREFIX and DROP for each setting:
#   off  the anonymous broker over TCP, PostgreSQL sslmode=disable, redis://
#   tls  the anonymous broker's TLS listener (mqtts:// with the CA, trackers and daemon),
#        PostgreSQL sslmode=verify-full, rediss://
#   on   tls, with a secured broker of its own (dynamic-security plugin, as config/mosquitto.conf):
#        the daemon's account (`fleetd broker setup`) and one account per simulated tracker
#        (`fleet-sim provision`, through a fleetd started once for it), so one TLS connection
#        per vehicle, as real trackers connect. Each connection gets 2 publishes in flight
#        (--inflight 2): 2,000 x 2, the same window as off/tls's 4 connections x 1,000 (with
#        1,000 each, 2 million in flight swamped the broker and it stopped delivering).
# Every setting gets a Redis of its own (plain port and TLS port, the same server), so that only
# the transport differs. Certificates: .run/tls/ (scripts/tls.sh). Needs e2e.sh's variables
# (REPO, OUT, CA, DB_URL, DB_TLS_URL, HTTP, FLEETD, SIM, PORT, TLS_PORT, MOSQ_PID) and functions
# (say, reset_db, drop_sessions, free_port); e2e.sh's cleanup stops SEC_PID, REDIS_PID and
# PROV_PID.

TLS_DIR="$REPO/.run/tls"
[ -s "$CA" ] && [ -s "$TLS_DIR/server.crt" ] || { say "no certificates in $TLS_DIR: run scripts/services.sh"; exit 1; }
SEC_PREFIX=secbench # the trackers' accounts may publish under {prefix}/{their vehicle}/ only
SEC_VEHICLES=2000   # as e2e.sh's runs
TRACKERS="$OUT/trackers.jsonl"
BENCH_ADMIN_PASSWORD="e2e-bench-admin-password"
BENCH_JWT_SECRET="e2e-bench-jwt-secret-0123456789abcdef"
SEC_DAEMON_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

# The CAs for PostgreSQL (scripts/lib/pg_ca.sh), read again before every run.
# shellcheck source=scripts/lib/pg_ca.sh
source "$REPO/scripts/lib/pg_ca.sh"
PG_CA="$OUT/pg-ca.crt"
pg_ca_refresh() { pg_ca_bundle "$CA" "$PG_CA" "$ADMIN_URL"; }
pg_ca_refresh
DB_TLS_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=verify-full&sslrootcert=$PG_CA"

# Redis: one server, a plain and a TLS port (client certificates not required).
REDIS_PORT=$(free_port)
REDIS_TLS_PORT=$(free_port)
while [ "$REDIS_TLS_PORT" = "$REDIS_PORT" ]; do REDIS_TLS_PORT=$(free_port); done
rm -rf "$OUT/redis" && mkdir -p "$OUT/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --tls-port "$REDIS_TLS_PORT" \
  --tls-cert-file "$TLS_DIR/server.crt" --tls-key-file "$TLS_DIR/server.key" \
  --tls-ca-cert-file "$CA" --tls-auth-clients no --save "" --appendonly no \
  --dir "$OUT/redis" --logfile "$OUT/redis/redis.log" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping >/dev/null || { say "redis-server did not start: $OUT/redis/redis.log"; exit 1; }

# The secured broker: plain listener (for ending sessions) and TLS listener.
private_broker "$OUT/broker-secured" secured "$TLS_DIR" >&2
SEC_PID=$PB_PID SEC_PORT=$PB_PORT SEC_TLS_PORT=$PB_TLS_PORT
SEC_ADMIN_USER=$PB_ADMIN_USER SEC_ADMIN_PASSWORD=$PB_ADMIN_PASSWORD

links_for() {
  pg_ca_refresh
  case "$1" in
    off)
      FENV=(FLEETD_DATABASE_URL="$DB_URL" FLEETD_MQTT_URL="mqtt://127.0.0.1:$PORT"
        FLEETD_REDIS_URL="redis://127.0.0.1:$REDIS_PORT")
      SIM_LINK=(--mqtt-url "mqtt://127.0.0.1:$PORT")
      VERIFY_DB=$DB_URL BROKER_PID=$MOSQ_PID LINK_PREFIX="" DROP=("$PORT") ;;
    tls)
      FENV=(FLEETD_DATABASE_URL="$DB_TLS_URL" FLEETD_MQTT_URL="mqtts://127.0.0.1:$TLS_PORT"
        FLEETD_MQTT_TLS_CA_FILE="$CA" FLEETD_REDIS_URL="rediss://127.0.0.1:$REDIS_TLS_PORT"
        FLEETD_REDIS_TLS_CA_FILE="$CA")
      SIM_LINK=(--mqtt-url "mqtts://127.0.0.1:$TLS_PORT" --mqtt-ca-file "$CA")
      VERIFY_DB=$DB_TLS_URL BROKER_PID=$MOSQ_PID LINK_PREFIX="" DROP=("$PORT") ;;
    on)
      FENV=(FLEETD_DATABASE_URL="$DB_TLS_URL" FLEETD_MQTT_URL="mqtts://127.0.0.1:$SEC_TLS_PORT"
        FLEETD_MQTT_TLS_CA_FILE="$CA" FLEETD_MQTT_USERNAME=fleetd
        FLEETD_MQTT_PASSWORD="$SEC_DAEMON_PASSWORD" FLEETD_BROKER_ADMIN_USERNAME="$SEC_ADMIN_USER"
        FLEETD_BROKER_ADMIN_PASSWORD="$SEC_ADMIN_PASSWORD"
        FLEETD_REDIS_URL="rediss://127.0.0.1:$REDIS_TLS_PORT" FLEETD_REDIS_TLS_CA_FILE="$CA")
      SIM_LINK=(--mqtt-url "mqtts://127.0.0.1:$SEC_TLS_PORT" --mqtt-ca-file "$CA"
        --credentials "$TRACKERS" --inflight $((4000 / SEC_VEHICLES)))
      VERIFY_DB=$DB_TLS_URL BROKER_PID=$SEC_PID LINK_PREFIX=$SEC_PREFIX
      DROP=("$SEC_PORT" -u fleetd -P "$SEC_DAEMON_PASSWORD") ;;
  esac
  FENV+=(FLEETD_JWT_SECRET="$BENCH_JWT_SECRET" FLEETD_ADMIN_PASSWORD="$BENCH_ADMIN_PASSWORD")
}

# The accounts, once: the daemon's, then every tracker's through the API (the vehicles must be
# registered for that; the measured runs then start from an empty database, as the others do).
case " $SECURITY " in
  *" on "*)
    say "on: the daemon's broker account and $SEC_VEHICLES trackers' accounts"
    links_for on
    env "${FENV[@]}" FLEETD_MQTT_TOPIC_PREFIX="$SEC_PREFIX" "$FLEETD" broker setup >&2
    reset_db
    psql -qX "$DB_URL" -v vehicles="$SEC_VEHICLES" -v prefix=veh- -v available_pct=80 \
      -f scripts/seed_fleet.sql >/dev/null
    env "${FENV[@]}" FLEETD_HTTP_ADDR="$HTTP" FLEETD_MQTT_TOPIC_PREFIX="$SEC_PREFIX" \
      FLEETD_MQTT_CLIENT_ID=e2e-provision FLEETD_HTTP_RATE_LIMIT_PER_MINUTE=0 \
      "$FLEETD" serve >"$OUT/fleetd-provision.log" 2>&1 &
    PROV_PID=$!
    for _ in $(seq 1 300); do curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    curl -fsS "http://$HTTP/readyz" >/dev/null 2>&1 \
      || { say "fleetd did not become ready: $(tail -3 "$OUT/fleetd-provision.log")"; exit 1; }
    rm -f "$TRACKERS"
    FLEET_SIM_API_PASSWORD="$BENCH_ADMIN_PASSWORD" "$SIM" provision --api-url "http://$HTTP" \
      --vehicles "$SEC_VEHICLES" --id-prefix veh- --out "$TRACKERS" --concurrency 8 >&2
    kill -TERM "$PROV_PID"
    wait "$PROV_PID" || true
    PROV_PID=""
    drop_sessions e2e-provision 1 "${DROP[@]}"
    ;;
esac
