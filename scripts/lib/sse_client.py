"""An event stream client for the event drills (scripts/drills.sh, events_*): follows
`GET /v1/stream?events=PATTERNS&after=AFTER` as the admin and resumes after every disconnect
(the daemon killed, PostgreSQL restarted) with `Last-Event-ID`, the last id it got, as a
browser's EventSource does. Runs until SIGTERM.

Writes one JSON object a line to OUT: {"id", "t", "sha256" (of the data)} per `event`;
{"reconnect": n, "t", "after", "error"} per new connection after the first; {"notice": name,
"data"} for `resync`, `lagged` or `end` (after `end`, a token expired or revoked, it logs in
again). scripts/lib/event_verify.py checks the ids: each exactly once, in order.

    python3 sse_client.py API ADMIN_PASSWORD PATTERNS AFTER OUT
"""
import hashlib
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True     # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleetd_api import login  # noqa: E402

STOP = threading.Event()


def stop(*_):
    STOP.set()
    sys.exit(0)     # at once, even inside a blocking read (every line is flushed already)


def stream(host, port, token, path, last, out):
    """One connection; returns the last event id seen when it ends (by the server, an error
    or STOP), and whether it ended with `end`."""
    conn = http.client.HTTPConnection(host, port, timeout=60)   # keep-alive comments: 15 s
    try:
        headers = {"authorization": "Bearer " + token, "accept": "text/event-stream"}
        if last is not None:
            headers["last-event-id"] = str(last)
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"{r.status} {r.read()[:200]!r}")
        name, data, eid = "message", [], None
        while not STOP.is_set():
            line = r.readline()
            if not line:
                return last, False           # the server closed the stream
            line = line.decode().rstrip("\r\n")
            if line == "":
                if data and name == "event":
                    last = int(eid)
                    body = "\n".join(data).encode()
                    out.write(json.dumps({"id": last, "t": time.time(),
                                          "sha256": hashlib.sha256(body).hexdigest()}) + "\n")
                    out.flush()
                elif data:
                    out.write(json.dumps({"notice": name, "data": "\n".join(data)}) + "\n")
                    out.flush()
                    if name == "end":
                        return last, True
                name, data, eid = "message", [], None
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                eid = value
        return last, False
    finally:
        conn.close()


def main():
    api, password, patterns, after, path_out = sys.argv[1:6]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    u = urllib.parse.urlparse(api)
    path = "/v1/stream?" + urllib.parse.urlencode({"events": patterns, "after": after})
    last, token, reconnects = None, None, 0
    with open(path_out, "a", encoding="utf-8") as out:
        while not STOP.is_set():
            error = None
            try:
                if token is None:
                    token = login(api, "admin", password)
                last, ended = stream(u.hostname, u.port, token, path, last, out)
                if ended:
                    token = None
            except (OSError, http.client.HTTPException, RuntimeError, ValueError) as e:
                error = f"{type(e).__name__}: {e}"
                if "401" in error:
                    token = None
            if STOP.is_set():
                break
            reconnects += 1
            out.write(json.dumps({"reconnect": reconnects, "t": time.time(), "after": last,
                                  "error": error}) + "\n")
            out.flush()
            STOP.wait(0.5)


main()
