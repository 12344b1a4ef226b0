# shellcheck shell=bash
# The cluster drills of scripts/drills.sh (issue 18; `cluster` selects the four). Each runs the
# cluster of scripts/cluster.sh (3 nats-server nodes, a streaming replica, 3 fleetd nodes on
# `ingest.source = "jetstream"`) on its own ports, directory (.run/drills/cluster) and database,
# from a fresh database, while fleet-sim publishes at QoS 1 to the MQTT listener of a NATS node
# that the drill leaves alone:
#   cluster_kill9      kill -9 one fleetd node (node 2) and leave it dead: the other two take
#                      its share, and what it held unacknowledged after `ack_wait`
#   cluster_nats_kill9 kill -9 the NATS node leading $MQTT_msgs (the stream a PUBACK vouches
#                      for), start it again 15 s after a new leader is elected; nothing is
#                      stored until then (no PUBACK either), and NATS waits a Raft election
#                      timeout (4-9 s, fixed in nats-server) before electing, so this drill's
#                      throughput is judged from the election
#   cluster_rolling    restart every fleetd node in turn (SIGTERM, start, ready, the next)
#   cluster_replica    stop the replica (immediate shutdown) for 15 s, reading the fleet
#                      report from every node meanwhile (each read must answer 200, from the
#                      primary), then start it and wait until every node reads from it again
# The replica starts with the first run and stops when the script ends; each run starts NATS
# again from empty JetStream directories (cl_nats_fresh says why) and the fleetd nodes again on
# a fresh database.
# Each run ends with an exact `fleet-sim verify` (lost = 0, duplicated = 0, unexpected = 0) and
# a throughput judgement from scripts/lib/cluster_sampler.py, which samples every node's
# metrics every 0.25 s: the stored rate before the fault is the baseline, and the drill fails
# unless a 2 s window stores >= 90% of it again within DRILL_CLUSTER_BACK_S (10) of the fault
# (of the new leader's election in cluster_nats_kill9).
# Reported too: the worst second after the fault, when the last reading was stored, the
# consumer's largest backlog (fleetd_jetstream_pending), the replica's largest lag and the live
# index's lag between nodes (fleetd_live_shared_lag_seconds, p50/p99 bucket bounds).
#
# Sourced by scripts/drills.sh after its own functions: uses say, OUT, SIM, RUNS, REPO, DB,
# DB_URL, PGVER. Defines functions only; cluster_drill sets CLUSTER_LINE and returns 1 on FAIL.

CL_DIR="$OUT/cluster"
CL_NATS=4251 CL_MQTT=1911 CL_ROUTE=6251 CL_MONITOR=8251 CL_HTTP=18101 CL_REPLICA=5452
# One reading per payload (fleet-sim's JSON batches leave every vehicle's batch at the same
# moment, so readings would arrive in waves seconds apart and a rate per second would say
# nothing), at a rate the NATS path keeps up with on two shared cores (~110 us of NATS CPU per
# message: BENCHMARKS.md, "Scale-out").
CL_RATE="${DRILL_CLUSTER_RATE:-5000}"
CL_READINGS="${DRILL_CLUSTER_READINGS:-300000}"
CL_BACK_S="${DRILL_CLUSTER_BACK_S:-10}"
# Trackers each have their own connection, and nats-server 2.9 answers a connection's QoS 1
# publishes one at a time: a few connections would measure their round trips.
CL_CONNECTIONS="${DRILL_CLUSTER_CONNECTIONS:-32}"
CL_SAMPLER_PID="" CL_SIM_PID="" CL_STARTED=0 CL_ELECTED_T=""

# cl COMMAND: scripts/cluster.sh on the drills' ports, directory and database; the fleetd
# nodes get the drill's settings (fleet-sim's prefix, readings of vehicles not in the
# registry stored, no Redis).
cl() {
  CLUSTER_DIR="$CL_DIR" CLUSTER_NATS_PORT=$CL_NATS CLUSTER_MQTT_PORT=$CL_MQTT CLUSTER_ROUTE_PORT=$CL_ROUTE \
    CLUSTER_MONITOR_PORT=$CL_MONITOR CLUSTER_HTTP_PORT=$CL_HTTP CLUSTER_REPLICA_PORT=$CL_REPLICA \
    FLEETD_DB_NAME="$DB" FLEETD_MQTT_TOPIC_PREFIX=drill FLEETD_INGEST_UNKNOWN_VEHICLES=store FLEETD_REDIS_URL= \
    bash "$REPO/scripts/cluster.sh" "$@"
}

# cl_replica_stop: an immediate shutdown of the drills' replica (as a crash would leave it).
cl_replica_stop() {
  local pg_ctl="/usr/lib/postgresql/$PGVER/bin/pg_ctl"
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$pg_ctl" -D "$CL_DIR/pg-replica" -m immediate -w stop >/dev/null
  else
    sudo -n -u postgres -- "$pg_ctl" -D "$CL_DIR/pg-replica" -m immediate -w stop >/dev/null
  fi
}

cl_http() { echo $((CL_HTTP + $1 - 1)); }
cl_ports() { echo "$(cl_http 1) $(cl_http 2) $(cl_http 3)"; }
cl_pid() { cat "$CL_DIR/$1" 2>/dev/null || true; }

# cl_stream_leader: the server_name (n1..n3) of the NATS node leading $MQTT_msgs.
cl_stream_leader() {
  local n
  for n in 1 2 3; do
    curl -fsS --max-time 2 "http://127.0.0.1:$((CL_MONITOR + n - 1))/jsz?accounts=true&streams=true" 2>/dev/null \
      | jq -r '[.account_details[]?.stream_detail[]? | select(.name == "$MQTT_msgs") | .cluster.leader // empty][0] // empty' \
      | grep . && return 0
  done
  return 1
}

# cl_ready N: true once fleetd node N answers /readyz.
cl_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(cl_http "$1")/readyz" 2>/dev/null; }

cl_wait_ready() {
  local _
  for _ in $(seq 1 240); do cl_ready "$1" && return 0; sleep 0.25; done
  say "fleetd node $1 not ready after 60 s"; return 1
}

# cl_metric N NAME [LABEL]: the sum of NAME's samples (with LABEL in their labels) on node N.
cl_metric() {
  curl -fsS --max-time 2 "http://127.0.0.1:$(cl_http "$1")/metrics" 2>/dev/null \
    | awk -v n="$2" -v l="${3:-}" '$1 ~ "^" n "({|$)" && index($1, l) {s += $2} END {print s + 0}'
}

cl_replica_reads() { # by: replica | primary: the reads every node served from there
  local n s=0
  for n in 1 2 3; do s=$((s + $(cl_metric "$n" fleetd_replica_reads_total "served_by=\"$1\"" | cut -d. -f1))); done
  echo "$s"
}

# cl_read_all TOKEN: the fleet report from every node; prints the statuses that were not 200.
cl_read_all() {
  local n code from to
  from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ) to=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
  for n in 1 2 3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "authorization: Bearer $1" \
      "http://127.0.0.1:$(cl_http "$n")/v1/reports/fleet?from=$from&to=$to")
    [ "$code" = 200 ] || echo "node$n:$code"
  done
}

cl_token() {
  curl -fsS -X POST "http://127.0.0.1:$(cl_http 1)/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$(cat "$REPO/.run/admin_password")\"}" \
    | jq -r .access_token
}

# cl_stop_fleetd: SIGTERM to every fleetd node still running, and wait for each to end.
cl_stop_fleetd() {
  local n pid
  for n in 1 2 3; do
    pid=$(cl_pid "fleetd-$n.pid")
    # Only our node: a pid file outlives a node killed with -9, and its pid may be reused.
    [ -n "$pid" ] && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$CL_DIR/fleetd-$n.toml" || continue
    kill -TERM "$pid" 2>/dev/null || continue
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  done
}

cl_stop_helpers() {
  local pid
  for pid in "$CL_SIM_PID" "$CL_SAMPLER_PID"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  CL_SIM_PID="" CL_SAMPLER_PID=""
}

# cl_fault DRILL DIR FAULT_T: strikes, and for the replica drill checks the reads (returns 1 on FAIL).
cl_fault() {
  local drill=$1 dir=$2 fault_t=$3 n pid leader token bad="" r0 p0 _
  case "$drill" in
    cluster_kill9)
      pid=$(cl_pid fleetd-2.pid)
      say "kill -9 fleetd node 2 (pid $pid)"; kill -9 "$pid" ;;
    cluster_nats_kill9)
      leader=$(cl_stream_leader) || { say "no leader of \$MQTT_msgs found"; return 1; }
      pid=$(cl_pid "nats-${leader#n}/nats-server.pid")
      say "kill -9 NATS node $leader (pid $pid), the leader of \$MQTT_msgs"; kill -9 "$pid"
      # Its followers elect another after a Raft election timeout (4-9 s in nats-server:
      # minElectionTimeoutDefault, maxElectionTimeoutDefault in server/raft.go, not
      # configurable); what follows the election is the part fleetd has a say in.
      for _ in $(seq 1 150); do
        n=$(cl_stream_leader || true)
        if [ -n "$n" ] && [ "$n" != "$leader" ]; then CL_ELECTED_T=$(date +%s.%N); break; fi
        sleep 0.2
      done
      say "new leader of \$MQTT_msgs: ${n:-none} after $(awk -v a="$fault_t" -v b="${CL_ELECTED_T:-0}" 'BEGIN {printf "%.1f", b - a}') s"
      sleep 15
      say "starting NATS node $leader again"; cl up > "$dir/up-again.txt" 2>&1 || true ;;
    cluster_rolling)
      for n in 1 2 3; do
        pid=$(cl_pid "fleetd-$n.pid")
        say "restarting fleetd node $n (SIGTERM, start, ready)"
        kill -TERM "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        cl up > "$dir/up-$n.txt" 2>&1 || true
        cl_wait_ready "$n" || return 1
      done ;;
    cluster_replica)
      token=$(cl_token) || { say "no admin token"; return 1; }
      r0=$(cl_replica_reads replica) p0=$(cl_replica_reads primary)
      [ -z "$(cl_read_all "$token")" ] || { say "reads fail before the fault"; return 1; }
      say "stopping the replica (immediate) for 15 s, reading from every node meanwhile"
      cl_replica_stop
      for _ in $(seq 1 30); do bad="$bad $(cl_read_all "$token")"; sleep 0.5; done
      bad=$(echo $bad)
      say "reads while it was down: $(( $(cl_replica_reads primary) - p0 )) from the primary, failed: ${bad:-none}"
      cl up > "$dir/up-again.txt" 2>&1 || true
      for _ in $(seq 1 120); do
        [ "$(( $(cl_metric 1 fleetd_replica_usable) + $(cl_metric 2 fleetd_replica_usable) + $(cl_metric 3 fleetd_replica_usable) ))" = 3 ] && break
        sleep 0.5
      done
      r0=$(cl_replica_reads replica)
      cl_read_all "$token" >/dev/null
      say "replica back: reads from the replica again: $(( $(cl_replica_reads replica) - r0 )) of 3"
      [ -z "$bad" ] && [ "$(( $(cl_replica_reads replica) - r0 ))" = 3 ] || return 1 ;;
    *) say "unknown drill $drill"; return 2 ;;
  esac
}

# cl_nats_fresh: stops the NATS nodes and deletes their JetStream data, so that every run starts
# from empty streams and no run inherits another's state. nats-server 2.9.10 (Debian's) lets a
# follower of an interest-retention stream keep messages the consumer acknowledged
# (nats-io/nats-server#3869, fixed in 2.9.15 by #3970): in one invocation of the cluster drills,
# a follower of $MQTT_msgs held 1.4 million acknowledged messages (1 GB of memory) after six
# runs, and each later run started on top of it (docs/nats.md).
cl_nats_fresh() {
  local n pid waited
  for n in 1 2 3; do
    pid=$(cl_pid "nats-$n/nats-server.pid")
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  done
  for n in 1 2 3; do
    pid=$(cl_pid "nats-$n/nats-server.pid")
    waited=0
    while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
      if [ "$waited" -ge 100 ]; then kill -9 "$pid" 2>/dev/null || true; fi
      sleep 0.2
      waited=$((waited + 1))
    done
    rm -rf "$CL_DIR/nats-$n/jetstream"
  done
}

# cluster_drill NAME RUN
cluster_drill() {
  local drill=$1 run=$2 dir="$OUT/$1-$2" fault_t manifest want got last still fault_ok=1 rc=0 _
  rm -rf "$dir"
  mkdir -p "$dir"
  say "=== $drill, run $run of $RUNS: $CL_READINGS readings at $CL_RATE/s, 3 NATS nodes, 3 fleetd nodes (files in $dir)"
  if [ "$CL_STARTED" = 0 ]; then
    # The first run: a fresh replica (one left down since an earlier invocation may need WAL
    # the primary no longer has). The replica then runs until the script ends, so it streams
    # throughout; each run restarts NATS and the fleetd nodes, on a new database.
    cl down > "$dir/down.txt" 2>&1 || true
    rm -rf "$CL_DIR/pg-replica"
    CL_STARTED=1
  else
    cl_stop_fleetd
  fi
  cl_nats_fresh
  psql -qX postgres://postgres@127.0.0.1:5432/postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
  if ! cl up > "$dir/up.txt" 2>&1; then
    CLUSTER_LINE="FAIL $drill run $run: the cluster did not come up (see $dir/up.txt)"
    return 1
  fi
  # fleet-sim talks to a NATS node the drill leaves alone: not the $MQTT_msgs leader.
  local leader sim_node=1
  leader=$(cl_stream_leader || echo n1)
  [ "$leader" != n1 ] || sim_node=2
  python3 "$REPO/scripts/lib/cluster_sampler.py" sample "$dir/timeline.jsonl" $(cl_ports) &
  CL_SAMPLER_PID=$!
  manifest="$dir/manifest.jsonl"
  local attempt
  for attempt in 1 2 3; do
    "$SIM" run --mqtt-url "mqtt://127.0.0.1:$((CL_MQTT + sim_node - 1))" --prefix drill --vehicles 2000 \
      --connections "$CL_CONNECTIONS" --format json --rate "$CL_RATE" --readings "$CL_READINGS" --qos 1 --quiet \
      --manifest "$manifest" --fault-duplicate 1 --fault-out-of-order 1 --fault-malformed 0.5 > "$dir/sim.txt" 2>&1 &
    CL_SIM_PID=$!
    # A NATS node just started may close a few of the first MQTT connections (it is still
    # creating its MQTT streams); fleet-sim makes every connection before it publishes, so
    # one that gave up there has published nothing and is simply started again.
    sleep 5
    kill -0 "$CL_SIM_PID" 2>/dev/null || ! grep -q "cannot connect to the broker" "$dir/sim.txt" && break
    say "fleet-sim could not connect ($(tail -1 "$dir/sim.txt")); again"
    wait "$CL_SIM_PID" 2>/dev/null || true
  done
  sleep 10
  fault_t=$(date +%s.%N)
  CL_ELECTED_T=""
  cl_fault "$drill" "$dir" "$fault_t" || fault_ok=0
  wait "$CL_SIM_PID" || say "fleet-sim reported errors"
  CL_SIM_PID=""
  want=$(head -1 "$manifest" | jq '.expected.gps + .expected.obd')
  # Wait for every reading, or for the count to stand still for 45 s (past ack_wait: lost).
  last=-1 still=0
  for _ in $(seq 1 2400); do
    got=$(psql -qtAX "$DB_URL" -c "select (select count(*) from gps_readings) + (select count(*) from obd_readings)" 2>/dev/null || echo 0)
    [ "$got" -ge "$want" ] && break
    if [ "$got" = "$last" ]; then still=$((still + 1)); else still=0; last=$got; fi
    [ "$still" -ge 180 ] && break
    sleep 0.25
  done
  sleep 1
  cl_stop_helpers
  local verify lost dup unexpected judged live
  verify=$("$SIM" verify --manifest "$manifest" --database-url "$DB_URL" --json || true)
  read -r lost dup unexpected < <(jq -r '[.lost.gps + .lost.obd, .duplicated.gps + .duplicated.obd, .unexpected.gps + .unexpected.obd] | @tsv' <<<"$verify")
  judged=$(python3 "$REPO/scripts/lib/cluster_sampler.py" report "$dir/timeline.jsonl" "$fault_t" "$CL_RATE")
  live=$(python3 "$REPO/scripts/lib/cluster_sampler.py" live-lag $(cl_ports))
  echo "$verify" > "$dir/verify.json"
  printf '%s\n%s\n' "$judged" "$live" > "$dir/judged.json"
  local back elected="" limit=$CL_BACK_S
  back=$(jq -r '.back_after_s // "never"' <<<"$judged")
  if [ -n "$CL_ELECTED_T" ]; then
    # Losing the stream's leader: within CL_BACK_S of the new leader's election.
    elected=$(awk -v a="$fault_t" -v b="$CL_ELECTED_T" 'BEGIN {printf "%.2f", b - a}')
    limit=$(awk -v e="$elected" -v m="$CL_BACK_S" 'BEGIN {print e + m}')
  fi
  CLUSTER_LINE="$drill run $run: expected $want, stored $got, lost $lost, duplicated $dup, unexpected $unexpected;"
  CLUSTER_LINE="$CLUSTER_LINE $(jq -r '"baseline \(.baseline_per_s)/s, worst second after the fault \(.worst_second_after_fault_per_s)/s, back after \(.back_after_s // "never") s, all stored \(.all_stored_after_fault_s) s after it, max pending \(.max_pending), replica lag median \(.median_replica_lag_s) s, max \(.max_replica_lag_s) s"' <<<"$judged");"
  [ -z "$elected" ] || CLUSTER_LINE="$CLUSTER_LINE new \$MQTT_msgs leader elected ${elected} s after the fault;"
  CLUSTER_LINE="$CLUSTER_LINE $(jq -r '"live index lag p50 <= \(.p50_le_s) s, p99 <= \(.p99_le_s) s over \(.observations) batches"' <<<"$live")"
  if [ "$fault_ok" = 1 ] && [ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$unexpected" = 0 ] && [ "$back" != never ] \
    && awk -v b="$back" -v m="$limit" 'BEGIN {exit !(b <= m)}'; then
    CLUSTER_LINE="PASS $CLUSTER_LINE"
  else
    CLUSTER_LINE="FAIL $CLUSTER_LINE"; rc=1
  fi
  say "$CLUSTER_LINE"
  return $rc
}
