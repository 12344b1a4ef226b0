"""API traffic for the event drills (scripts/drills.sh, events_*): state changes as the admin
over many aggregates, each producing events, until SIGTERM (or SECONDS). WORKERS threads each
own VEHICLES vehicles and take them, one request at a time and round robin, through a cycle:
registered, breakdown and back (vehicle.status_changed x2), a rental reserved, activated,
completed and paid (rental.*, vehicle.status_changed x2), a maintenance job scheduled,
started and completed (maintenance.*, vehicle.status_changed x2), a dispatch job created and
cancelled (job.*). Every rental, maintenance job and dispatch job is an aggregate of its own.
Requests are paced to RATE per second in all.

The daemon may go away under it (kill -9, PostgreSQL restarting): a request without an answer
or with an unexpected one (it may or may not have committed) retires that vehicle, and a new
one takes its place; the drill checks the events that exist, not the requests sent. Prints
one JSON line at the end: requests, ok, failed (by status; 0 = no answer), vehicles used.

    python3 event_traffic.py API ADMIN_PASSWORD [--workers 4] [--vehicles 25] [--rate 20]
                             [--seconds N] [--tag ev]
"""
import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True     # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleetd_api import Client, vin  # noqa: E402

STOP = threading.Event()


def iso(hours):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


class Vehicle:
    def __init__(self, vid, n):
        self.id, self.n, self.step, self.odometer, self.ref = vid, n, 0, 0, None


def steps(customer, plan):
    """The cycle: (request for vehicle v, accepted statuses, what to keep from the answer)."""
    def reg(v):
        return ("POST", "/v1/vehicles",
                {"id": v.id, "plate": f"EV-{v.n}"[-20:], "vin": vin(v.n), "make": "m",
                 "model": "m", "year": 2024, "type": "van", "seats": 3, "load_kg": 800})

    def status(to):
        return lambda v: ("POST", f"/v1/vehicles/{v.id}/status", {"status": to})

    def reserve(v):
        return ("POST", "/v1/rentals",
                {"vehicle_id": v.id, "customer_id": customer, "plan_id": plan,
                 "starts_at": iso(1), "ends_at": iso(25), "estimated_km": 100})

    def odometer(action, km):
        def make(v):
            v.odometer += km
            return ("POST", f"/v1/rentals/{v.ref}/{action}", {"odometer_km": v.odometer})
        return make

    def maintenance(v):
        return ("POST", "/v1/maintenance",
                {"vehicle_id": v.id, "description": "drill", "starts_at": iso(30),
                 "ends_at": iso(31)})

    return [
        (reg, (201,), False),
        (status("under_maintenance"), (200,), False),
        (status("active"), (200,), False),
        (reserve, (201,), True),
        (odometer("activate", 10), (200,), False),
        (odometer("complete", 40), (200,), False),
        (lambda v: ("POST", f"/v1/rentals/{v.ref}/payments",
                    {"amount": 100, "currency": "EUR", "method": "card"}), (200, 201), False),
        (maintenance, (201,), True),
        (lambda v: ("POST", f"/v1/maintenance/{v.ref}/start", {}), (200,), False),
        (lambda v: ("POST", f"/v1/maintenance/{v.ref}/complete",
                    {"labour_cost": 1000, "currency": "EUR", "parts": []}), (200,), False),
        (lambda v: ("POST", "/v1/dispatch/jobs",
                    {"pickup": {"lat": 48.1 + v.n % 100 / 1000, "lon": 11.5}}), (201, 202), True),
        (lambda v: ("POST", f"/v1/dispatch/jobs/{v.ref}/cancel", {}), (200,), False),
    ]


def setup(client):
    """A customer and a pricing plan for the rentals; waits for the daemon to answer."""
    deadline = time.time() + 120
    while time.time() < deadline:
        s1, customer = client.call("POST", "/v1/customers",
                                   {"name": "drill", "email": "drill@example.com"})
        if s1 == 201:
            break
        time.sleep(0.5)
    else:
        sys.exit(f"event_traffic.py: cannot create a customer: {s1} {customer}")
    s2, plan = client.call("POST", "/v1/pricing-plans", {
        "name": f"drill-{os.getpid()}", "currency": "EUR", "daily_rate": 5000,
        "included_km_per_day": 200, "extra_km_rate": 30, "late_fee_per_hour": 1500,
        "free_cancellation_hours": 48, "cancellation_fee_pct": 20})
    if s2 != 201:
        sys.exit(f"event_traffic.py: cannot create a pricing plan: {s2} {plan}")
    return customer["id"], plan["id"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("api")
    p.add_argument("password")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--vehicles", type=int, default=25, help="per worker")
    p.add_argument("--rate", type=float, default=20.0)
    p.add_argument("--seconds", type=float, default=0.0, help="0: until SIGTERM")
    p.add_argument("--tag", default="ev")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    customer, plan = setup(Client(a.api, "admin", a.password))
    cycle = steps(customer, plan)
    lock = threading.Lock()
    totals = {"requests": 0, "ok": 0, "failed": {}, "vehicles": 0}
    end = time.time() + a.seconds if a.seconds > 0 else float("inf")

    def worker(w):
        client = Client(a.api, "admin", a.password)
        serial = iter(range(1, 10**6))
        fresh = lambda: Vehicle(f"{a.tag}-{w}-{next(serial)}", 0)  # noqa: E731
        fleet = [fresh() for _ in range(a.vehicles)]
        for v in fleet:
            v.n = w * 10**6 + int(v.id.rsplit("-", 1)[1])
        gap = a.workers / a.rate
        due = time.time()
        k = 0
        while not STOP.is_set() and time.time() < end:
            due += gap
            STOP.wait(max(0.0, due - time.time()))
            slot = k % len(fleet)
            k += 1
            v = fleet[slot]
            make, good, keep = cycle[v.step]
            method, path, body = make(v)
            status, answer = client.call(method, path, body)
            with lock:
                totals["requests"] += 1
                if v.step == 0 and status in good:
                    totals["vehicles"] += 1
                if status in good:
                    totals["ok"] += 1
                else:
                    totals["failed"][str(status)] = totals["failed"].get(str(status), 0) + 1
            if status in good:
                if keep:
                    v.ref = answer["id"]
                v.step = v.step + 1 if v.step + 1 < len(cycle) else 1
                continue
            # Unknown outcome: retire the vehicle; a new one takes its place.
            fleet[slot] = fresh()
            fleet[slot].n = w * 10**6 + int(fleet[slot].id.rsplit("-", 1)[1])
            if status == 0:
                STOP.wait(0.5)          # the daemon is away; do not spin
                due = time.time()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(a.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(totals), flush=True)


main()
