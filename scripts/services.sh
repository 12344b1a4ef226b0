#!/usr/bin/env bash
# Installs (Debian/Ubuntu, apt) and starts what fleetd needs on this machine, then prints one
# status line per service:
#   - a local CA and certificates in .run/tls/ (scripts/tls.sh), for TLS to everything below;
#   - PostgreSQL 15 + PostGIS 3 on 127.0.0.1:5432, user postgres without a password over local
#     TCP, database ${FLEETD_DB_NAME:-fleetd} with the postgis extension, serving TLS with a
#     certificate from scripts/tls.sh when its own was Debian's default (ensure_postgres_tls);
#   - Redis 7 on 127.0.0.1:6379 (keeps nothing on disk);
#   - the project's own Mosquitto 2 broker on 127.0.0.1:${FLEETD_MQTT_PORT:-1884}, configured from
#     config/mosquitto.conf, data in .run/mosquitto/ (a system broker on 1883 is left alone):
#     anonymous clients refused, accounts in the dynamic-security plugin, whose administrator
#     fleetd-admin has its password in .run/broker_admin_password (created once, mode 600);
#     restarted when this checkout started it with another configuration; the same broker
#     over TLS on 127.0.0.1:${FLEETD_MQTTS_PORT:-8884};
#   - nats-server (Debian's, 2.9 on Debian 12), for `ingest.source = "jetstream"`: installed
#     only; nothing is started (scripts/cluster.sh and the tests run their own servers);
#   - build prerequisites: gcc, libc6-dev, pkg-config, ca-certificates, curl, jq, openssl; cargo
#     via rustup;
#   - Chromium and its WebDriver (chromium, chromium-driver: /usr/bin/chromium,
#     /usr/bin/chromedriver) and a font (fonts-dejavu-core), for the browser tests
#     (tests/it/browser/); nothing is started, each test runs its own.
# Idempotent: what is installed and running is left as it is, so a second run only checks.
# Works without systemd (containers, CI). Needs root (or password-less sudo) only to install
# packages or to create, configure or start the PostgreSQL cluster.
# Environment: FLEETD_DB_NAME (default fleetd), FLEETD_MQTT_PORT (default 1884),
# FLEETD_MQTTS_PORT (default 8884), FLEETD_TLS_HOSTS (extra certificate names, scripts/tls.sh).
# Exports nothing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$REPO/.run"
PATH="/usr/sbin:/sbin:$PATH"        # pg_ctlcluster, mosquitto and redis-server live in sbin dirs
export DEBIAN_FRONTEND=noninteractive

PG_VERSION=15                       # major version installed when no server is present
PG_CLUSTER=main
PG_HOST=127.0.0.1
PG_PORT=5432
DB_NAME="${FLEETD_DB_NAME:-fleetd}"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
MQTT_HOST=127.0.0.1
MQTT_PORT="${FLEETD_MQTT_PORT:-1884}"
MQTTS_PORT="${FLEETD_MQTTS_PORT:-8884}"  # the same broker over TLS
WAIT_S=60                           # bound on every wait for a service to come up
MQTT_DIR="$RUN_DIR/mosquitto"
# shellcheck source=scripts/lib/mosquitto.sh
source "$REPO/scripts/lib/mosquitto.sh"
APT_LOG="$RUN_DIR/apt.log"
APT_UPDATED=0
STATUS=()                           # one line per service, printed at the end

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root, else through password-less sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif have sudo && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "this step needs root: $* (run as root or configure password-less sudo)"
  fi
}

# Runs a command as the postgres OS user (peer authentication over the Unix socket).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then
    "$@"
  elif [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  elif have sudo && sudo -n true 2>/dev/null; then
    sudo -n -u postgres -- "$@"
  else
    die "this step needs root or the postgres user: $*"
  fi
}

pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# apt-get install, quiet: output goes to .run/apt.log and is shown only when apt fails.
# `apt-get update` runs once per invocation, before the first install.
apt_install() {
  have apt-get || die "apt-get not found; install these by hand: $*"
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    if ! as_root apt-get update -q >"$APT_LOG" 2>&1; then
      tail -n 30 "$APT_LOG" >&2
      die "apt-get update failed (full log: $APT_LOG)"
    fi
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  if ! as_root env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
      apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "$@" >>"$APT_LOG" 2>&1; then
    tail -n 30 "$APT_LOG" >&2
    die "apt-get install $* failed (full log: $APT_LOG)"
  fi
}

# wait_for DESCRIPTION COMMAND...: retries COMMAND every 0.5 s for at most WAIT_S seconds.
wait_for() {
  local what=$1 deadline=$((SECONDS + WAIT_S))
  shift
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "gave up after ${WAIT_S}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# True when something accepts TCP connections on HOST PORT.
port_open() {
  # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# ---- build prerequisites ---------------------------------------------------------------------
ensure_build_tools() {
  local missing=()
  have gcc || missing+=(gcc)
  pkg_installed libc6-dev || missing+=(libc6-dev)     # crt files and libc for linking Rust binaries
  have pkg-config || missing+=(pkg-config)
  [ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
  have curl || missing+=(curl)
  have jq || missing+=(jq)
  have openssl || missing+=(openssl)       # scripts/tls.sh: the local CA and certificates
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

# ---- Chromium, for the browser tests ---------------------------------------------------------
# Debian's packages only: the tests block every non-loopback request, and a browser fetched
# by a downloader (Chrome for Testing, say) would be a network dependency of the suite. The
# driver must come from the same source build as the browser (chromedriver refuses another
# major version), which two packages from one archive guarantee. (Ubuntu's chromium packages
# install a snap instead, which containers cannot run.)
ensure_browser() {
  local missing=() browser driver
  have chromium || missing+=(chromium)
  have chromedriver || missing+=(chromium-driver)
  pkg_installed fonts-dejavu-core || missing+=(fonts-dejavu-core)  # text in screenshots
  if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  browser=$(chromium --version 2>/dev/null | awk '{ print $2 }' || true)
  driver=$(chromedriver --version 2>/dev/null | awk '{ print $2 }' || true)
  [ -n "$browser" ] || die "chromium is installed but 'chromium --version' fails"
  [ -n "$driver" ] || die "chromium-driver is installed but 'chromedriver --version' fails"
  STATUS+=("$(printf '%-10s ok  %-45s %s, chromedriver %s' chromium "$browser" \
    "$(command -v chromium)" "$driver")")
}

# ---- PostgreSQL + PostGIS --------------------------------------------------------------------
pg_psql() {
  PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning' \
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"
}
pg_login_ok() { pg_psql -d postgres -Atc 'select 1' >/dev/null 2>&1; }
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2; }

# Prints "VERSION NAME" of the cluster configured for PG_PORT, or of PG_VERSION/PG_CLUSTER.
pg_find_cluster() {
  local found
  found=$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }' || true)
  if [ -z "$found" ] && [ -d "/etc/postgresql/$PG_VERSION/$PG_CLUSTER" ]; then
    found="$PG_VERSION $PG_CLUSTER"
  fi
  printf '%s' "$found"
}

pg_start() {
  local ver name port listen cluster_log
  read -r ver name <<<"$(pg_find_cluster)" || true
  if [ -z "${ver:-}" ]; then
    ver=$PG_VERSION name=$PG_CLUSTER
    log "creating PostgreSQL cluster $ver/$name on port $PG_PORT"
    as_root env LC_ALL=C.UTF-8 pg_createcluster --locale C.UTF-8 -p "$PG_PORT" "$ver" "$name" \
      >>"$RUN_DIR/postgres-setup.log" 2>&1 \
      || { tail -n 20 "$RUN_DIR/postgres-setup.log" >&2; die "pg_createcluster $ver $name failed"; }
  fi
  port=$(pg_conftool -s "$ver" "$name" show port 2>/dev/null || echo "$PG_PORT")
  if [ "$port" != "$PG_PORT" ]; then
    log "setting port = $PG_PORT for cluster $ver/$name (was $port)"
    as_root pg_conftool "$ver" "$name" set port "$PG_PORT"
  fi
  # listen_addresses defaults to 'localhost'; make sure a configured value still covers 127.0.0.1.
  listen=$(pg_conftool -s "$ver" "$name" show listen_addresses 2>/dev/null || echo localhost)
  listen=${listen//\'/}
  if ! [[ ",${listen// /}," =~ ,(\*|localhost|127\.0\.0\.1|0\.0\.0\.0), ]]; then
    log "adding 127.0.0.1 to listen_addresses of cluster $ver/$name (was '$listen')"
    as_root pg_conftool "$ver" "$name" set listen_addresses "${listen:+$listen,}127.0.0.1"
  fi
  log "starting PostgreSQL cluster $ver/$name"
  if ! as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >>"$RUN_DIR/postgres-setup.log" 2>&1; then
    tail -n 10 "$RUN_DIR/postgres-setup.log" >&2
    cluster_log="/var/log/postgresql/postgresql-$ver-$name.log"
    [ -r "$cluster_log" ] && tail -n 20 "$cluster_log" >&2
    die "could not start PostgreSQL cluster $ver/$name"
  fi
}

# Lets user postgres log in over local TCP without a password. Only called when that fails on a
# running server: prepends trust lines for 127.0.0.1/32 and ::1/128 to pg_hba.conf and reloads.
pg_allow_local_trust() {
  local hba tmp
  hba=$(as_postgres psql -X -At -p "$PG_PORT" -c 'show hba_file') \
    || die "cannot ask the server for its hba_file over the Unix socket"
  if as_root grep -q 'fleetd scripts/services.sh' "$hba"; then
    pg_psql -d postgres -Atc 'select 1' || true
    die "password-less login as postgres on $PG_HOST:$PG_PORT still fails; see the error above and $hba"
  fi
  log "allowing password-less TCP login for user postgres from 127.0.0.1 and ::1 in $hba"
  as_root cp -p "$hba" "$hba.before-fleetd"
  tmp=$(mktemp)
  {
    echo "# Added by fleetd scripts/services.sh (development/CI): local TCP logins as postgres need no password."
    echo "host    all    postgres    127.0.0.1/32    trust"
    echo "host    all    postgres    ::1/128         trust"
    as_root cat "$hba"
  } >"$tmp"
  as_root tee "$hba" <"$tmp" >/dev/null     # keeps the file's owner and mode
  rm -f "$tmp"
  as_postgres psql -X -q -At -p "$PG_PORT" -c 'select pg_reload_conf()' >/dev/null
  wait_for "password-less login as postgres" pg_login_ok || die "login still fails after editing $hba"
}

ensure_postgres() {
  local pkgs=() info major version version_num has_postgis has_db postgis
  if ! have psql || ! have pg_isready; then
    pkgs+=("postgresql-client-$PG_VERSION")
  fi
  # Nothing listens and no server is installed: install one, with PostGIS, in the same apt run.
  if ! port_open "$PG_HOST" "$PG_PORT" && [ -z "$(pg_find_cluster)" ] \
    && ! [ -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]; then
    pkgs+=("postgresql-$PG_VERSION" "postgresql-$PG_VERSION-postgis-3")
  fi
  if [ "${#pkgs[@]}" -gt 0 ]; then
    apt_install "${pkgs[@]}"
  fi
  if ! pg_login_ok; then
    if ! port_open "$PG_HOST" "$PG_PORT"; then
      pg_start
    fi
    wait_for "PostgreSQL on $PG_HOST:$PG_PORT" pg_ready || die "PostgreSQL on $PG_HOST:$PG_PORT is not ready"
    pg_login_ok || pg_allow_local_trust
  fi

  [[ "$DB_NAME" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] \
    || die "FLEETD_DB_NAME must be a lower-case SQL identifier ([a-z_][a-z0-9_]*), got '$DB_NAME'"
  info=$(pg_psql -d postgres -At -F ' ' -c "
    select current_setting('server_version_num'), split_part(current_setting('server_version'), ' ', 1),
           exists (select 1 from pg_available_extensions where name = 'postgis'),
           exists (select 1 from pg_database where datname = '$DB_NAME')") \
    || die "cannot query PostgreSQL on $PG_HOST:$PG_PORT"
  read -r version_num version has_postgis has_db <<<"$info"
  major=$((version_num / 10000))
  if [ "$major" -lt 15 ]; then
    die "the server on $PG_HOST:$PG_PORT is PostgreSQL $version; fleetd needs 15 or later"
  fi
  if [ "$has_postgis" != t ]; then
    apt_install "postgresql-$major-postgis-3"
  fi
  if [ "$has_db" != t ]; then
    log "creating database $DB_NAME"
    pg_psql -d postgres -c "CREATE DATABASE $DB_NAME"
  fi
  postgis=$(pg_psql -d "$DB_NAME" -At -c 'CREATE EXTENSION IF NOT EXISTS postgis' -c 'select postgis_lib_version()') \
    || die "CREATE EXTENSION postgis failed in database $DB_NAME"
  ensure_postgres_tls
  STATUS+=("$(printf '%-10s ok  %-45s PostgreSQL %s, PostGIS %s, %s' postgres \
    "postgres://postgres@$PG_HOST:$PG_PORT/$DB_NAME" "$version" "$postgis" "$PG_TLS")")
}

# Serves TLS with a certificate from scripts/tls.sh, so that database.url can say
# sslmode=verify-full&sslrootcert=<the cluster's configuration directory>/fleetd-tls/ca.crt.
# Only a Debian cluster (pg_conftool) whose certificate is Debian's snakeoil default, or one
# installed here before, is changed: this checkout's certificate, key and CA are copied to
# fleetd-tls/ in the cluster's configuration directory (owned by postgres; the key mode 600,
# the CA readable by all), ssl_cert_file and ssl_key_file point there, and the server reloads.
# A certificate installed here before (by this or another checkout) is kept while it still
# verifies against the CA beside it and has 30 days left, so that checkouts sharing the server
# do not keep replacing each other's; tests read the CA from there. Any other certificate is
# the operator's and is left alone.
ensure_postgres_tls() {
  local ver name target current note=""
  read -r ver name <<<"$(pg_find_cluster)" || true
  if [ -z "${ver:-}" ] || ! have pg_conftool; then
    PG_TLS="TLS not configured (not a Debian cluster)"
    return 0
  fi
  target="/etc/postgresql/$ver/$name/fleetd-tls"
  current=$(pg_psql -d postgres -Atc 'show ssl_cert_file') || die "cannot read ssl_cert_file"
  case "$current" in
    /etc/ssl/certs/ssl-cert-snakeoil.pem | "$target/server.crt" | server.crt | "") ;;
    *)
      PG_TLS="TLS with the operator's certificate $current (left alone)"
      return 0
      ;;
  esac
  if [ "$current" != "$target/server.crt" ] \
    || [ "$(pg_psql -d postgres -Atc 'show ssl')" != on ] \
    || ! as_root openssl verify -CAfile "$target/ca.crt" "$target/server.crt" >/dev/null 2>&1 \
    || ! as_root openssl x509 -in "$target/server.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
    log "PostgreSQL $ver/$name: TLS with the project's certificate ($target)"
    as_root install -d -o postgres -g postgres -m 755 "$target"
    as_root install -o postgres -g postgres -m 644 "$TLS_DIR/server.crt" "$target/server.crt"
    as_root install -o postgres -g postgres -m 600 "$TLS_DIR/server.key" "$target/server.key"
    as_root install -o postgres -g postgres -m 644 "$TLS_DIR/ca.crt" "$target/ca.crt"
    as_root pg_conftool "$ver" "$name" set ssl on
    as_root pg_conftool "$ver" "$name" set ssl_cert_file "$target/server.crt"
    as_root pg_conftool "$ver" "$name" set ssl_key_file "$target/server.key"
    pg_psql -d postgres -Atc 'select pg_reload_conf()' >/dev/null
    # A reload that cannot load the files keeps the old ones: check it took.
    wait_for "PostgreSQL to load the project's certificate" \
      bash -c '[ "$(PGCONNECT_TIMEOUT=5 psql -X -h "$1" -p "$2" -U postgres -d postgres -Atc "show ssl_cert_file")" = "$3" ]' \
      _ "$PG_HOST" "$PG_PORT" "$target/server.crt" \
      || die "PostgreSQL did not take $target/server.crt (see its log)"
    note=", reloaded"
  fi
  PG_TLS="TLS: sslmode=verify-full&sslrootcert=$target/ca.crt$note"
}

# ---- Redis -----------------------------------------------------------------------------------
redis_ok() { [ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  local dir="$RUN_DIR/redis" version
  if ! have redis-cli || ! redis_ok; then
    if ! have redis-server || ! have redis-cli; then
      apt_install redis-server redis-tools
    fi
    if ! redis_ok; then          # installing may have started the packaged server
      if port_open "$REDIS_HOST" "$REDIS_PORT"; then
        die "something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING (password set?)"
      fi
      mkdir -p "$dir"
      log "starting redis-server on $REDIS_HOST:$REDIS_PORT"
      redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" \
        || die "redis-server failed to start (see $dir/redis.log)"
      wait_for "Redis on $REDIS_HOST:$REDIS_PORT" redis_ok \
        || { tail -n 20 "$dir/redis.log" >&2 || true; die "Redis did not answer PING"; }
    fi
  fi
  version=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" info server 2>/dev/null \
    | awk -F: '$1 == "redis_version" { sub(/\r$/, "", $2); print $2 }')
  STATUS+=("$(printf '%-10s ok  %-45s Redis %s' redis "redis://$REDIS_HOST:$REDIS_PORT" "${version:-?}")")
}

# ---- Mosquitto (the project's own broker) ----------------------------------------------------
# Writes .run/mosquitto/mosquitto.conf from config/mosquitto.conf (scripts/lib/mosquitto.sh):
# listener 127.0.0.1:MQTT_PORT, persistence, the plugin's accounts and the log in
# .run/mosquitto/, the installed plugin, the invoking user (as root the broker would otherwise
# switch to user "mosquitto", which may not be able to write inside this checkout). Sets
# MQTT_CONF_CHANGED=1 when the file changed.
write_mosquitto_conf() {
  local conf="$MQTT_DIR/mosquitto.conf" tmp
  tmp="$conf.tmp.$$"
  mosquitto_conf "$MQTT_DIR" "$MQTT_HOST" "$MQTT_PORT" secured "$MQTTS_PORT" "$TLS_DIR" >"$tmp" \
    || die "cannot generate $conf"
  MQTT_CONF_CHANGED=0
  if [ -f "$conf" ] && cmp -s "$tmp" "$conf"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$conf"
    MQTT_CONF_CHANGED=1
  fi
}

# Answers MQTT as the plugin's administrator (a broker refusing anonymous clients still answers
# a CONNECT, so a refusal also proves something speaks MQTT there).
mqtt_ok() {
  local out
  # shellcheck disable=SC2016  # $SYS is a literal MQTT topic
  out=$(timeout 5 mosquitto_sub -h "$MQTT_HOST" -p "$MQTT_PORT" -u "$BROKER_ADMIN_USER" \
    -P "$BROKER_ADMIN_PASSWORD" -t '$SYS/broker/version' -C 1 -W 3 2>&1) && return 0
  case "$out" in *"not authorised"* | *"Connection Refused"*) MQTT_REFUSED=1; return 0 ;; esac
  return 1
}

# Stops the broker this checkout started (pid file), gracefully: it saves its database.
stop_own_mosquitto() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 $((WAIT_S * 10))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  die "mosquitto (pid $pid) did not stop within ${WAIT_S}s"
}

start_mosquitto() {
  log "starting mosquitto on $MQTT_HOST:$MQTT_PORT (data in ${MQTT_DIR#"$REPO"/})"
  # Start-up messages (config errors, the "running as root" warning) go to the log file too.
  mosquitto -d -c "$MQTT_DIR/mosquitto.conf" >>"$MQTT_DIR/mosquitto.log" 2>&1 \
    || { tail -n 20 "$MQTT_DIR/mosquitto.log" >&2 || true; die "mosquitto failed to start"; }
  if ! wait_for "Mosquitto on $MQTT_HOST:$MQTT_PORT" port_open "$MQTT_HOST" "$MQTT_PORT" \
    || ! wait_for "Mosquitto to answer MQTT" mqtt_ok; then
    tail -n 20 "$MQTT_DIR/mosquitto.log" >&2 || true
    die "Mosquitto did not come up"
  fi
}

ensure_mosquitto() {
  local need=() pidfile="$MQTT_DIR/mosquitto.pid" pid="" note="" version
  have mosquitto || need+=(mosquitto)
  { have mosquitto_sub && have mosquitto_pub; } || need+=(mosquitto-clients)
  if [ "${#need[@]}" -gt 0 ]; then
    apt_install "${need[@]}"
  fi
  mkdir -p "$MQTT_DIR"
  # The plugin's administrator: its password in .run/broker_admin_password (mode 600), the
  # accounts file created once; run.sh gives both to fleetd.
  BROKER_ADMIN_USER=fleetd-admin
  BROKER_ADMIN_PASSWORD=$(run_secret "$RUN_DIR/broker_admin_password")
  if [ ! -s "$MQTT_DIR/dynamic-security.json" ]; then
    dynsec_init "$MQTT_DIR/dynamic-security.json" "$BROKER_ADMIN_USER" "$BROKER_ADMIN_PASSWORD" \
      || die "mosquitto_ctrl dynsec init failed"
    # Tracker accounts saved by run.sh belonged to the accounts file this one replaces.
    rm -f "$RUN_DIR"/trackers-*.jsonl
  fi
  write_mosquitto_conf
  if [ -s "$pidfile" ]; then
    pid=$(cat "$pidfile")
  fi

  MQTT_REFUSED=0
  if mqtt_ok; then
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      if [ "$MQTT_CONF_CHANGED" -eq 1 ] || [ "$MQTT_REFUSED" -eq 1 ]; then
        # Ours, but started from another configuration (an older checkout's, say): the
        # security settings must apply, so restart it; persistence keeps its sessions.
        log "restarting mosquitto (pid $pid): its configuration changed"
        stop_own_mosquitto "$pid"
        start_mosquitto
      fi
    else
      note=" (already running, not started from this checkout)"
      [ "$MQTT_REFUSED" -eq 0 ] || note=" (already running, not started from this checkout, and refusing .run/broker_admin_password)"
    fi
  elif port_open "$MQTT_HOST" "$MQTT_PORT"; then
    die "something listens on $MQTT_HOST:$MQTT_PORT but does not speak MQTT; set FLEETD_MQTT_PORT"
  else
    start_mosquitto
  fi
  version=$(mosquitto -h 2>/dev/null | head -n 1 | sed -n 's/^mosquitto version //p' || true)
  STATUS+=("$(printf '%-10s ok  %-45s Mosquitto %s, data %s, accounts %s%s' mosquitto "mqtt://$MQTT_HOST:$MQTT_PORT" \
    "${version:-?}" "${MQTT_DIR#"$REPO"/}/" "dynamic-security.json" "$note")")
  STATUS+=("$(printf '%-10s ok  %-45s the same broker over TLS (mqtt.tls_ca_file = %s)' mqtts \
    "mqtts://$MQTT_HOST:$MQTTS_PORT" "${TLS_DIR#"$REPO"/}/ca.crt")")
}

# ---- nats-server, for ingest.source = "jetstream" -------------------------------------------
# Installed, not started: the tests (tests/it/common/nats.rs) and scripts/cluster.sh start
# their own servers, clustered and on their own ports. The machine's own NATS, if any, is
# left alone.
ensure_nats() {
  local version
  have nats-server || apt_install nats-server
  version=$(nats-server --version 2>/dev/null | sed -n 's/^nats-server: v//p' || true)
  [ -n "$version" ] || die "nats-server is installed but 'nats-server --version' fails"
  STATUS+=("$(printf '%-10s ok  %-45s nats-server %s (installed; not started here)' nats \
    "$(command -v nats-server)" "$version")")
}

# ---- Rust toolchain --------------------------------------------------------------------------
check_cargo() {
  local cargo_bin="${CARGO_HOME:-${HOME:-}/.cargo}/bin"
  if have cargo; then
    STATUS+=("$(printf '%-10s ok  %-45s gcc %s' rust "$(cargo --version 2>/dev/null | cut -d' ' -f1-2)" \
      "$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)")")
  elif [ -x "$cargo_bin/cargo" ]; then
    STATUS+=("$(printf '%-10s ok  %-45s not on PATH: run . "%s/env"' rust "$("$cargo_bin/cargo" --version | cut -d' ' -f1-2)" \
      "${cargo_bin%/bin}")")
  else
    print_status
    cat >&2 <<'EOF'
[services] ERROR: cargo not found. fleetd is built with the Rust toolchain from rustup:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    . "$HOME/.cargo/env"
  then run scripts/services.sh again (see https://rustup.rs for other platforms).
EOF
    exit 1
  fi
}

print_status() {
  local line
  for line in "${STATUS[@]}"; do
    printf '%s\n' "$line"
  done
}

main() {
  mkdir -p "$RUN_DIR"
  ensure_build_tools
  TLS_DIR=$(bash "$REPO/scripts/tls.sh" "$RUN_DIR/tls") || die "scripts/tls.sh failed"
  STATUS+=("$(printf '%-10s ok  %-45s CA %s, server and client certificates' tls \
    "${TLS_DIR#"$REPO"/}/" "ca.crt")")
  ensure_postgres
  ensure_redis
  ensure_mosquitto
  ensure_nats
  ensure_browser
  check_cargo
  print_status
}

main "$@"
