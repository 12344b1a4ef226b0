# Mosquitto with the dynamic-security plugin: helpers sourced by scripts/services.sh (the
# project's broker) and the test scripts (a private broker each). Needs mosquitto and
# mosquitto_ctrl (Debian package mosquitto) on PATH; /usr/sbin must be on PATH.

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

# private_broker DIR: starts a broker of its own in DIR (created), refusing anonymous clients,
# with accounts in DIR/dynamic-security.json administered by PB_ADMIN_USER. Sets PB_PORT,
# PB_PID, PB_ADMIN_USER, PB_ADMIN_PASSWORD. Stop it with: kill "$PB_PID".
private_broker() {
  local dir=$1 plugin i
  plugin=$(dynsec_plugin) || { echo "mosquitto_dynamic_security.so not found" >&2; return 1; }
  mkdir -p "$dir"
  PB_ADMIN_USER=fleetd-admin
  PB_ADMIN_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  rm -f "$dir/dynamic-security.json"
  dynsec_init "$dir/dynamic-security.json" "$PB_ADMIN_USER" "$PB_ADMIN_PASSWORD"
  PB_PORT=$(free_port)
  cat >"$dir/mosquitto.conf" <<CONF
listener $PB_PORT 127.0.0.1
allow_anonymous false
plugin $plugin
plugin_opt_config_file $dir/dynamic-security.json
persistence false
max_queued_messages 0
max_inflight_messages 10000
max_packet_size 1048576
log_dest file $dir/mosquitto.log
user $(id -un)
CONF
  mosquitto -c "$dir/mosquitto.conf" >>"$dir/mosquitto.log" 2>&1 &
  PB_PID=$!
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PB_PORT") 2>/dev/null; then
      return 0
    fi
    kill -0 "$PB_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$dir/mosquitto.log" >&2 || true
  echo "the private broker did not start" >&2
  return 1
}
