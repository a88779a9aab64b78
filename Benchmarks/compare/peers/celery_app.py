"""Celery app for scripts/compare: Redis broker on db 0, Redis result backend on db 1.

The result backend lives in its own database so that the driver can count stored results
with DBSIZE (O(1)) without scanning keys; the broker and the `lat` list stay in db 0.
"""
import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("COMPARE_REDIS_URL", "redis://127.0.0.1:6379") + "/0"
BACKEND = os.environ.get("COMPARE_REDIS_URL", "redis://127.0.0.1:6379") + "/1"

app = Celery("compare", broker=BROKER, backend=BACKEND)
app.conf.update(
    task_default_queue="default",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

_lat = None


@app.task
def noop(x):
    """The benchmark job: return the argument (stored by the Redis result backend)."""
    return x


@app.task
def stamp(sent):
    """Latency probe: push start - sent (ms) to the `lat` list, which the sender BLPOPs."""
    global _lat
    started = time.time()
    if _lat is None:  # one connection per (pool) process, opened after the fork
        _lat = redis.Redis.from_url(BROKER)
    _lat.rpush("lat", (started - sent) * 1000.0)
    return sent
