"""A webhook receiver for scripts/bench/webhooks.sh, fast enough not to be what it measures:
raw asyncio streams, HTTP/1.1 keep-alive, no dependencies. Every POST is a delivery: it is
timed (time.time() once its body is read), its `fleetd-signature` checked (v1= hex
HMAC-SHA256(secret, "{fleetd-timestamp}.{raw body}"), timestamp within 300 s) and answered
200 at once, whatever the check says (the bench counts bad signatures and fails on any).

Control routes (the bench driver, not fleetd):
  GET  /_stats  {"received", "unique", "bad", "connections" (that carried deliveries),
                "cpu_s" (this process's CPU time)}
  GET  /_log    the receipts since the last reset, one JSON array each:
                [seq, event_id, receipt time, attempt, signature ok]
  POST /_reset  forgets the receipts

With RECEIPTS (a file, appended to, so that it outlives a restart of the receiver), every
delivery is also written there as it is answered, one JSON object a line: seq, event_id,
t, attempt, ok (the signature), type (fleetd-event-type), aggregate ("aggregate_type
aggregate_id", from the body) and sha256 (of the raw body). The drills
(scripts/drills.sh, events_*) read it. With DELAY_MS, each delivery is answered that long
after it was logged (a receiver taking its time, so that deliveries are in flight when a
drill strikes).

    python3 webhook_receiver.py PORT SECRET [RECEIPTS [DELAY_MS]]
"""
import asyncio
import hashlib
import hmac
import json
import sys
import time

SECRET = b""
LOG = []          # [seq, event_id, t, attempt, ok]
SEEN = set()
RECEIPTS = None   # the file every delivery is appended to, when given
DELAY_S = 0.0     # how long each delivery waits for its answer
STATS = {"received": 0, "bad": 0, "connections": 0}
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


def reply(status, body=b"", ctype=b"application/json"):
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype
            + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def control(method, path):
    if method == b"GET" and path == b"/_stats":
        cpu = time.process_time()
        return reply(b"200 OK", json.dumps(dict(STATS, unique=len(SEEN), cpu_s=cpu)).encode())
    if method == b"GET" and path == b"/_log":
        return reply(b"200 OK", "\n".join(json.dumps(r) for r in LOG).encode())
    if method == b"POST" and path == b"/_reset":
        LOG.clear()
        SEEN.clear()
        STATS["received"] = STATS["bad"] = 0
        return reply(b"200 OK", b"{}")
    return reply(b"404 Not Found", b"{}")


def record(event_id, t, headers, body, ok):
    try:
        e = json.loads(body)
        aggregate = f"{e['aggregate_type']} {e['aggregate_id']}"
    except (ValueError, KeyError, TypeError):
        aggregate = None
    RECEIPTS.write(json.dumps({
        "seq": STATS["received"], "event_id": event_id, "t": t,
        "attempt": int(headers.get(b"fleetd-delivery-attempt", b"0") or 0), "ok": ok,
        "type": headers.get(b"fleetd-event-type", b"").decode(errors="replace"),
        "aggregate": aggregate, "sha256": hashlib.sha256(body).hexdigest()}) + "\n")
    RECEIPTS.flush()


async def chunked(reader):
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return body
        body += (await reader.readexactly(size + 2))[:-2]


async def serve(reader, writer):
    counted = False
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head[:-4].split(b"\r\n")
            method, path = lines[0].split(b" ", 2)[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = await chunked(reader)
            else:
                length = int(headers.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
            t = time.time()
            if path.startswith(b"/_"):
                writer.write(control(method, path))
            else:
                if not counted:
                    counted = True
                    STATS["connections"] += 1
                ts = headers.get(b"fleetd-timestamp", b"")
                mac = hmac.new(SECRET, ts + b"." + body, hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(b"v1=" + mac.encode(),
                                         headers.get(b"fleetd-signature", b""))
                ok = ok and ts.isdigit() and abs(t - int(ts)) <= 300
                event_id = int(headers.get(b"fleetd-event-id", b"0") or 0)
                STATS["received"] += 1
                if not ok:
                    STATS["bad"] += 1
                LOG.append([STATS["received"], event_id, t,
                            int(headers.get(b"fleetd-delivery-attempt", b"0") or 0), ok])
                SEEN.add(event_id)
                if RECEIPTS is not None:
                    record(event_id, t, headers, body, ok)
                if DELAY_S:
                    await asyncio.sleep(DELAY_S)
                writer.write(OK)
            if headers.get(b"connection", b"").lower() == b"close":
                await writer.drain()
                return
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
    finally:
        writer.close()


async def main():
    global SECRET, RECEIPTS, DELAY_S
    port, SECRET = int(sys.argv[1]), sys.argv[2].encode()
    if len(sys.argv) > 3:
        RECEIPTS = open(sys.argv[3], "a", encoding="utf-8")
    if len(sys.argv) > 4:
        DELAY_S = int(sys.argv[4]) / 1000
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=512)
    print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
