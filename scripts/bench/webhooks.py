"""The measuring side of scripts/bench/webhooks.sh: talks to fleetd's API, to PostgreSQL
(psql) and to the receiver (scripts/bench/webhook_receiver.py, its /_ control routes), and
prints one JSON line per measurement. Exits 1 when a measurement's deliveries fail the
checks (an event missing, a bad signature, an aggregate's events received out of id order,
a write not matched to its event); the JSON line says which.

Environment: API (http://127.0.0.1:PORT), TOKEN (admin), DB_URL, RECEIVER
(http://127.0.0.1:PORT), FLEETD_PID, OUT (directory for per-event files), CONCURRENCY and
POOL (fleetd's webhooks.concurrency and database.pool_size, copied into the results).

  webhooks.py setup VEHICLES SECRET         registers VEHICLES vehicles whl-NNNN and subscribes
                                            RECEIVER/hook to vehicle.status_changed; prints
                                            the subscription id
  webhooks.py latency TAG SECONDS RATE VEHICLES HOOK
                                            open-loop status writes at RATE/s for SECONDS,
                                            each write matched to its event's receipt
  webhooks.py burst TAG EVENTS AGGREGATES HOOK
                                            EVENTS staged and committed in one transaction
                                            over AGGREGATES aggregates, timed to the last
                                            receipt
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True     # no __pycache__ in the checkout
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from fleetd_api import vin  # noqa: E402

TYPE = "vehicle.status_changed"
WRITERS = 4          # connections the latency client spreads its writes over
DRAIN_TIMEOUT_S = 120


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"webhooks.py: {name} is not set")
    return value


def psql(sql):
    """Rows of `sql` (the last statement's), tab-separated fields."""
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t", env("DB_URL"),
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def receiver(path, method="GET"):
    req = urllib.request.Request(env("RECEIVER") + path, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def stats():
    return json.loads(receiver("/_stats"))


def receipts():
    """The receiver's log: [seq, event_id, t, attempt, ok] in arrival order."""
    return [json.loads(line) for line in receiver("/_log").splitlines() if line]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu_s():
    """CPU seconds of this database's PostgreSQL backends (pid -> s); PostgreSQL runs on
    this machine. WAL writer, checkpointer and autovacuum are not counted."""
    out = {}
    for (pid,) in psql("SELECT pid FROM pg_stat_activity"
                       " WHERE datname = current_database() AND pid <> pg_backend_pid()"):
        try:
            out[pid] = cpu_s(pid)
        except OSError:
            pass
    return out


class Waits:
    """Samples what this database's active backends are doing, every 0.1 s, from one psql
    (\\watch): the relay's statement (the function it calls) and its wait event."""
    SQL = ("SELECT coalesce(substring(query FROM '(webhooks_[a-z_]+|events_sequence)'),"
           " 'other') || ' ' || coalesce(wait_event_type || ':' || wait_event, 'cpu')"
           " FROM pg_stat_activity WHERE datname = current_database()"
           " AND pid <> pg_backend_pid() AND state = 'active'")

    def __enter__(self):
        self.proc = subprocess.Popen(["psql", "-XAtq", env("DB_URL")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.proc.stdin.write(self.SQL + "\n\\watch 0.1\n")
        self.proc.stdin.flush()
        self.counts = {}
        self.reader = threading.Thread(target=self.read)
        self.reader.start()
        return self

    def read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                self.counts[line] = self.counts.get(line, 0) + 1

    def __exit__(self, *_):
        self.proc.send_signal(signal.SIGINT)    # ends \watch; psql flushes and exits
        self.proc.stdin.close()
        self.reader.join()
        self.proc.wait()

    def top(self, n=6):
        total = sum(self.counts.values()) or 1
        return {k: round(v / total, 2) for k, v in
                sorted(self.counts.items(), key=lambda kv: -kv[1])[:n]}


def settings():
    return {"concurrency": int(env("CONCURRENCY")), "pool_size": int(env("POOL"))}


def api():
    u = urllib.parse.urlparse(env("API"))
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def call(conn, method, path, body):
    conn.request(method, path, json.dumps(body),
                 {"authorization": "Bearer " + env("TOKEN"),
                  "content-type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def vacuum():
    """Every measurement starts from vacuumed tables: this machine's PostgreSQL runs with
    autovacuum off, and each delivery leaves a dead version of its queue's row (and of its
    delivery row) behind, so without it every round would run on more bloat than the last."""
    subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", env("DB_URL"),
                    "-c", "VACUUM (ANALYZE) webhook_queues, webhook_deliveries, event_outbox,"
                    " events, vehicles"], check=True)


def quiet_last_id():
    """The last event id once nothing is staged (everything committed is numbered)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        (last, staged), = psql("SELECT (SELECT last_id FROM event_counter),"
                               " (SELECT count(*) FROM event_outbox)")
        if staged == "0":
            return int(last)
        time.sleep(0.05)
    sys.exit("webhooks.py: the outbox did not drain in 30 s (is the sequencer running?)")


def expected_events(lo, hi, hook):
    """Events lo < id <= hi the subscription takes: id -> [aggregate, to, occurred, queued,
    done, attempts] (queued/done from its delivery row, epoch seconds)."""
    rows = psql(f"""
        SELECT e.id, e.aggregate_id, coalesce(e.payload->>'to', ''),
               extract(epoch FROM e.occurred_at), extract(epoch FROM d.queued_at),
               extract(epoch FROM d.done_at), coalesce(d.attempts, 0)
          FROM events e
          LEFT JOIN webhook_deliveries d ON d.webhook_id = '{hook}' AND d.event_id = e.id
         WHERE e.id > {lo} AND e.id <= {hi} AND e.type = '{TYPE}'
         ORDER BY e.id""")
    f = lambda s: float(s) if s else None
    return {int(r[0]): [r[1], r[2], f(r[3]), f(r[4]), f(r[5]), int(r[6])] for r in rows}


def wait_for(expected, timeout_s):
    """Polls the receiver until it has received every expected id (or the timeout)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if stats()["unique"] >= len(expected):
            got = {r[1] for r in receipts()}
            if all(i in got for i in expected):
                return True
        time.sleep(0.05)
    return False


def check(expected, log):
    """Exactly/at-least-once, per-aggregate order and signatures over the receiver's log.
    Returns (first receipt time per id, the check's figures)."""
    first, last_of = {}, {}
    dup = stray = disorder = bad = 0
    for _, event_id, t, _, ok in log:
        bad += not ok
        if event_id not in expected:
            stray += 1              # a late duplicate of an earlier measurement's event
            continue
        if event_id in first:
            dup += 1
            continue
        first[event_id] = t
        agg = expected[event_id][0]
        if last_of.get(agg, 0) > event_id:
            disorder += 1
        last_of[agg] = event_id
    missing = len(expected) - len(first)
    figures = {"expected": len(expected), "missing": missing, "duplicates": dup,
               "stray": stray, "out_of_order": disorder, "bad_signatures": bad}
    figures["ok"] = missing == 0 and disorder == 0 and bad == 0
    return first, figures


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))] if s else None


def ms_summary(values):
    return {k: round(v * 1000, 1) if v is not None else None for k, v in
            (("p50", pct(values, 50)), ("p95", pct(values, 95)), ("p99", pct(values, 99)),
             ("max", max(values) if values else None))}


def setup(vehicles, secret):
    conn = api()
    for k in range(vehicles):
        status, body = call(conn, "POST", "/v1/vehicles", {
            "id": f"whl-{k:04d}", "plate": f"WHL-{k:04d}", "vin": vin(90_000_000 + k),
            "make": "m", "model": "m", "year": 2024, "type": "van", "seats": 3,
            "load_kg": 800})
        if status != 201:
            sys.exit(f"webhooks.py: registering whl-{k:04d}: {status} {body[:300]!r}")
    status, body = call(conn, "POST", "/v1/webhooks", {
        "url": env("RECEIVER") + "/hook", "events": [TYPE], "secret": secret,
        "description": "scripts/bench/webhooks.sh"})
    if status != 201:
        sys.exit(f"webhooks.py: subscribing: {status} {body[:300]!r}")
    print(json.loads(body)["id"])


def latency(tag, seconds, rate, vehicles, hook):
    lo = quiet_last_id()
    vacuum()
    receiver("/_reset", "POST")
    cpu0, recv0 = cpu_s(env("FLEETD_PID")), stats()["cpu_s"]
    state = dict(psql("SELECT id, status FROM vehicles WHERE id LIKE 'whl-%'"))
    writes = []          # [ticket, vehicle, to, due, sent, answered, status]
    lock = threading.Lock()
    tickets = iter(range(10**9))
    t0 = time.time() + 0.2
    stop = t0 + seconds

    def writer():
        conn = api()
        while True:
            with lock:
                k = next(tickets)
            due = t0 + k / rate
            if due >= stop:
                return
            time.sleep(max(0.0, due - time.time()))
            v = f"whl-{k % vehicles:04d}"
            with lock:      # a vehicle's writes are VEHICLES / RATE seconds apart
                to = state[v] = "active" if state[v] == "under_maintenance" \
                    else "under_maintenance"
            sent = time.time()
            status, _ = call(conn, "POST", f"/v1/vehicles/{v}/status", {"status": to})
            answered = time.time()
            with lock:
                writes.append([k, v, to, due, sent, answered, status])

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    hi = quiet_last_id()
    expected = expected_events(lo, hi, hook)
    wait_for(expected, DRAIN_TIMEOUT_S)
    cpu1, recv1 = cpu_s(env("FLEETD_PID")), stats()["cpu_s"]
    log = receipts()
    expected = expected_events(lo, hi, hook)      # again: delivery rows now complete
    first, figures = check(expected, log)

    # Match: a vehicle's 2xx writes in send order are its events in id order.
    done = sorted((w for w in writes if 200 <= w[6] < 300), key=lambda w: w[0])
    by_vehicle, events_of = {}, {}
    for w in done:
        by_vehicle.setdefault(w[1], []).append(w)
    for event_id, e in expected.items():
        events_of.setdefault(e[0], []).append(event_id)
    unmatched = 0
    samples = []         # per write/event pair, seconds
    for v, ws in by_vehicle.items():
        ids = events_of.get(v, [])
        if len(ids) != len(ws):
            unmatched += abs(len(ids) - len(ws))
        for w, event_id in zip(ws, ids):
            e = expected[event_id]
            if e[1] != w[2]:
                unmatched += 1
                continue
            if event_id not in first:
                continue
            got = first[event_id]
            samples.append({"event_id": event_id, "vehicle": v, "write_ms": (w[5] - w[4]) * 1e3,
                            "from_answer": got - w[5], "from_staged": got - e[2],
                            "answer_to_queued": e[3] - w[5] if e[3] else None,
                            "queued_to_receipt": got - e[3] if e[3] else None,
                            "attempts": e[5]})
    with open(os.path.join(env("OUT"), f"latency_{tag}.jsonl"), "w") as f:
        for s in samples:
            f.write(json.dumps(s) + "\n")
    refused = len(writes) - len(done)
    figures["ok"] = figures["ok"] and unmatched == 0 and refused == 0
    elapsed = max(w[5] for w in writes) - t0 if writes else seconds
    out = {
        "measure": "latency", "tag": tag, **settings(), "seconds": seconds, "rate": rate,
        "vehicles": vehicles, "writes": len(done), "refused": refused,
        "writes_per_s": round(len(done) / elapsed, 1), "unmatched": unmatched,
        "send_late_ms_p99": round(pct([w[4] - w[3] for w in writes], 99) * 1e3, 1),
        "write_ms": {k: ms_summary([s["write_ms"] / 1e3 for s in samples])[k]
                     for k in ("p50", "p99")},
        "answer_to_receipt_ms": ms_summary([s["from_answer"] for s in samples]),
        "staged_to_receipt_ms": ms_summary([s["from_staged"] for s in samples]),
        "answer_to_queued_ms": ms_summary([s["answer_to_queued"] for s in samples
                                           if s["answer_to_queued"] is not None]),
        "queued_to_receipt_ms": ms_summary([s["queued_to_receipt"] for s in samples
                                            if s["queued_to_receipt"] is not None]),
        "fleetd_cpu_s": round(cpu1 - cpu0, 2), "receiver_cpu_s": round(recv1 - recv0, 2),
        **figures,
    }
    print(json.dumps(out), flush=True)
    return out["ok"]


def burst(tag, events, aggregates, hook):
    lo = quiet_last_id()
    vacuum()
    receiver("/_reset", "POST")
    cpu0, recv0 = cpu_s(env("FLEETD_PID")), stats()["cpu_s"]
    pg0 = backends_cpu_s()
    t_start = time.time()
    # One transaction (DO is one statement); the clock is read right after its commit.
    (commit_at,), = psql(f"""
        DO $$ BEGIN
          PERFORM fleetd_emit('{TYPE}', 'burst-' || (i % {aggregates}),
                              jsonb_build_object('i', i))
             FROM generate_series(1, {events}) i;
        END $$;
        SELECT extract(epoch FROM clock_timestamp())""")
    commit_at = float(commit_at)
    with Waits() as waits:
        hi = quiet_last_id()
        numbered_at = time.time()
        expected = expected_events(lo, hi, hook)
        wait_for(expected, max(DRAIN_TIMEOUT_S, events / 100))
    cpu1, recv1 = cpu_s(env("FLEETD_PID")), stats()["cpu_s"]
    pg1 = backends_cpu_s()
    pg_cpu = sum(t - pg0.get(pid, 0.0) for pid, t in pg1.items())
    log = receipts()
    expected = expected_events(lo, hi, hook)
    first, figures = check(expected, log)
    if len(expected) != events:
        figures["ok"] = False
    times = sorted(first.values())
    queued = [e[3] for e in expected.values() if e[3]]
    done = [e[4] for e in expected.values() if e[4]]
    span = (times[-1] - commit_at) if times else None
    # Deliveries per wall-clock second after the commit: how steady the relay runs.
    per_second = {}
    for t in times:
        per_second[int(t - commit_at)] = per_second.get(int(t - commit_at), 0) + 1
    # Gaps between one aggregate's consecutive first receipts: within a claimed chain (up
    # to 8) the cost of one delivery on one place (POST + webhooks_record), between chains
    # also the wait for the relay's next pass to claim the queue again.
    gaps, by_agg = [], {}
    for event_id in sorted(first):
        by_agg.setdefault(expected[event_id][0], []).append(first[event_id])
    for ts in by_agg.values():
        gaps += [b - a for a, b in zip(ts, ts[1:])]
    with open(os.path.join(env("OUT"), f"burst_{tag}.jsonl"), "w") as f:
        for r in log:
            f.write(json.dumps(r + [expected.get(r[1], ["?"])[0]]) + "\n")
    tables = {r[0]: {"live": int(r[1]), "dead": int(r[2]), "autovacuums": int(r[3])}
              for r in psql("SELECT relname, n_live_tup, n_dead_tup, autovacuum_count"
                            " FROM pg_stat_user_tables"
                            " WHERE relname IN ('webhook_queues', 'webhook_deliveries')")}
    out = {
        "measure": "burst", "tag": tag, **settings(), "events": len(expected),
        "aggregates": aggregates,
        "stage_s": round(commit_at - t_start, 2),
        "numbered_s": round(numbered_at - commit_at, 2),
        "fanned_out_s": round(max(queued) - commit_at, 2) if queued else None,
        "first_receipt_s": round(times[0] - commit_at, 3) if times else None,
        "last_receipt_s": round(span, 2) if span else None,
        "events_per_s": round(len(times) / span, 1) if span else None,
        "steady_per_s": round(len(times) / (times[-1] - times[0]), 1)
        if len(times) > 1 else None,
        "peak_1s": max(per_second.values()) if per_second else None,
        "same_aggregate_gap_ms": ms_summary(gaps),
        "last_recorded_s": round(max(done) - commit_at, 2) if done else None,
        "attempts_max": max((e[5] for e in expected.values()), default=0),
        "fleetd_cpu_s": round(cpu1 - cpu0, 2), "receiver_cpu_s": round(recv1 - recv0, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        "receiver_connections": stats()["connections"],
        "pg_active_samples": sum(waits.counts.values()), "pg_waits": waits.top(),
        "tables": tables,
        **figures,
    }
    print(json.dumps(out), flush=True)
    return out["ok"]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "setup":
        setup(int(args[0]), args[1])
        return
    if cmd == "latency":
        ok = latency(args[0], float(args[1]), float(args[2]), int(args[3]), args[4])
    elif cmd == "burst":
        ok = burst(args[0], int(args[1]), int(args[2]), args[3])
    else:
        sys.exit(__doc__)
    sys.exit(0 if ok else 1)


main()
