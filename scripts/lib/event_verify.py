"""The check at the end of an event drill (scripts/drills.sh, events_*), against the database:
every event numbered after AFTER (the subscription, pattern `*`, was created at AFTER) was
received by the webhook receiver at least once and by the stream client exactly once.

Waits (up to --wait seconds) for the outbox to be empty, then for the receiver's log
(scripts/bench/webhook_receiver.py's RECEIPTS file) to hold every event up to the last id and
the stream client's (scripts/lib/sse_client.py's OUT) to reach it; then checks:
  webhooks  every event received (lost 0), every signature valid, every body byte for byte
            the stored event's (event_body(), so a duplicate is identical too), each aggregate's
            first receipts in id order; duplicates are counted, and allowed
  stream    every event exactly once, ids strictly increasing, bodies the stored events'
  mqtt      (with --mqtt: mosquitto_sub -v output) every event received at least once on
            {prefix}/{type}/{aggregate_id}, first receipts in id order (one publisher, in
            order), every body byte for byte the stored event's; duplicates counted, allowed
Events numbered after the last id seen when the wait began (the dispatcher and time rules
go on after the traffic stops) are left out of the check. Prints one line, PASS or FAIL with
the counts, and the details as JSON to --json. Exits 1 on FAIL.

  event_verify.py --db URL --after ID --receipts FILE --sse FILE [--recovered EPOCH]
                  [--wait 900] [--label NAME] [--json FILE]
--recovered: when the fault ended (the receiver back, the daemon ready, PostgreSQL up); the
"max delay after recovery" is the longest, over the events, from the later of that moment
and the event's occurred_at to its first receipt.
"""
import argparse
import json
import subprocess
import sys
import time


def psql(db, sql):
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-F", "\t", db, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def read_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.endswith("\n"):       # a line still being written is skipped
                    rows.append(json.loads(line))
    except FileNotFoundError:
        pass
    return rows


def settled_last_id(db, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            (last, staged), = psql(db, "SELECT (SELECT last_id FROM event_counter),"
                                       " (SELECT count(*) FROM event_outbox)")
            if staged == "0":
                return int(last)
        except subprocess.CalledProcessError:
            pass                              # PostgreSQL still coming back
        time.sleep(0.5)
    sys.exit("event_verify.py: the outbox did not drain (is fleetd running?)")


def check_webhooks(events, receipts, recovered, after):
    first, order_breaks, bad, differing, dup, stray, retried, max_attempt = {}, [], 0, 0, 0, 0, 0, 0
    last_of = {}
    for r in receipts:
        e = events.get(r["event_id"])
        bad += not r["ok"]
        max_attempt = max(max_attempt, r["attempt"])
        retried += r["attempt"] > 1
        if e is None:
            stray += r["event_id"] <= after     # before the subscription: never queued
            continue
        differing += r["sha256"] != e["sha256"]
        if r["event_id"] in first:
            dup += 1
            continue
        first[r["event_id"]] = r["t"]
        agg = e["aggregate"]
        if last_of.get(agg, 0) > r["event_id"]:
            order_breaks.append([agg, last_of[agg], r["event_id"]])
        last_of[agg] = r["event_id"]
    lost = sorted(set(events) - set(first))
    delays = [t - max(events[i]["occurred"], recovered) for i, t in first.items()]
    return {"received": len(first), "lost": len(lost), "lost_ids": lost[:20],
            "duplicates": dup, "differing_bodies": differing, "out_of_order": len(order_breaks),
            "order_breaks": order_breaks[:20], "bad_signatures": bad, "stray": stray,
            "retried_receipts": retried, "max_attempt": max_attempt,
            "max_delay_s": round(max(delays), 1) if delays else None}


def check_stream(events, lines):
    seen, dup, disorder, differing, prev = set(), 0, 0, 0, 0
    reconnects = sum(1 for x in lines if "reconnect" in x)
    notices = [x for x in lines if "notice" in x]
    for x in lines:
        if "id" not in x or x["id"] not in events:
            continue
        dup += x["id"] in seen
        disorder += x["id"] <= prev
        differing += x["sha256"] != events[x["id"]]["sha256"]
        seen.add(x["id"])
        prev = max(prev, x["id"])
    return {"received": len(seen), "lost": len(set(events) - seen), "duplicated": dup,
            "out_of_order": disorder, "differing_bodies": differing, "reconnects": reconnects,
            "notices": notices[:10]}


def read_mqtt(path):
    """(topic, id, sha256 of the body) per complete line of `mosquitto_sub -v`."""
    import hashlib
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    continue
                topic, _, body = line[:-1].partition(" ")
                rows.append((topic, json.loads(body)["id"],
                             hashlib.sha256(body.encode()).hexdigest()))
    except FileNotFoundError:
        pass
    return rows


def check_mqtt(events, rows, prefix):
    seen, dup, disorder, differing, wrong_topic, prev = set(), 0, 0, 0, 0, 0
    for topic, i, sha in rows:
        e = events.get(i)
        if e is None:
            continue
        if i in seen:
            dup += 1
        else:
            disorder += i < prev
            prev = max(prev, i)
            seen.add(i)
        differing += sha != e["sha256"]
        wrong_topic += topic != f"{prefix}/{e['type']}/{e['aggregate'].split(' ', 1)[1]}"
    return {"received": len(seen), "lost": len(set(events) - seen), "duplicates": dup,
            "out_of_order": disorder, "differing_bodies": differing, "wrong_topics": wrong_topic}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--after", type=int, required=True)
    p.add_argument("--receipts", required=True)
    p.add_argument("--sse", required=True)
    p.add_argument("--recovered", type=float, default=0.0)
    p.add_argument("--wait", type=float, default=900.0)
    p.add_argument("--label", default="events")
    p.add_argument("--mqtt")
    p.add_argument("--mqtt-prefix", default="fleetd/events")
    p.add_argument("--json")
    a = p.parse_args()
    t0 = time.time()
    hi = settled_last_id(a.db, a.wait)
    want = set(range(a.after + 1, hi + 1))
    while time.time() < t0 + a.wait:
        got = {r["event_id"] for r in read_jsonl(a.receipts)}
        streamed = max((x["id"] for x in read_jsonl(a.sse) if "id" in x), default=0)
        published = {i for _, i, _ in read_mqtt(a.mqtt)} if a.mqtt else want
        if want <= got and streamed >= hi and want <= published:
            break
        time.sleep(1)
    waited = time.time() - t0
    events = {int(r[0]): {"aggregate": r[1], "occurred": float(r[2]), "sha256": r[3],
                          "type": r[4]}
              for r in psql(a.db, f"""
                SELECT e.id, e.aggregate_type || ' ' || e.aggregate_id,
                       extract(epoch FROM e.occurred_at),
                       encode(sha256(convert_to(event_body(e), 'UTF8')), 'hex'), e.type
                  FROM events e WHERE e.id > {a.after} AND e.id <= {hi}""")}
    hooks = check_webhooks(events, read_jsonl(a.receipts), a.recovered, a.after)
    sse = check_stream(events, read_jsonl(a.sse))
    mqtt = check_mqtt(events, read_mqtt(a.mqtt), a.mqtt_prefix) if a.mqtt else None
    gapless = len(events) == len(want)
    ok = (gapless and hooks["lost"] == 0 and hooks["out_of_order"] == 0
          and hooks["bad_signatures"] == 0 and hooks["differing_bodies"] == 0
          and hooks["stray"] == 0 and sse["lost"] == 0 and sse["duplicated"] == 0
          and sse["out_of_order"] == 0 and sse["differing_bodies"] == 0
          and (mqtt is None or (mqtt["lost"] == 0 and mqtt["out_of_order"] == 0
                                and mqtt["differing_bodies"] == 0 and mqtt["wrong_topics"] == 0)))
    aggregates = len({e["aggregate"] for e in events.values()})
    line = (f"{a.label}: events {len(events)} over {aggregates} aggregates; webhook received "
            f"{hooks['received']}, lost {hooks['lost']}, duplicates {hooks['duplicates']} "
            f"(differing {hooks['differing_bodies']}), out of order {hooks['out_of_order']}, "
            f"bad signatures {hooks['bad_signatures']}, retried receipts "
            f"{hooks['retried_receipts']} (max attempt {hooks['max_attempt']}), "
            f"max delay after recovery {hooks['max_delay_s']} s; stream received "
            f"{sse['received']}, lost {sse['lost']}, duplicated {sse['duplicated']}, "
            f"out of order {sse['out_of_order']}, reconnects {sse['reconnects']}")
    if mqtt is not None:
        line += (f"; mqtt received {mqtt['received']}, lost {mqtt['lost']}, duplicates "
                 f"{mqtt['duplicates']} (differing {mqtt['differing_bodies']}), out of order "
                 f"{mqtt['out_of_order']}, wrong topics {mqtt['wrong_topics']}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"label": a.label, "ok": ok, "after": a.after, "last_id": hi,
                       "gapless": gapless, "waited_s": round(waited, 1), "webhooks": hooks,
                       "stream": sse, "mqtt": mqtt}, f, indent=1)
    print(("PASS " if ok else "FAIL ") + line, flush=True)
    sys.exit(0 if ok else 1)


main()
