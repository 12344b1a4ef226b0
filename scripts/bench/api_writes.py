"""Closed-loop API write load for scripts/bench/outbox.sh: THREADS keep-alive connections,
each registering vehicles (POST /v1/vehicles, distinct ids, plates and valid VINs) as fast as
fleetd answers, for SECONDS. Prints one JSON line: vehicles created per second.

    python3 api_writes.py HOST PORT TOKEN SECONDS THREADS TAG
"""
import http.client
import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True     # no __pycache__ in the checkout
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from fleetd_api import vin  # noqa: E402


def main():
    host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seconds, threads, tag = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    base = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    created = [0] * threads
    refused = [0] * threads
    stop = time.time() + seconds

    def run(t):
        c = http.client.HTTPConnection(host, port)
        n = 0
        while time.time() < stop:
            n += 1
            num = base + t * 100_000 + n
            body = json.dumps({"id": f"{tag}-{t}-{n}", "plate": f"{tag}-{num}"[-20:],
                               "vin": vin(num % 10**8), "make": "m", "model": "m",
                               "year": 2024, "type": "van", "seats": 3, "load_kg": 800})
            c.request("POST", "/v1/vehicles", body,
                      {"authorization": "Bearer " + token, "content-type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status == 201:
                created[t] += 1
            else:
                refused[t] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    t0 = time.time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.time() - t0
    print(json.dumps({"tag": tag, "created": sum(created), "refused": sum(refused),
                      "per_s": round(sum(created) / elapsed, 1)}))


main()
