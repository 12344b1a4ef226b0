"""What the drill and benchmark helpers share to talk to fleetd's API: valid VINs, and a
keep-alive client that logs in as a user and survives the daemon going away (a kill -9, a
PostgreSQL restart): a failed request is reported, not raised, and the next one reconnects.
Imported by scripts/lib/event_traffic.py and scripts/lib/sse_client.py (they put this
directory on sys.path). Standard library only.
"""
import http.client
import json
import time
import urllib.parse

WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
LETTERS = {"M": 4, "G": 7, "D": 4}


def vin(n):
    """A VIN with a valid North American check digit, distinct for each n < 10**8."""
    v = list("1M8GDM900" + str(n).zfill(8))
    total = sum((int(c) if c.isdigit() else LETTERS[c]) * w for c, w in zip(v, WEIGHTS))
    v[8] = "X" if total % 11 == 10 else str(total % 11)
    return "".join(v)


def login(api, username, password, timeout_s=10):
    """An access token, or an exception (the caller decides whether to try again)."""
    u = urllib.parse.urlparse(api)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout_s)
    try:
        c.request("POST", "/v1/auth/token",
                  json.dumps({"username": username, "password": password}),
                  {"content-type": "application/json"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"login as {username}: {r.status} {body[:200]!r}")
        return json.loads(body)["access_token"]
    finally:
        c.close()


class Client:
    """One keep-alive connection with a bearer token. `call` answers (status, parsed JSON or
    None); status 0 means no answer (refused, reset, timed out): the connection is dropped
    and the next call opens a new one. A 401 logs in again once (a token outlives a daemon
    restart, but not a secret change)."""

    def __init__(self, api, username, password, timeout_s=30):
        u = urllib.parse.urlparse(api)
        self.host, self.port, self.timeout_s = u.hostname, u.port, timeout_s
        self.username, self.password, self.api = username, password, api
        self.token = None
        self.conn = None

    def _token(self):
        if self.token is None:
            self.token = login(self.api, self.username, self.password)
        return self.token

    def call(self, method, path, body=None):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port,
                                                           timeout=self.timeout_s)
                headers = {"authorization": "Bearer " + self._token()}
                data = None
                if body is not None:
                    data = json.dumps(body)
                    headers["content-type"] = "application/json"
                self.conn.request(method, path, data, headers)
                r = self.conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException, RuntimeError, ValueError):
                self.close()
                return 0, None
            if r.status == 401 and self.token is not None:
                self.token = None
                continue
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, None
        return 401, None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_until(predicate, timeout_s, every_s=0.2):
    """Polls `predicate` until it is true (returns True) or `timeout_s` passed (False)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return bool(predicate())
