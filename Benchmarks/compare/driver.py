#!/usr/bin/env python3
"""Side-by-side benchmark driver: Conveyor against Celery, RQ and Sidekiq on one redis-server.

Run through scripts/compare (which installs the peers and builds conveyor-bench). Every
peer-specific command is in the PEER COMMANDS section below; see README.md in this folder.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib import metadata

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.path.join(HERE, "peers")
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
VENV_BIN = os.path.dirname(sys.executable)
PY = sys.executable
CPUS = os.cpu_count() or 1
SYSTEMS = ["conveyor", "celery", "rq", "sidekiq"]
WORKLOADS = ["enqueue_single", "enqueue_bulk", "drain1", "drain2", "latency_p50", "latency_p99", "rss_kb"]
ROW_TITLES = {
    "enqueue_single": "enqueue, one call per job (jobs/s)",
    "enqueue_bulk": "enqueue, bulk calls of 1,000 (jobs/s)",
    "drain1": "drain, 1 worker process (jobs/s)",
    "drain2": "drain, 2 worker processes (jobs/s)",
    "latency_p50": "enqueue-to-start latency p50 (ms)",
    "latency_p99": "enqueue-to-start latency p99 (ms)",
    "rss_kb": "peak RSS after draining, 1 worker process (MB)",
}
# Extra columns of the per-configuration table (peers only; conveyor-bench reports one figure).
EXTRA = ["drain1_startup_s", "drain1_after_first", "drain2_after_first", "drain1_capped", "drain2_capped"]
ROW_TITLES.update({
    "drain1_startup_s": "drain 1 proc: start until first job done (s)",
    "drain1_after_first": "drain 1 proc: rate after first job done (jobs/s)",
    "drain2_after_first": "drain 2 procs: rate after first job done (jobs/s)",
    "drain1_capped": "drain 1 proc: jobs done when the window closed (if it did)",
    "drain2_capped": "drain 2 procs: jobs done when the window closed (if it did)",
})
HIGHER_IS_BETTER = {"drain1_after_first", "drain2_after_first", "enqueue_single", "enqueue_bulk", "drain1", "drain2",
                    "drain1_capped", "drain2_capped"}
POLL = 0.005  # the driver polls completion indicators every 5 ms
GRACE = 10  # seconds between SIGTERM and SIGKILL for worker processes

LIVE = []  # processes (each leading its own process group) to kill on exit


class Failure(Exception):
    """A measurement that did not produce a figure; str() is what the table shows."""


# ----------------------------------------------------------------------------------------
# PEER COMMANDS: everything system-specific, in one place.
# ----------------------------------------------------------------------------------------

def conveyor_cmd(bin_, workload, store, n, workers=1):
    if store == "sqlite":
        target = ["--store", "sqlite"]
    elif store.startswith("postgres"):
        target = ["--postgres-url", store]
    else:
        target = ["--redis-url", store]
    cmd = [bin_, "--compare", workload] + target + ["--jobs", str(n)]
    return cmd + (["--workers", str(workers)] if workload == "drain" else [])


def celery_worker(config, i):
    pool, _, prefetch = config.partition("-p")  # "prefork", "solo", "prefork-p64", ...
    pool = ["-P", "prefork", "-c", str(CPUS)] if pool == "prefork" else ["-P", "solo"]
    return [os.path.join(VENV_BIN, "celery"), "-A", "celery_app", "worker", *pool, "-O", "fair",
            "--prefetch-multiplier", prefetch or "4", "-Q", "default", "-n", f"w{i}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"]


def rq_worker(config, url):
    cls = "rq.worker.Worker" if config == "Worker" else "rq.worker.SimpleWorker"
    return [os.path.join(VENV_BIN, "rq"), "worker", "-u", url + "/0", "-w", cls, "--quiet", "default"]


def sidekiq_worker(config):
    return [shutil.which("sidekiq") or "sidekiq", "-r", "./sidekiq_jobs.rb", "-c", config[1:], "-q", "default"]


PEERS = {
    "celery": {
        "configs": {
            "prefork": f"prefork pool, -c {CPUS} (= CPUs), -O fair, prefetch multiplier 4 (default)",
            "solo": "solo pool (one job at a time in the worker process), -O fair, prefetch multiplier 4",
        },
        "extra_configs": {
            "prefork-p64": f"prefork pool, -c {CPUS}, -O fair, prefetch multiplier 64 (Celery's advice for many short tasks)",
            "solo-p64": "solo pool, -O fair, prefetch multiplier 64",
        },
        "worker": lambda config, i, url: celery_worker(config, i),
        "client": lambda mode, n: [PY, "-u", "py_client.py", "celery", mode, str(n)],
        # Results live in db 1 (celery_app.py), so DBSIZE there counts stored results in O(1).
        "progress": lambda r0, r1, n: r1.dbsize(),
        "verify": lambda r0, r1, n: r1.dbsize(),
    },
    "rq": {
        "configs": {
            "Worker": "rq.Worker (forks a work horse per job; default), --quiet",
            "SimpleWorker": "rq.SimpleWorker (runs jobs in the worker process), --quiet",
        },
        "worker": lambda config, i, url: rq_worker(config, url),
        "client": lambda mode, n: [PY, "-u", "py_client.py", "rq", mode, str(n)],
        # RQ adds every successful job to its finished registry (a sorted set).
        "progress": lambda r0, r1, n: r0.zcard("rq:finished:default"),
        "verify": lambda r0, r1, n: r0.zcard("rq:finished:default"),
    },
    "sidekiq": {
        "configs": {
            "c10": "concurrency 10 (Sidekiq 6 default), log level WARN",
            "c25": "concurrency 25, log level WARN",
        },
        "worker": lambda config, i, url: sidekiq_worker(config),
        "client": lambda mode, n: ["ruby", "sidekiq_client.rb", mode, str(n)],
        # stat:processed is only flushed by Sidekiq's 5 s heartbeat, so the end of a drain is
        # the queue list becoming empty (at most `concurrency` no-op jobs per process are then
        # fetched but not yet finished). The workers are not stopped at that moment (a quieting
        # Sidekiq pushes fetched-but-unstarted jobs back to the queue): the driver then waits,
        # untimed, for the heartbeat to bring stat:processed to N, and only then stops them.
        "progress": lambda r0, r1, n: n - r0.llen("queue:default"),  # jobs fetched
        "settle": lambda r0, r1, n: int(r0.get("stat:processed") or 0) >= n,
        "verify": lambda r0, r1, n: int(r0.get("stat:processed") or 0),
    },
}


def configs(system, args):
    """The configurations measured: the defaults, plus the extra ones with --all-configs."""
    spec = PEERS[system]
    out = dict(spec["configs"])
    if args is not None and args.all_configs:
        out.update(spec.get("extra_configs", {}))
    return out


ALL_ARGS = [None]  # the parsed arguments, for the tables

# ----------------------------------------------------------------------------------------
# Processes
# ----------------------------------------------------------------------------------------

def popen(cmd, env=None, cwd=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=stdout, stderr=stderr, start_new_session=True,
                         stdin=subprocess.DEVNULL)
    LIVE.append(p)
    return p


def kill_group(p, sig):
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(procs, grace=GRACE):
    for p in procs:
        kill_group(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        kill_group(p, signal.SIGKILL)  # also any children left behind in the group
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass
        if p in LIVE:
            LIVE.remove(p)


def cleanup():
    stop(list(LIVE), grace=3)


def short(text, limit=140):
    lines = [l.strip() for l in (text or "").strip().splitlines() if l.strip()]
    msg = lines[-1] if lines else "no output"
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def run_json(cmd, env, timeout, cwd=None):
    """Runs a client/benchmark command and returns the last JSON object it printed."""
    p = popen(cmd, env=env, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop([p], grace=1)
        raise Failure(f"timeout ({timeout:g} s)")
    finally:
        if p in LIVE and p.poll() is not None:
            LIVE.remove(p)
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    if p.returncode != 0:
        raise Failure(f"failed: exit {p.returncode}: {short(err or out)}")
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise Failure(f"failed: no JSON in output: {short(out + err)}")


def descendants(pid):
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    found, todo = [], [pid]
    while todo:
        for c in parents.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def vmhwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# ----------------------------------------------------------------------------------------
# Redis
# ----------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, aof):
        self.dir = tempfile.mkdtemp(prefix="compare-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir, "--daemonize", "no"]
        args += ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else ["--appendonly", "no"]
        self.log = open(os.path.join(self.dir, "redis.log"), "w")
        self.proc = popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.r0 = redis.Redis(port=self.port, db=0)
        self.r1 = redis.Redis(port=self.port, db=1)
        for _ in range(500):
            try:
                self.r0.ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
        raise SystemExit(f"redis-server did not start; see {self.dir}/redis.log")

    def flush(self):
        self.r0.flushall()

    def close(self):
        stop([self.proc], grace=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostgresServer:
    """Debian's PostgreSQL, a fresh cluster on a free loopback port, fsync and synchronous
    commits on (durable, as a production database). As root it runs as the postgres user."""

    def __init__(self):
        versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True) \
            if os.path.isdir("/usr/lib/postgresql") else []
        if not versions:
            raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
        bin_ = f"/usr/lib/postgresql/{versions[0]}/bin"
        self.dir = tempfile.mkdtemp(prefix="compare-pg-")
        prefix = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        data = os.path.join(self.dir, "data")
        subprocess.run(prefix + [f"{bin_}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-instructions"],
                       check=True, capture_output=True)
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.log = open(os.path.join(self.dir, "postgres.log"), "w")
        self.proc = popen(prefix + [f"{bin_}/postgres", "-D", data, "-p", str(self.port), "-k", self.dir,
                                    "-c", "listen_addresses=127.0.0.1", "-c", "shared_buffers=256MB"],
                          stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(1000):
            if subprocess.run(prefix + [f"{bin_}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise SystemExit(f"postgres did not start; see {self.dir}/postgres.log")

    def fresh_url(self):
        """A store in a schema no other run uses (the cluster is thrown away at the end)."""
        return f"{self.url}?schema=cmp_{uuid.uuid4().hex[:12]}"

    def close(self):
        stop([self.proc], grace=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ----------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args, bin_, unavailable):
        self.a = args
        self.bin = bin_
        self.unavailable = unavailable  # system -> "failed: reason"
        self.postgres = None  # a PostgresServer while the run lasts, when PostgreSQL is installed
        self.results = []
        self.logdir = os.path.join(ROOT, ".build", "compare", "logs")
        os.makedirs(self.logdir, exist_ok=True)

    def record(self, pass_, round_, system, config, workload, fn, names=None):
        """Runs one measurement (fn returns {workload: value, ...} or raises Failure)."""
        label = f"[{pass_} r{round_}] {system}/{config} {workload}"
        t0 = time.monotonic()
        try:
            values = fn()
            for k, v in values.items():
                self.results.append(dict(pass_=pass_, round=round_, system=system, config=config,
                                         workload=k, value=v, error=None))
            shown = ", ".join(f"{k}={v:,.2f}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in values.items())
            print(f"{label}: {shown}  ({time.monotonic() - t0:.1f} s)", file=sys.stderr)
        except (Failure, Exception) as e:
            if not isinstance(e, Failure):
                e = Failure(f"failed: {type(e).__name__}: {short(str(e))}")
            names = names or {"latency": ["latency_p50", "latency_p99"]}.get(workload, [workload])
            for k in names:
                self.results.append(dict(pass_=pass_, round=round_, system=system, config=config,
                                         workload=k, value=None, error=str(e)))
            print(f"{label}: {e}", file=sys.stderr)

    def env(self, srv):
        e = dict(os.environ)
        e.update(COMPARE_REDIS_URL=srv.url, REDIS_URL=srv.url + "/0",
                 PYTHONPATH=PEERS_DIR + os.pathsep + e.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1",
                 PYTHONDONTWRITEBYTECODE="1")  # no __pycache__ in the source tree
        return e

    # --- Conveyor: the existing binary measures itself -------------------------------------
    def conveyor(self, srv, pass_, round_, store):
        system = {"sqlite": "conveyor-sqlite", "postgres": "conveyor-postgres"}.get(store, "conveyor")
        cfg = "default"
        n, t = self.a.jobs, self.a.timeout

        def call(workload, jobs=n, workers=1, key=None):
            def fn():
                if not self.bin:
                    raise Failure(self.unavailable.get("conveyor", "failed: no conveyor-bench binary"))
                env = self.env(srv)
                scratch = None
                target = srv.url
                if store == "postgres":
                    target = self.postgres.fresh_url()
                elif store != "sqlite":
                    srv.flush()
                else:  # conveyor-bench puts a fresh SQLite file into TMPDIR per run; remove it after
                    scratch = tempfile.mkdtemp(prefix="compare-sqlite-", dir=self.a.sqlite_dir)
                    env["TMPDIR"] = scratch
                    target = "sqlite"
                try:
                    out = run_json(conveyor_cmd(self.bin, workload, target, jobs, workers), env, t)
                finally:
                    if scratch:
                        shutil.rmtree(scratch, ignore_errors=True)
                if key:
                    return {key: out["rate"]}
                if workload == "latency":
                    return {"latency_p50": out["p50_ms"], "latency_p99": out["p99_ms"]}
                return {"rss_kb": out["rss_kb"]}
            return fn

        self.record(pass_, round_, system, cfg, "enqueue_single", call("enqueue-single", key="enqueue_single"))
        self.record(pass_, round_, system, cfg, "enqueue_bulk", call("enqueue-bulk", key="enqueue_bulk"))
        self.record(pass_, round_, system, cfg, "drain1", call("drain", workers=1, key="drain1"))
        self.record(pass_, round_, system, cfg, "drain2", call("drain", workers=2, key="drain2"))
        self.record(pass_, round_, system, cfg, "latency", call("latency", jobs=self.a.latency_jobs))
        self.record(pass_, round_, system, cfg, "rss_kb", call("rss"))

    # --- Peers -----------------------------------------------------------------------------
    def peer(self, srv, pass_, round_, system):
        spec = PEERS[system]
        n, t = self.a.jobs, self.a.timeout
        env = self.env(srv)

        def unavailable():
            if system in self.unavailable:
                raise Failure(self.unavailable[system])

        def client(mode, jobs, key):
            def fn():
                unavailable()
                srv.flush()
                out = run_json(spec["client"](mode, jobs), env, t, cwd=PEERS_DIR)
                if "na" in out:
                    return {key: "n/a"}
                return {key: out["rate"]}
            return fn

        self.record(pass_, round_, system, "client", "enqueue_single", client("enqueue-single", n, "enqueue_single"))
        self.record(pass_, round_, system, "client", "enqueue_bulk", client("enqueue-bulk", n, "enqueue_bulk"))
        for cfg in configs(system, self.a):
            for k in (1, 2):
                self.record(pass_, round_, system, cfg, f"drain{k}", lambda: self.drain(srv, system, cfg, k, env),
                            names=[f"drain{k}"] + (["rss_kb"] if k == 1 else []))
            self.record(pass_, round_, system, cfg, "latency", lambda: self.latency(srv, system, cfg, env))

    def start_workers(self, system, cfg, count, srv, env, tag):
        procs = []
        for i in range(count):
            log = open(os.path.join(self.logdir, f"{system}-{cfg}-{tag}-{i}.log"), "w")
            procs.append(popen(PEERS[system]["worker"](cfg, i + 1, srv.url), env=env, cwd=PEERS_DIR,
                               stdout=log, stderr=subprocess.STDOUT))
            log.close()
        return procs

    def worker_died(self, procs, system, cfg, tag):
        for i, p in enumerate(procs):
            if p.poll() is not None:
                with open(os.path.join(self.logdir, f"{system}-{cfg}-{tag}-{i}.log"), errors="replace") as f:
                    raise Failure(f"failed: worker exited with {p.returncode}: {short(f.read())}")

    def drain(self, srv, system, cfg, k, env):
        spec = PEERS[system]
        n, t = self.a.jobs, self.a.timeout
        if system in self.unavailable:
            raise Failure(self.unavailable[system])
        srv.flush()
        run_json(spec["client"]("fill", n), env, t, cwd=PEERS_DIR)
        if spec["progress"](srv.r0, srv.r1, n) != 0:
            raise Failure("failed: completion indicator already set before the workers started")
        start = time.monotonic()
        first = None  # when the indicator first moved: worker start-up time
        capped = None
        procs = self.start_workers(system, cfg, k, srv, env, f"drain{k}")
        try:
            while True:
                count = spec["progress"](srv.r0, srv.r1, n)
                now = time.monotonic()
                if count > 0 and first is None:
                    first = now
                if count >= n:
                    break
                if now - start > self.a.drain_window:
                    capped = count  # bounded: the rate is what finished within the window
                    break
                self.worker_died(procs, system, cfg, f"drain{k}")
                time.sleep(POLL)
            elapsed = now - start
            finished = capped if capped is not None else n
            out = {f"drain{k}": finished / elapsed}
            if first is not None:
                out[f"drain{k}_startup_s"] = first - start
                if now > first:
                    out[f"drain{k}_after_first"] = (finished - 1) / (now - first)
            if capped is not None:
                out[f"drain{k}_capped"] = capped
            if k == 1:
                main = vmhwm_kb(procs[0].pid)
                kids = sum(vmhwm_kb(c) for c in descendants(procs[0].pid))
                out.update(rss_kb=main + kids, rss_main_kb=main, rss_children_kb=kids)
            settle = spec.get("settle")
            settle_deadline = time.monotonic() + 20
            while capped is None and settle and not settle(srv.r0, srv.r1, n) and time.monotonic() < settle_deadline:
                time.sleep(0.05)
            done = spec["verify"](srv.r0, srv.r1, n)
        finally:
            stop(procs)
        if capped is None and done != n:
            left = srv.r0.llen("queue:default") if system == "sidekiq" else "?"
            raise Failure(f"failed: {done} of {n} jobs completed (queue length {left})")
        return out

    def latency(self, srv, system, cfg, env):
        spec = PEERS[system]
        if system in self.unavailable:
            raise Failure(self.unavailable[system])
        srv.flush()
        procs = self.start_workers(system, cfg, 1, srv, env, "latency")
        try:
            out = run_json(spec["client"]("latency", self.a.latency_jobs), env, self.a.timeout, cwd=PEERS_DIR)
            self.worker_died(procs, system, cfg, "latency")
        finally:
            stop(procs)
        return {"latency_p50": out["p50_ms"], "latency_p99": out["p99_ms"]}


# ----------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------

def fmt(workload, v):
    if isinstance(v, str):
        return v
    if workload in HIGHER_IS_BETTER:
        return f"{v:,.0f}"
    if workload == "rss_kb":
        return f"{v / 1024:,.1f}"
    return f"{v:,.2f}"


def cell(workload, values, errors):
    if not values:
        return (errors[0] if errors else "—").replace("|", "/")
    if any(isinstance(v, str) for v in values):
        return values[0]
    med = statistics.median(values)
    text = fmt(workload, med)
    if len(values) > 1:
        text += f" [{fmt(workload, min(values))}–{fmt(workload, max(values))}]"
    if errors:
        text += f" ({len(errors)} failed: {errors[0]})"
    return text


def group(results, pass_, system, workload):
    """{config: (values, errors)} for one cell of the summary table."""
    out = {}
    for r in results:
        if r["pass_"] == pass_ and r["system"] == system and r["workload"] == workload:
            vals, errs = out.setdefault(r["config"], ([], []))
            (errs if r["error"] else vals).append(r["error"] or r["value"])
    return out


def best(workload, configs):
    """(config, median, cell text) of the best configuration, or (None, None, text)."""
    scored = [(c, statistics.median(v)) for c, (v, e) in configs.items()
              if v and not any(isinstance(x, str) for x in v)]
    if not scored:
        for c, (v, e) in configs.items():
            if v:
                return None, None, cell(workload, v, e)
        errs = [e for _, (v, es) in configs.items() for e in es]
        return None, None, (errs[0] if errs else "—")
    pick = max if workload in HIGHER_IS_BETTER else min
    c, m = pick(scored, key=lambda x: x[1])
    return c, m, cell(workload, *configs[c])


def summary_table(results, pass_, systems, sqlite_pass):
    peers = [s for s in ["celery", "rq", "sidekiq"] if s in systems]
    head = ["workload"]
    if "conveyor" in systems:
        head += ["Conveyor (Redis)", "Conveyor (SQLite)", "Conveyor (PostgreSQL)"]
    head += [{"celery": "Celery", "rq": "RQ", "sidekiq": "Sidekiq"}[p] for p in peers]
    if "conveyor" in systems:
        head += [f"Conveyor ÷ {h}" for h in head[4:]]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for w in WORKLOADS:
        row = [ROW_TITLES[w]]
        conv = None
        if "conveyor" in systems:
            _, conv, text = best(w, group(results, pass_, "conveyor", w))
            row.append(text)
            row.append(best(w, group(results, sqlite_pass, "conveyor-sqlite", w))[2])
            row.append(best(w, group(results, sqlite_pass, "conveyor-postgres", w))[2])
        ratios = []
        for p in peers:
            c, m, text = best(w, group(results, pass_, p, w))
            if c and c != "client":
                text += f" ({c})"
            if c and w in ("drain1", "drain2") and group(results, pass_, p, w + "_capped").get(c):
                text += " †"
            row.append(text)
            if conv and m:
                ratios.append(f"{conv / m:.2f}" if w in HIGHER_IS_BETTER else f"{m / conv:.2f}")
            else:
                ratios.append("—")
        if "conveyor" in systems:
            row += ratios
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def raw_table(results, pass_, systems, sqlite_pass):
    lines = ["| system / configuration | " + " | ".join(ROW_TITLES[w] for w in WORKLOADS + EXTRA) + " |",
             "|---|" + "---:|" * len(WORKLOADS + EXTRA)]
    rows = []
    if "conveyor" in systems:
        rows += [("conveyor", "default", pass_, "Conveyor (Redis), concurrency 64, prefetch 512"),
                 ("conveyor-sqlite", "default", sqlite_pass, "Conveyor (SQLite), concurrency 64, prefetch 512"),
                 ("conveyor-postgres", "default", sqlite_pass, "Conveyor (PostgreSQL), concurrency 64, prefetch 512")]
    for s in ["celery", "rq", "sidekiq"]:
        if s in systems:
            rows.append((s, "client", pass_, f"{s}: client (enqueue)"))
            rows += [(s, c, pass_, f"{s}: {desc}") for c, desc in configs(s, ALL_ARGS[0]).items()]
    for system, cfg, p, title in rows:
        cells = []
        for w in WORKLOADS + EXTRA:
            v, e = group(results, p, system, w).get(cfg, ([], []))
            text = cell(w, v, e) if (v or e) else ""
            if w == "rss_kb" and v and not system.startswith("conveyor"):
                mains = [r["value"] for r in results if r["pass_"] == p and r["system"] == system
                         and r["config"] == cfg and r["workload"] == "rss_main_kb" and r["value"] is not None]
                if mains and max(v) != max(mains):
                    text += f" (main {statistics.median(mains) / 1024:,.1f})"
            cells.append(text)
        lines.append("| " + title + " | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# Environment description
# ----------------------------------------------------------------------------------------

def sh(cmd, cwd=None):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60, cwd=cwd).stdout.strip()
    except Exception:
        return ""


def versions(bin_):
    def pkg(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"
    head = sh("git rev-parse --short HEAD", cwd=ROOT)
    dirty = " (working tree has uncommitted changes)" if sh("git status --porcelain --untracked-files=no", cwd=ROOT) else ""
    return {
        "redis-server": (re.search(r"v=(\S+)", sh("redis-server --version")) or [None, "?"])[1],
        "python": sys.version.split()[0],
        "celery": pkg("celery"), "kombu": pkg("kombu"), "rq": pkg("rq"), "redis-py": pkg("redis"),
        "ruby": sh("ruby -e 'print RUBY_VERSION'") or "not installed",
        "sidekiq": sh("ruby -e 'require \"sidekiq\"; print Sidekiq::VERSION'") or "not installed",
        "redis-rb": sh("ruby -e 'require \"redis\"; print Redis::VERSION'") or "not installed",
        "swift": sh("swift --version 2>&1 | head -1") or "not on PATH",
        "conveyor": head + dirty,
        "conveyor-bench": (bin_ + (" (given by CONVEYOR_BENCH; it may be built from another commit)"
                                   if os.environ.get("COMPARE_BUILT") != "1" else "")) if bin_ else "none",
    }


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": sh("nproc"), "kernel": sh("uname -r"), "cpu": model}


NOTES = """\
- Every cell is the median over the rounds with [min–max]; the systems run interleaved
  (round 1: Conveyor, Celery, RQ, Sidekiq; round 2: the same order; …). Redis is emptied
  (FLUSHALL) before every measurement. Every measurement is bounded by `--timeout`.
- Ratio columns: Conveyor (Redis) ÷ peer for throughput, peer ÷ Conveyor (Redis) for
  latency and RSS, so a ratio above 1 always means Conveyor is better. Peer figures in the
  summary are each system's best configuration for that row (named in brackets); all
  configurations are listed in the per-configuration table.
- Task body everywhere: return the argument. Celery stores it in its Redis result backend
  (db 1; the broker is db 0), RQ stores it itself (default result TTL 500 s), Sidekiq keeps
  no results, Conveyor stores it as the job's result.
- Enqueue: one call per job (Conveyor `enqueue`, Celery `task.delay`, RQ `Queue.enqueue`,
  Sidekiq `perform_async`); bulk: Conveyor `enqueue([...])` of 1,000, RQ `Queue.enqueue_many`
  of 1,000, Sidekiq `Sidekiq::Client.push_bulk` of 1,000; Celery has no bulk enqueue (n/a).
  Celery's `delay` with the Redis result backend also subscribes the client to the task's
  result channel, as it does by default for users.
- Drain: a drain still running after `--drain-window` seconds (60 by default) is stopped
  there and its rate is what finished in the window (marked †; the per-configuration table
  shows how many jobs that was), so slow configurations are measured at their steady rate
  without taking hours.
- Drain: N jobs are enqueued first (bulk where the system has it, Celery one by one), then
  the timer starts as the worker processes are started and stops when the driver, polling
  every 5 ms, sees the completion indicator: Celery: DBSIZE of the result database = N
  (one result key per task); RQ: ZCARD `rq:finished:default` = N; Sidekiq: LLEN
  `queue:default` = 0 (Sidekiq 6 flushes `stat:processed` only every 5 s from its heartbeat,
  so it cannot be polled; at that point up to `concurrency` fetched no-op jobs per process
  may still be unfinished, which flatters Sidekiq slightly; the driver then waits, untimed,
  for `stat:processed` = N before stopping the workers). No peer task does extra work for
  the harness. Conveyor's binary times its own worker processes from their
  start until the last one exits, which each does once the queue is empty (so its figure
  includes the idle check before exit; the peers' does not include shutdown).
  Worker start-up time is inside the timed span for every system; the per-configuration
  table therefore also shows, for the peers, the time from start until the indicator first
  moved and the rate after that point (Sidekiq: first job fetched rather than finished).
- Worker settings: Celery `--without-gossip --without-mingle --without-heartbeat -l warning
  -O fair`, prefork pool at concurrency = CPUs and solo pool, with the default prefetch
  multiplier 4 (`--all-configs` adds both at 64, which Celery's optimizing guide advises for
  many short tasks; in trial runs it was no faster); RQ `rq worker --quiet` with the forking `rq.Worker` and the non-forking
  `rq.SimpleWorker`; Sidekiq at its default concurrency 10 and at 25, log level WARN
  (per-job INFO lines off, as for the others); Conveyor worker concurrency 64, prefetch 512
  (conveyor-bench defaults). Two worker processes = two such worker commands.
- Latency: one idle worker process (for Celery prefork: one `celery worker` with its pool);
  each job carries its send time (`time.time()` / `Time.now.to_f`), the task pushes
  start − sent in ms to the list `lat` with RPUSH, the sender BLPOPs it, sleeps 2 ms (idle
  again, as conveyor-bench does) and sends the next; one warm-up job is discarded. Conveyor's
  binary instead records start − sent as the job's result and waits for completion through
  Redis pub/sub (SQLite: inotify); its latency worker runs with concurrency 4, prefetch 0.
- Peak RSS: VmHWM from /proc/<pid>/status of the worker process after a drain with 1
  process, read before it is stopped. For Celery prefork the figure is the main process plus
  its pool children (VmHWM summed, so shared pages count more than once; main process alone
  in brackets); RQ's forking Worker forks a short-lived work horse per job, so only the main
  process is counted (the horse's pages are mostly shared with it). Conveyor reports its
  worker process's own VmHWM.
- Conveyor (SQLite) uses the embedded SQLite store (a fresh file per run under `--sqlite-dir`,
  by default `.build/compare/`, deleted afterwards);
  no peer has such a store. It is measured in the first pass only: Redis persistence does not
  affect it, so the second table repeats those figures.
- Conveyor (PostgreSQL) uses Debian's PostgreSQL, a cluster the driver starts on loopback with
  fsync and synchronous commits on (every commit durable), a schema of its own per run;
  measured in the first pass only, like SQLite. Its wake-ups are LISTEN/NOTIFY.
"""


# ----------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------

def parse():
    ap = argparse.ArgumentParser(prog="scripts/compare", description=__doc__)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--latency-jobs", type=int)
    ap.add_argument("--quick", action="store_true", help="rounds 1, jobs 2000, latency-jobs 200")
    ap.add_argument("--only", default=",".join(SYSTEMS), help="comma-separated: " + ",".join(SYSTEMS))
    ap.add_argument("--no-aof", action="store_true", help="skip the second pass with appendonly yes")
    ap.add_argument("--aof-rounds", type=int, help="rounds of the AOF pass (default 1; --quick 1)")
    ap.add_argument("--drain-window", type=float, default=60,
                    help="seconds a drain may take before its rate is taken from what finished so far (default 60)")
    ap.add_argument("--all-configs", action="store_true",
                    help="also Celery with prefetch multiplier 64 (prefork and solo)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per measurement (default 300)")
    ap.add_argument("--sqlite-dir", default=os.path.join(ROOT, ".build", "compare"),
                    help="where Conveyor's SQLite files go (default .build/compare, i.e. the project's disk)")
    ap.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                    help="Markdown file to update between the compare markers")
    ap.add_argument("--no-docs", action="store_true", help="print the Markdown, do not write it")
    ap.add_argument("--render", metavar="RESULTS_JSON",
                    help="run nothing: make the tables from a saved .build/compare/results-*.json")
    a = ap.parse_args()
    q = a.quick
    a.rounds = a.rounds or (1 if q else 3)
    a.jobs = a.jobs or (2000 if q else 20000)
    a.latency_jobs = a.latency_jobs or (200 if q else 2000)
    a.aof_rounds = a.aof_rounds or 1
    ALL_ARGS[0] = a
    a.only = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in a.only if s not in SYSTEMS]
    if bad:
        ap.error(f"unknown system(s) {bad}; choose from {SYSTEMS}")
    a.only = [s for s in SYSTEMS if s in a.only]
    return a


def check_available():
    """system -> "failed: reason" for peers that cannot run."""
    bad = {}
    path = os.environ.get("COMPARE_INSTALL_FAILURES")
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                name = line.split(":", 1)[0].strip()
                system = {"ruby-sidekiq": "sidekiq", "celery": "celery", "rq": "rq", "conveyor": "conveyor"}.get(name)
                if system:
                    bad[system] = "failed: " + line.split(":", 1)[1].strip()
    for mod in ("celery", "rq"):
        if mod not in bad:
            try:
                __import__(mod)
            except Exception as e:
                bad[mod] = f"failed: cannot import {mod}: {e}"
    if "sidekiq" not in bad and not (shutil.which("sidekiq") and shutil.which("ruby")):
        bad["sidekiq"] = "failed: sidekiq or ruby not installed"
    return bad


def write_docs(path, section):
    begin, end = "<!-- compare:begin -->", "<!-- compare:end -->"
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{begin}\n{section.strip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n## Side by side: Celery, RQ, Sidekiq\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    a = parse()
    if a.render:
        # Tables from a saved run (one that was interrupted, say), without running anything.
        with open(a.render) as f:
            saved = json.load(f)
        results = saved["results"]
        a.rounds, a.jobs, a.latency_jobs = saved["rounds"], saved["jobs"], saved["latency_jobs"]
        a.only = saved["systems"]
        done = {r["pass_"] for r in results}
        passes = [(p, p == "aof") for p in ("no-aof", "aof") if p in done]
        a.aof_rounds = max([r["round"] for r in results if r["pass_"] == "aof"], default=1)
        a.rounds = max([r["round"] for r in results if r["pass_"] == "no-aof"], default=a.rounds)
        started = datetime.datetime.fromisoformat(saved["started"])
        render(a, saved, results, passes, started, saved["command"], a.render, saved.get("unavailable", {}))
        return
    bin_ = os.environ.get("CONVEYOR_BENCH") or ""
    unavailable = check_available()
    if "conveyor" in a.only and not bin_:
        unavailable.setdefault("conveyor", "failed: no conveyor-bench binary (swift build failed?)")
    elif bin_ and not os.access(bin_, os.X_OK):
        unavailable["conveyor"] = f"failed: {bin_} is not executable"
        bin_ = ""
    started = datetime.datetime.now(datetime.timezone.utc)
    command = "scripts/compare " + " ".join(sys.argv[1:])
    runner = Runner(a, bin_, unavailable)
    if "conveyor" in a.only and bin_:
        try:
            runner.postgres = PostgresServer()
        except (SystemExit, OSError, subprocess.CalledProcessError) as error:
            unavailable["conveyor-postgres"] = f"failed: {error}"
    passes = [("no-aof", False)] + ([] if a.no_aof else [("aof", True)])
    stamp = started.strftime("%Y%m%d-%H%M%S")
    json_path = os.path.join(ROOT, ".build", "compare", f"results-{stamp}.json")
    info = dict(started=started.isoformat(), command=command, jobs=a.jobs, latency_jobs=a.latency_jobs,
                rounds=a.rounds, systems=a.only, machine=machine(), versions=versions(bin_),
                unavailable=unavailable)
    print(f"[compare] {command}: {a.rounds} round(s), {a.jobs} jobs, {a.latency_jobs} latency jobs, "
          f"systems {','.join(a.only)}, passes {','.join(p for p, _ in passes)}", file=sys.stderr)
    for s, why in unavailable.items():
        print(f"[compare] {s}: {why}", file=sys.stderr)

    def save():
        with open(json_path, "w") as f:
            json.dump(dict(info, results=runner.results), f, indent=1)

    try:
        for pass_, aof in passes:
            srv = RedisServer(aof)
            try:
                for round_ in range(1, (a.rounds if not aof else min(a.rounds, a.aof_rounds)) + 1):
                    for system in a.only:
                        if system == "conveyor":
                            runner.conveyor(srv, pass_, round_, srv.url)
                            if pass_ == "no-aof":
                                runner.conveyor(srv, pass_, round_, "sqlite")
                                if runner.postgres:
                                    runner.conveyor(srv, pass_, round_, "postgres")
                        else:
                            runner.peer(srv, pass_, round_, system)
                        save()
            finally:
                srv.close()
    except KeyboardInterrupt:
        print("[compare] interrupted; partial results in " + json_path, file=sys.stderr)
        save()
        raise SystemExit(130)
    finally:
        if runner.postgres:
            runner.postgres.close()
        cleanup()
    save()

    render(a, info, runner.results, passes, started, command, json_path, unavailable)


def render(a, info, results, passes, started, command, json_path, unavailable):
    """Prints the tables and writes them into the docs (also for --render of a saved run)."""
    v, m = info["versions"], info["machine"]
    titles = {"no-aof": "Redis persistence off (`--save '' --appendonly no`)",
              "aof": "Redis AOF on (`--appendonly yes --appendfsync everysec`)"}
    parts = [
        f"Run {started:%Y-%m-%d %H:%M} UTC: `{command}` ({a.rounds} round(s), {a.jobs:,} jobs per "
        f"enqueue/drain measurement, {a.latency_jobs:,} latency jobs). Raw figures: "
        f"`.build/compare/{os.path.basename(json_path)}`.",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}; one redis-server on loopback, "
        f"shared by everything on the machine.",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
    ]
    for pass_, _ in passes:
        rounds = a.rounds if pass_ == "no-aof" else min(a.rounds, a.aof_rounds)
        parts.append(f"### {titles[pass_]}, {rounds} round(s)")
        parts.append(summary_table(results, pass_, a.only, "no-aof"))
        parts.append("Per configuration:")
        parts.append(raw_table(results, pass_, a.only, "no-aof"))
    if unavailable:
        parts.append("Unavailable: " + "; ".join(f"{s}: {w}" for s, w in unavailable.items()) + ".")
    parts.append("Settings and notes:\n\n" + NOTES)
    section = "\n\n".join(parts)
    print(section)
    if not a.no_docs:
        write_docs(a.docs, section)
        print(f"[compare] wrote {a.docs} and {json_path}", file=sys.stderr)
    else:
        print(f"[compare] wrote {json_path}", file=sys.stderr)


if __name__ == "__main__":
    def interrupt(*_):
        raise KeyboardInterrupt()
    # Explicit handlers: a shell may start the driver with SIGINT ignored (background jobs).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)
    main()
