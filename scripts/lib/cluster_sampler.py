"""The cluster drills' eyes (scripts/lib/cluster_drills.sh). Standard library only.

  cluster_sampler.py sample OUT PORT...   every 0.25 s, one JSON line per sample in OUT: the
                                          readings the nodes on PORTs stored so far (each
                                          node's fleetd_readings_stored_total, summed, a
                                          restarted node's count added to what it had stored
                                          before), the worst fleetd_replica_lag_seconds and
                                          fleetd_jetstream_pending, and which nodes answered;
                                          runs until SIGTERM
  cluster_sampler.py report TIMELINE FAULT_T RATE
                                          judges a drill from the timeline: the stored rate
                                          before the fault (the baseline), the worst second
                                          after it, how long until a 2 s window stored at
                                          least 90% of the baseline again ("back after"), and
                                          when the last reading was stored; prints JSON
  cluster_sampler.py live-lag PORT...     the live index's lag (fleetd_live_shared_lag_seconds)
                                          over the nodes on PORTs: observations and the bucket
                                          bounds holding p50, p99 and the maximum; prints JSON
"""
import json
import signal
import sys
import time
import urllib.request

INTERVAL_S = 0.25
# A drill's throughput is back when a window this long stored this share of the baseline.
WINDOW_S = 2.0
BACK_SHARE = 0.9


def metrics(port):
    """fleetd's /metrics as a list of (name, labels, value), or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        try:
            out.append((name, labels.rstrip("}"), float(value)))
        except ValueError:
            continue
    return out


def total(rows, name):
    return sum(v for n, _, v in rows if n == name)


def sample(out, ports):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    last = {p: 0.0 for p in ports}   # each node's counter as last seen
    base = {p: 0.0 for p in ports}   # what its earlier lives stored
    start = time.time()
    with open(out, "w") as f:
        while not stop:
            t = time.time()
            up, replica_lag, pending = [], 0.0, 0.0
            for p in ports:
                rows = metrics(p)
                if rows is None:
                    continue
                up.append(p)
                stored = total(rows, "fleetd_readings_stored_total")
                if stored < last[p]:  # a new life of the node: its counter started again
                    base[p] += last[p]
                last[p] = stored
                replica_lag = max(replica_lag, total(rows, "fleetd_replica_lag_seconds"))
                pending = max(pending, total(rows, "fleetd_jetstream_pending"))
            f.write(json.dumps({"t": round(t, 3), "since": round(t - start, 3),
                                "stored": int(sum(base.values()) + sum(last.values())),
                                "up": up, "replica_lag_s": replica_lag,
                                "pending": int(pending)}) + "\n")
            f.flush()
            time.sleep(max(0.0, INTERVAL_S - (time.time() - t)))


def stored_at(samples, t):
    """Readings stored by time t (linear between samples; samples sorted by t)."""
    prev = samples[0]
    for s in samples:
        if s["t"] >= t:
            if s["t"] == prev["t"]:
                return s["stored"]
            k = (t - prev["t"]) / (s["t"] - prev["t"])
            return prev["stored"] + k * (s["stored"] - prev["stored"])
        prev = s
    return samples[-1]["stored"]


def rate(samples, a, b):
    return (stored_at(samples, b) - stored_at(samples, a)) / (b - a)


def report(timeline, fault_t, sim_rate):
    samples = [json.loads(line) for line in open(timeline)]
    final = samples[-1]["stored"]
    # When the last reading was stored: the count's last rise (a killed node's last commits
    # may never show in the counts, so not "reached expected"; the exact verify judges that).
    done = next(s["t"] for s in samples if s["stored"] >= final)
    first = next((s["t"] for s in samples if s["stored"] > 0), fault_t)
    # The baseline: from 2 s after the first stored reading (the start's ramp) to the fault.
    a = min(first + 2.0, fault_t - 1.0)
    baseline = rate(samples, a, fault_t) if fault_t - a >= 1.0 else float(sim_rate)
    worst, back = None, None
    t = fault_t
    while t + 1.0 <= done:
        r = rate(samples, t, t + 1.0)
        worst = r if worst is None else min(worst, r)
        t += INTERVAL_S
    t = fault_t
    while back is None and t <= done:
        # Back once a window keeps pace with the baseline, or the stream has run dry (every
        # reading stored: nothing is left to measure a rate on).
        if t + WINDOW_S > done or rate(samples, t, t + WINDOW_S) >= BACK_SHARE * baseline:
            back = t - fault_t
        t += INTERVAL_S
    # The replica's lag under load: from the baseline's start (at the cluster's start the
    # replica may still be catching up on what happened while it was down).
    lag = sorted(s["replica_lag_s"] for s in samples if s["t"] >= a)
    print(json.dumps({
        "baseline_per_s": round(baseline),
        "worst_second_after_fault_per_s": None if worst is None else round(worst),
        "back_after_s": None if back is None else round(back, 2),
        "all_stored_after_fault_s": round(done - fault_t, 2),
        "max_pending": max(s["pending"] for s in samples),
        "median_replica_lag_s": round(lag[len(lag) // 2], 3) if lag else 0,
        "max_replica_lag_s": round(lag[-1], 3) if lag else 0,
    }))


def live_lag(ports):
    buckets = {}
    for p in ports:
        for name, labels, value in metrics(p) or []:
            if name == "fleetd_live_shared_lag_seconds_bucket":
                le = labels.split('le="', 1)[1].split('"', 1)[0]
                buckets[le] = buckets.get(le, 0) + value
    bounds = sorted(buckets, key=lambda le: float("inf") if le == "+Inf" else float(le))
    n = buckets[bounds[-1]] if bounds else 0

    def q(share):
        for le in bounds:
            if buckets[le] >= share * n and n > 0:
                return le
        return None
    print(json.dumps({"observations": int(n), "p50_le_s": q(0.5), "p99_le_s": q(0.99), "max_le_s": q(1.0)}))


def main(argv):
    if len(argv) >= 3 and argv[0] == "sample":
        sample(argv[1], [int(p) for p in argv[2:]])
    elif len(argv) == 4 and argv[0] == "report":
        report(argv[1], float(argv[2]), float(argv[3]))
    elif len(argv) >= 2 and argv[0] == "live-lag":
        live_lag([int(p) for p in argv[1:]])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
