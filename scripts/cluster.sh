#!/usr/bin/env bash
# A local cluster for `ingest.source = "jetstream"`, without Docker:
#   - 3 nats-server nodes n1..n3 in cluster "fleetd", JetStream and the MQTT listener on, MQTT's
#     own streams on all 3 (scripts/lib/nats.sh); clients on 4231-4233, MQTT (trackers) on
#     1891-1893, routes on 6231-6233, monitoring on 8231-8233; configuration, data, log and pid
#     in .run/cluster/nats-N/;
#   - a PostgreSQL streaming replica of the project's PostgreSQL (127.0.0.1:5432, started by
#     scripts/services.sh) on 127.0.0.1:5442, made with `pg_basebackup -R` into
#     .run/cluster/pg-replica and run by pg_ctl as the postgres OS user. The primary needs a
#     pg_hba line for replication connections from 127.0.0.1; when none matches, one is
#     appended and the server reloaded (never restarted). No replication slot: a replica left
#     down keeps no WAL on the shared server; one that fell behind the primary's WAL is made
#     again by `down` + removing .run/cluster/pg-replica + `up`;
#   - 3 fleetd nodes on HTTP 8081-8083 (target/release/fleetd, else target/debug/fleetd, built
#     when neither exists), each with .run/cluster/fleetd-N.toml: ingest.source = "jetstream",
#     the three NATS nodes in jetstream.urls, jetstream.replicas = 3, the replica in
#     database.replica_url; logs .run/cluster/fleetd-N.log, pids .run/cluster/fleetd-N.pid.
#     The JWT secret and admin password are this checkout's (.run/, shared with run.sh).
#
#   scripts/cluster.sh up       # start what is not running (idempotent), then print status
#   scripts/cluster.sh status   # one line per process: NATS (meta leader), replica lag, /readyz
#   scripts/cluster.sh down     # stop what this script started (pid files), keep the data
#
# Environment (ports of node 1; nodes 2 and 3 take the next ones): CLUSTER_NATS_PORT (4231),
# CLUSTER_MQTT_PORT (1891), CLUSTER_ROUTE_PORT (6231), CLUSTER_MONITOR_PORT (8231),
# CLUSTER_HTTP_PORT (8081), CLUSTER_REPLICA_PORT (5442); FLEETD_DB_NAME (fleetd); CLUSTER_DIR
# (.run/cluster: where every part keeps its configuration, data, logs and pid files). FLEETD_*
# variables reach the fleetd nodes and override their files (scripts/drills.sh's cluster drills
# run a second cluster this way, on other ports, directory and database).
# `up` exits 1 when a part did not come up; what did come up is left running.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PATH="/usr/sbin:/sbin:$PATH"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-${HOME:-}/.cargo}/bin/cargo" ]; then
  PATH="${CARGO_HOME:-${HOME:-}/.cargo}/bin:$PATH"
fi
# shellcheck source=scripts/lib/nats.sh
source "$REPO/scripts/lib/nats.sh"
# shellcheck source=scripts/lib/pg_replica.sh
source "$REPO/scripts/lib/pg_replica.sh"
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"   # run_secret

RUN_DIR="$REPO/.run"
DIR="${CLUSTER_DIR:-$RUN_DIR/cluster}"
NODES=(1 2 3)
NATS_PORT="${CLUSTER_NATS_PORT:-4231}"
MQTT_PORT="${CLUSTER_MQTT_PORT:-1891}"
ROUTE_PORT="${CLUSTER_ROUTE_PORT:-6231}"
MONITOR_PORT="${CLUSTER_MONITOR_PORT:-8231}"
HTTP_PORT="${CLUSTER_HTTP_PORT:-8081}"
REPLICA_PORT="${CLUSTER_REPLICA_PORT:-5442}"
DB_NAME="${FLEETD_DB_NAME:-fleetd}"
PRIMARY_HOST=127.0.0.1
PRIMARY_PORT=5432
PG_BIN=""                            # the primary's major version's bin dir, found on demand
REPLICA_DIR="$DIR/pg-replica"
WAIT_S=60                            # bound on each wait for NATS or the replica
READY_TIMEOUT_S=120                  # fleetd: migrations and the first connections
STOP_TIMEOUT_S=35
FAILED=0

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

# port BASE N: node N's port when node 1 has BASE.
port() { echo $(($1 + $2 - 1)); }

# True while PID lives and its command line contains WORD (a reused pid is not ours).
ours() {
  local pid=$1 word=$2 stat
  [ -n "$pid" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$word"
}

pid_of() { cat "$1" 2>/dev/null || true; }

# wait_for SECONDS COMMAND...: retries COMMAND every 0.5 s.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# stop_pid PID WHAT: SIGTERM, then SIGKILL after STOP_TIMEOUT_S.
stop_pid() {
  local pid=$1 what=$2 deadline=$((SECONDS + STOP_TIMEOUT_S))
  log "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$what did not exit within ${STOP_TIMEOUT_S}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
}

# ---- NATS ------------------------------------------------------------------------------------
nats_dir() { echo "$DIR/nats-$1"; }

nats_up() {
  local n d conf tmp pid routes=()
  command -v nats-server >/dev/null || die "nats-server not found: run scripts/services.sh"
  for n in "${NODES[@]}"; do
    routes+=("$(port "$ROUTE_PORT" "$n")")
  done
  for n in "${NODES[@]}"; do
    d=$(nats_dir "$n")
    conf="$d/nats-server.conf"
    mkdir -p "$d"
    tmp="$conf.tmp.$$"
    nats_conf "n$n" "$(port "$NATS_PORT" "$n")" "$(port "$MQTT_PORT" "$n")" \
      "$(port "$ROUTE_PORT" "$n")" "$(port "$MONITOR_PORT" "$n")" "$d" fleetd "${routes[@]}" >"$tmp"
    pid=$(pid_of "$d/nats-server.pid")
    if ours "$pid" "$conf"; then
      if cmp -s "$tmp" "$conf"; then
        rm -f "$tmp"
        continue
      fi
      log "nats n$n: configuration changed, restarting"
      stop_pid "$pid" "nats n$n"
    fi
    mv "$tmp" "$conf"
    log "starting nats n$n (client $(port "$NATS_PORT" "$n"), MQTT $(port "$MQTT_PORT" "$n"))"
    setsid nats-server -c "$conf" </dev/null >>"$d/nats-server.log" 2>&1 &
  done
  # Readiness needs a meta leader, hence two nodes at least: wait for all after starting all.
  for n in "${NODES[@]}"; do
    if ! wait_for "$WAIT_S" nats_ready "$(port "$MONITOR_PORT" "$n")"; then
      tail -n 20 "$(nats_dir "$n")/nats-server.log" >&2 || true
      log "nats n$n not ready after ${WAIT_S}s"
      FAILED=1
    fi
  done
}

nats_down() {
  local n d pid
  for n in "${NODES[@]}"; do
    d=$(nats_dir "$n")
    pid=$(pid_of "$d/nats-server.pid")
    if ours "$pid" "$d/nats-server.conf"; then
      stop_pid "$pid" "nats n$n"
    fi
  done
}

nats_status() {
  local n d pid state leader
  for n in "${NODES[@]}"; do
    d=$(nats_dir "$n")
    pid=$(pid_of "$d/nats-server.pid")
    leader=""
    if ! ours "$pid" "$d/nats-server.conf"; then
      state=down
    elif nats_ready "$(port "$MONITOR_PORT" "$n")"; then
      state=up
      leader=$(nats_meta_leader "$(port "$MONITOR_PORT" "$n")")
    else
      state=starting
    fi
    printf '%-10s %-8s %-45s mqtt://127.0.0.1:%s  meta leader: %s\n' "nats-n$n" "$state" \
      "nats://127.0.0.1:$(port "$NATS_PORT" "$n")" "$(port "$MQTT_PORT" "$n")" "${leader:-none}"
  done
}

# ---- fleetd ----------------------------------------------------------------------------------
FLEETD_BIN=""

find_fleetd() {
  local target="${CARGO_TARGET_DIR:-$REPO/target}"
  for FLEETD_BIN in "$target/release/fleetd" "$target/debug/fleetd"; do
    [ -x "$FLEETD_BIN" ] && return 0
  done
  log "no fleetd binary: cargo build --release -p fleetd"
  (cd "$REPO" && cargo build --release -p fleetd) || die "cargo build failed"
  FLEETD_BIN="$target/release/fleetd"
}

nats_urls() {
  local n urls=()
  for n in "${NODES[@]}"; do
    urls+=("nats://127.0.0.1:$(port "$NATS_PORT" "$n")")
  done
  local IFS=,
  echo "${urls[*]}"
}

# fleetd_conf N: node N's configuration file (the keys that differ from config/default.toml).
fleetd_conf() {
  cat <<EOF
# Generated by fleetd scripts/cluster.sh: edits are overwritten.
[database]
url = "postgres://postgres@$PRIMARY_HOST:$PRIMARY_PORT/$DB_NAME"
replica_url = "postgres://postgres@127.0.0.1:$REPLICA_PORT/$DB_NAME"

[mqtt]
client_id = "fleetd-cluster-$1"
# nats-server's MQTT listener on this node: fleetd connects once at start so that nats-server
# creates its MQTT stream (\$MQTT_msgs), which fleetd reads (jetstream.capture = "mqtt").
url = "mqtt://127.0.0.1:$(port "$MQTT_PORT" "$1")"

[ingest]
source = "jetstream"

[jetstream]
urls = "$(nats_urls)"
replicas = 3
name = "fleetd-cluster-$1"

[http]
addr = "127.0.0.1:$(port "$HTTP_PORT" "$1")"
EOF
}

fleetd_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(port "$HTTP_PORT" "$1")/readyz" 2>/dev/null; }

fleetd_up() {
  local n conf pid out started=()
  find_fleetd
  export FLEETD_JWT_SECRET="${FLEETD_JWT_SECRET:-$(run_secret "$RUN_DIR/jwt_secret")}"
  export FLEETD_ADMIN_PASSWORD="${FLEETD_ADMIN_PASSWORD:-$(run_secret "$RUN_DIR/admin_password")}"
  for n in "${NODES[@]}"; do
    conf="$DIR/fleetd-$n.toml"
    fleetd_conf "$n" >"$conf"
  done
  # One check and one migration for all: the nodes share the database.
  if ! out=$("$FLEETD_BIN" --config "$DIR/fleetd-1.toml" check-config 2>&1 >/dev/null); then
    log "fleetd refuses .run/cluster/fleetd-1.toml (this build may not know ingest.source = \"jetstream\" yet): $out"
    FAILED=1
    return 0
  fi
  "$FLEETD_BIN" --config "$DIR/fleetd-1.toml" migrate >>"$DIR/fleetd-migrate.log" 2>&1 \
    || { tail -n 20 "$DIR/fleetd-migrate.log" >&2; log "fleetd migrate failed"; FAILED=1; return 0; }
  for n in "${NODES[@]}"; do
    conf="$DIR/fleetd-$n.toml"
    pid=$(pid_of "$DIR/fleetd-$n.pid")
    ours "$pid" "$conf" && continue
    log "starting fleetd-$n on 127.0.0.1:$(port "$HTTP_PORT" "$n")"
    setsid "$FLEETD_BIN" --config "$conf" serve </dev/null >>"$DIR/fleetd-$n.log" 2>&1 &
    echo "$!" >"$DIR/fleetd-$n.pid"
    started+=("$n")
  done
  for n in "${started[@]}"; do
    if ! wait_for "$READY_TIMEOUT_S" fleetd_ready "$n"; then
      tail -n 20 "$DIR/fleetd-$n.log" >&2 || true
      log "fleetd-$n not ready after ${READY_TIMEOUT_S}s"
      FAILED=1
    fi
  done
}

fleetd_down() {
  local n pid
  for n in "${NODES[@]}"; do
    pid=$(pid_of "$DIR/fleetd-$n.pid")
    if ours "$pid" "$DIR/fleetd-$n.toml"; then
      stop_pid "$pid" "fleetd-$n"
    fi
    rm -f "$DIR/fleetd-$n.pid"
  done
}

fleetd_status() {
  local n pid state
  for n in "${NODES[@]}"; do
    pid=$(pid_of "$DIR/fleetd-$n.pid")
    if ! ours "$pid" "$DIR/fleetd-$n.toml"; then
      state=down
    elif fleetd_ready "$n"; then
      state=ready
    else
      state="not ready"
    fi
    printf '%-10s %-8s %-45s /readyz\n' "fleetd-$n" "$state" "http://127.0.0.1:$(port "$HTTP_PORT" "$n")"
  done
}

status() {
  nats_status
  replica_status
  fleetd_status
}

main() {
  mkdir -p "$DIR"
  case "${1:-}" in
    up)
      nats_up
      replica_up
      fleetd_up
      status
      exit "$FAILED"
      ;;
    down)
      fleetd_down
      nats_down
      replica_down
      ;;
    status) status ;;
    *) die "usage: scripts/cluster.sh up|down|status" ;;
  esac
}

main "$@"
