"""Client side for the Python peers: python py_client.py SYSTEM MODE N  (COMPARE_REDIS_URL from env)

SYSTEM: rq | celery
MODE:   enqueue-single | enqueue-bulk | fill   -> {"rate": jobs/s}  (or {"na": reason})
        latency                                -> {"p50_ms": ..., "p99_ms": ...}
"""
import json
import os
import sys
import time

import redis

system, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = os.environ["COMPARE_REDIS_URL"]
r = redis.Redis.from_url(url + "/0")


def out(**values):
    print(json.dumps(values), flush=True)


def latency(send):
    send(time.time())  # warm-up: the worker is up and has fetched once
    if r.blpop("lat", timeout=60) is None:
        sys.exit("no warm-up reply from the worker")
    time.sleep(0.2)
    delays = []
    for _ in range(n):
        send(time.time())
        reply = r.blpop("lat", timeout=30)
        if reply is None:
            sys.exit("latency probe timed out")
        delays.append(float(reply[1]))
        time.sleep(0.002)  # idle again before the next one (as conveyor-bench does)
    delays.sort()
    pct = lambda p: delays[min(len(delays) - 1, int(len(delays) * p))]
    out(p50_ms=pct(0.5), p99_ms=pct(0.99))


if system == "rq":
    from rq import Queue

    import rq_jobs

    q = Queue("default", connection=r)
    if mode == "enqueue-single":
        t0 = time.perf_counter()
        for _ in range(n):
            q.enqueue(rq_jobs.noop, 1)
        out(rate=n / (time.perf_counter() - t0))
    elif mode in ("enqueue-bulk", "fill"):
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            q.enqueue_many([Queue.prepare_data(rq_jobs.noop, (1,)) for _ in range(min(1000, n - start))])
        out(rate=n / (time.perf_counter() - t0))
    elif mode == "latency":
        latency(lambda sent: q.enqueue(rq_jobs.stamp, sent))
    else:
        sys.exit(f"unknown mode {mode}")
elif system == "celery":
    from celery_app import noop, stamp

    if mode in ("enqueue-single", "fill"):
        t0 = time.perf_counter()
        for _ in range(n):
            noop.delay(1)
        out(rate=n / (time.perf_counter() - t0))
    elif mode == "enqueue-bulk":
        out(na="Celery has no bulk enqueue")
    elif mode == "latency":
        latency(lambda sent: stamp.delay(sent))
    else:
        sys.exit(f"unknown mode {mode}")
else:
    sys.exit(f"unknown system {system}")
