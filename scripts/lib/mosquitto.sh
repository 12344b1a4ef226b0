# Mosquitto as fleetd runs it: config/mosquitto.conf (anonymous clients refused, accounts in the
# dynamic-security plugin) adapted to a data directory and a port. Sourced by
# scripts/services.sh (the project's broker) and the test, drill and benchmark scripts (a
# private broker each). Needs mosquitto and mosquitto_ctrl (Debian package mosquitto) and
# python3; /usr/sbin on PATH. Defines functions only.

# The plugin's shared object: Debian's multiarch path, the eclipse-mosquitto image's, or
# wherever the installed package put it.
dynsec_plugin() {
  local p
  for p in /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so \
    /usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so \
    /usr/lib/mosquitto_dynamic_security.so /usr/local/lib/mosquitto_dynamic_security.so; do
    if [ -f "$p" ]; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  dpkg -L mosquitto 2>/dev/null | grep -m 1 '/mosquitto_dynamic_security\.so$'
}

# dynsec_init FILE USER PASSWORD: a plugin file whose only account is the administrator USER
# (mosquitto_ctrl's init), unless FILE exists already. Mode 600: it holds password hashes.
dynsec_init() {
  [ -s "$1" ] && return 0
  (umask 077 && mosquitto_ctrl dynsec init "$1" "$2" "$3" >/dev/null)
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_secret FILE: prints FILE's content, first creating it (64 random hex characters, mode
# 600) if it is missing or empty.
run_secret() {
  if [ ! -s "$1" ]; then
    (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$1")
  fi
  cat "$1"
}

# mosquitto_conf DIR HOST PORT MODE [TLS_PORT TLS_DIR]: config/mosquitto.conf (found next to
# this file) on stdout, adapted: the one `listener` line becomes HOST:PORT; persistence, the
# plugin's accounts file and the log go into DIR; the plugin line names the installed plugin;
# the broker keeps the invoking user. MODE "anonymous" instead lets anyone in and loads no
# plugin (benchmarks and drills that measure the pipeline alone). With TLS_PORT, a second
# listener on HOST:TLS_PORT speaks MQTT over TLS with TLS_DIR's server certificate
# (scripts/tls.sh), the same accounts and rules; client certificates are accepted, not required.
mosquitto_conf() {
  local dir=$1 host=$2 port=$3 mode=$4 tls_port=${5:-} tls_dir=${6:-} src dir_re plugin_re plugin
  src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/config/mosquitto.conf"
  [ -r "$src" ] || { echo "$src is missing" >&2; return 1; }
  case "$dir" in *[[:space:]]*) echo "the data directory must not contain spaces: $dir" >&2; return 1 ;; esac
  [ "$(grep -cE '^[[:space:]]*listener[[:space:]]' "$src")" = 1 ] \
    || { echo "$src must have exactly one 'listener' line" >&2; return 1; }
  dir_re=$(printf '%s' "$dir" | sed -e 's/[\\|&]/\\&/g')
  echo "# GENERATED from config/mosquitto.conf; edits here are overwritten."
  if [ "$mode" = anonymous ]; then
    sed -E \
      -e "s|^[[:space:]]*listener[[:space:]].*|listener $port $host|" \
      -e "s|^[[:space:]]*persistence_location[[:space:]].*|persistence_location $dir_re/|" \
      -e 's|^[[:space:]]*allow_anonymous[[:space:]].*|allow_anonymous true|' \
      -e '/^[[:space:]]*(log_dest|pid_file|user|plugin|plugin_opt_[a-z_]*)[[:space:]]/d' \
      "$src"
  else
    plugin=$(dynsec_plugin) || { echo "mosquitto_dynamic_security.so not found" >&2; return 1; }
    plugin_re=$(printf '%s' "$plugin" | sed -e 's/[\\|&]/\\&/g')
    sed -E \
      -e "s|^[[:space:]]*listener[[:space:]].*|listener $port $host|" \
      -e "s|^[[:space:]]*persistence_location[[:space:]].*|persistence_location $dir_re/|" \
      -e "s|^[[:space:]]*plugin[[:space:]].*|plugin $plugin_re|" \
      -e "s|^[[:space:]]*plugin_opt_config_file[[:space:]].*|plugin_opt_config_file $dir_re/dynamic-security.json|" \
      -e '/^[[:space:]]*(log_dest|pid_file|user)[[:space:]]/d' \
      "$src"
  fi
  echo
  echo "# ---- added for this directory ----"
  grep -qE '^[[:space:]]*persistence_location[[:space:]]' "$src" || echo "persistence_location $dir/"
  echo "log_dest file $dir/mosquitto.log"
  echo "pid_file $dir/mosquitto.pid"
  echo "user $(id -un)"
  if [ -n "$tls_port" ]; then
    echo
    echo "# MQTT over TLS (mqtts://$host:$tls_port), certificates from scripts/tls.sh."
    echo "listener $tls_port $host"
    echo "cafile $tls_dir/ca.crt"
    echo "certfile $tls_dir/server.crt"
    echo "keyfile $tls_dir/server.key"
    echo "require_certificate false"
  fi
}

# private_broker DIR [MODE [TLS_DIR]]: a broker of its own in DIR (created, emptied) on a free
# port of 127.0.0.1, configured as the project's broker. Secured (the default), its only
# account is the administrator PB_ADMIN_USER; MODE "anonymous" lets anyone in. With TLS_DIR
# (scripts/tls.sh's certificates), a second listener on PB_TLS_PORT speaks MQTT over TLS.
# Sets PB_DIR, PB_PORT, PB_TLS_PORT (empty without TLS_DIR), PB_PID, PB_ADMIN_USER and
# PB_ADMIN_PASSWORD (empty when anonymous). Stop it with: kill "$PB_PID".
private_broker() {
  local dir=$1 mode=${2:-secured} tls_dir=${3:-}
  rm -rf "$dir"
  mkdir -p "$dir"
  PB_DIR=$dir
  PB_PORT=$(free_port)
  PB_TLS_PORT=""
  if [ -n "$tls_dir" ]; then
    PB_TLS_PORT=$(free_port)
    while [ "$PB_TLS_PORT" = "$PB_PORT" ]; do PB_TLS_PORT=$(free_port); done
  fi
  PB_ADMIN_USER=fleetd-admin
  PB_ADMIN_PASSWORD=""
  if [ "$mode" != anonymous ]; then
    PB_ADMIN_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    dynsec_init "$dir/dynamic-security.json" "$PB_ADMIN_USER" "$PB_ADMIN_PASSWORD"
  fi
  mosquitto_conf "$dir" 127.0.0.1 "$PB_PORT" "$mode" "$PB_TLS_PORT" "$tls_dir" >"$dir/mosquitto.conf"
  private_broker_start
}

# private_broker_start: (re)starts the broker of the last private_broker call with its
# configuration and data (after a kill, for drills). Sets PB_PID.
private_broker_start() {
  local i
  mosquitto -c "$PB_DIR/mosquitto.conf" >>"$PB_DIR/mosquitto.log" 2>&1 &
  PB_PID=$!
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PB_PORT") 2>/dev/null; then
      return 0
    fi
    kill -0 "$PB_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$PB_DIR/mosquitto.log" >&2 || true
  echo "the broker in $PB_DIR did not start" >&2
  return 1
}
