"""RQ tasks for scripts/compare. Workers import this module (cwd/PYTHONPATH = this folder)."""
import time

from rq import get_current_job


def noop(x):
    """The benchmark job: return the argument (RQ stores it as the job's result)."""
    return x


def stamp(sent):
    """Latency probe: push start - sent (ms) to the `lat` list, which the sender BLPOPs."""
    started = time.time()
    get_current_job().connection.rpush("lat", (started - sent) * 1000.0)
    return sent
