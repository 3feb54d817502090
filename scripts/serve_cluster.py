"""The execution service as a cluster on PostgreSQL: a fault run (kill -9 mid-load) and throughput by worker count.

Every process is ``python -m qjax.serve`` on 127.0.0.1 against ONE PostgreSQL
database (``--db-url``, or a throwaway server started here with initdb/pg_ctl,
:class:`qjax.serve.localpg.LocalPostgres`): ``--apis`` processes with ``--role api``
and worker processes with ``--role worker`` (``--threads`` worker threads each).
Clients (one API key each, spread over the API processes) loop: submit a batch with
an ``Idempotency-Key``, long-poll its result; a request that meets a dead process is
sent again, same key, to the next API process, as ``backend=remote`` would.

``--mode fault`` (2 API + 3 worker processes by default): at ``--kill-at`` of the
run, SIGKILL one worker and one API process, restart them after ``--down`` s, let the
clients finish, wait for the queue to drain, then read the store: every job a client
was told was accepted is ``done`` with one result; no job a client did not ask for,
none twice (one per idempotency key); results right (a product of RY rotations:
⟨Σ Z_j⟩ = Σ cos θ_j exactly).

``--mode throughput``: 2 API processes, and worker processes (one thread each)
added and removed to run each of ``--worker-counts`` twice (1, 2, 4, 4, 2, 1: the
machine may be shared, and its load changes), ``--clients`` clients for
``--duration`` s each after ``--warmup`` s, on the load script's workload
(``scripts/serve_load.py``: 4 qubits, 17 parameter sets); before and after, the same
load on today's single process with its SQLite store (2 worker threads), so the
figures compare on the same machine in the same run. Each row records the load average.

    python scripts/serve_cluster.py                             # both: fault 16 clients 30 s; throughput 1/2/4
    python scripts/serve_cluster.py --mode fault --clients 4 --duration 10 --lease-s 2   # the CI size

Prints Markdown tables, writes ``outputs/serve_cluster.json``; exits 1 if a fault check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import percentile, run_clients, workload  # noqa: E402  (a sibling script)


class Cluster:
    """``apis`` API processes and ``workers`` worker processes (``threads`` each) on ``db_url``."""

    def __init__(self, db_url: str, keys: list[str], *, apis: int, workers: int, threads: int, lease_s: float):
        from qjax.serve.process import ServiceProcess

        self.base = Path(tempfile.mkdtemp(prefix="qjax-cluster-"))
        common = ["--db-url", db_url, "--targets", "simulator", "--lease-s", str(lease_s), "--log-level", "warning"]
        common += ["--rate", "1000", "--burst", "1000"]
        self.apis = [ServiceProcess(self.base / f"api{i}", keys, args=["--role", "api", *common]) for i in range(apis)]
        self.workers = [
            ServiceProcess(
                self.base / f"worker{i}", keys, args=["--role", "worker", "--workers", str(threads), *common]
            )
            for i in range(workers)
        ]

    @property
    def urls(self) -> list[str]:
        return [a.url for a in self.apis]

    def start(self) -> Cluster:
        for p in self.apis + self.workers:  # in parallel: each imports JAX
            p.launch()
        for p in self.apis + self.workers:
            p.wait_ready(240)
        return self

    def stop(self) -> None:
        for p in self.apis + self.workers:
            p.stop()


def ry_product(qubits: int, batch: int):
    """``make_body(c, i)`` of random RY angles and the exact check of a stored job."""
    import qjax
    from qjax.wire import encode_circuit, encode_observable

    circuit = qjax.Circuit(qubits)
    for w in range(qubits):
        circuit = circuit.ry(qjax.Param(w), w)
    circuit_doc = encode_circuit(circuit)
    obs_doc = [encode_observable(qjax.PauliSum([(1.0, f"Z{w}") for w in range(qubits)]))]

    def make_body(c: int, i: int) -> dict:
        params = np.random.default_rng([c, i]).uniform(-np.pi, np.pi, (batch, qubits))
        return {"target": "simulator", "circuit": circuit_doc, "observables": obs_doc, "params": params.tolist()}

    def error(job) -> float:
        params = np.asarray(job.payload["params"])
        return float(np.max(np.abs(np.asarray(job.result["values"])[:, 0] - np.cos(params).sum(axis=1))))

    return make_body, error


def fault(args, db_url: str) -> dict:
    from qjax.serve.store import JobStore

    make_body, error = ry_product(args.qubits, args.batch)
    keys = [f"cluster-{c}-{secrets.token_hex(12)}" for c in range(args.clients)]
    t0 = time.monotonic()
    cluster = Cluster(
        db_url, keys, apis=args.apis, workers=args.workers, threads=args.threads, lease_s=args.lease_s
    ).start()
    started_s = time.monotonic() - t0
    store = JobStore(db_url)
    holder: dict = {}
    try:
        clients = threading.Thread(
            target=lambda: holder.update(
                run_clients(cluster.urls, keys, args.duration, make_body, request_timeout=30.0)
            ),
            daemon=True,
        )
        clients.start()
        time.sleep(args.duration * args.kill_at)
        killed_at = time.monotonic()
        victims = [cluster.workers[0], cluster.apis[0]]
        for p in victims:
            p.kill()
        at_kill = store.counts()
        time.sleep(args.down)
        for p in victims:
            p.launch()
        for p in victims:
            p.wait_ready(240)
        downtime = time.monotonic() - killed_at
        clients.join()
        t1 = time.monotonic()
        deadline = t1 + 120
        while time.monotonic() < deadline and (store.counts()["queued"] or store.counts()["running"]):
            time.sleep(0.2)
        drain_s = time.monotonic() - t1
    finally:
        cluster.stop()
    out = holder
    jobs = store.list(limit=10**9)
    by_id = {j.id: j for j in jobs}
    accepted = out["accepted"]
    lost = [i for i in accepted if i not in by_id or by_id[i].status != "done" or by_id[i].result is None]
    unexpected = [j.id for j in jobs if j.id not in accepted]
    idem = [j.idempotency_key for j in jobs]
    duplicates = len(idem) - len(set(idem))
    worst = max((error(j) for j in jobs if j.result is not None), default=0.0)
    report = {
        "apis": args.apis,
        "worker_processes": args.workers,
        "threads_per_worker": args.threads,
        "clients": args.clients,
        "duration_s": args.duration,
        "lease_s": args.lease_s,
        "downtime_s": round(downtime, 2),
        "start_s": round(started_s, 1),
        "drain_s": round(drain_s, 1),
        "at_kill": at_kill,
        "accepted": len(accepted),
        "stored": len(jobs),
        "done": sum(1 for j in jobs if j.status == "done"),
        "lost": len(lost),
        "unexpected": len(unexpected),
        "duplicates": duplicates,
        "rerun": sum(1 for j in jobs if j.attempts > 1),
        "client_failovers": out["failovers"],
        "max_abs_error": worst,
        "final_counts": store.counts(),
    }
    report["ok"] = bool(
        not lost
        and not unexpected
        and not duplicates
        and worst < 1e-4
        and report["done"] == len(accepted) > 0
        and report["final_counts"]["queued"] == report["final_counts"]["running"] == 0
    )
    store.close()
    print(
        "| API + worker processes | clients | accepted | done | lost | duplicated | unexpected | queued / running at "
        "kill | re-run | down until ready | client fail-overs | max \\|error\\| |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.apis} + {args.workers} | {args.clients} | {len(accepted)} | {report['done']} | {len(lost)} | "
        f"{duplicates} | {len(unexpected)} | {at_kill['queued']} / {at_kill['running']} | {report['rerun']} | "
        f"{downtime:.1f} s | {out['failovers']} | {worst:.1e} |"
    )
    return report


def _load_row(name: str, urls: list[str], keys: list[str], args, body) -> dict:
    import os

    run_clients(urls, keys, args.warmup, lambda c, i: body, request_timeout=30.0)  # new workers compile once
    out = run_clients(urls, keys, args.duration, lambda c, i: body, request_timeout=30.0)
    lat, done = out["latencies"], out["status"].get("done", 0)
    row = {
        "setup": name,
        "jobs_done": done,
        "jobs_failed": out["status"].get("failed", 0),
        "throughput_jobs_s": round(done / out["wall_s"], 2),
        "latency_p50_ms": None if not lat else round(1000 * percentile(lat, 50), 1),
        "latency_p99_ms": None if not lat else round(1000 * percentile(lat, 99), 1),
        "rate_limited": out["rate_limited"],
        "load_average_1min": round(os.getloadavg()[0], 1),  # the machine's load at the end (it is shared)
    }
    print(
        f"| {name} | {args.clients} | {done} | {row['throughput_jobs_s']} | {row['latency_p50_ms']} ms | "
        f"{row['latency_p99_ms']} ms | {row['jobs_failed']} | {row['load_average_1min']} |",
        flush=True,
    )
    return row


def throughput(args, db_url: str) -> list[dict]:
    """The SQLite single process, then the cluster with the worker counts up and down again (1, 2, 4, 4, 2, 1:
    each count twice, at different moments of a shared machine's load), then SQLite again."""
    from qjax.serve.process import ServiceProcess
    from qjax.wire import encode_circuit, encode_observable

    circuit, observable, params = workload(4, 17, 0)
    body = {
        "target": "simulator",
        "circuit": encode_circuit(circuit),
        "observables": [encode_observable(observable)],
        "params": params.tolist(),
        "seed": 1,
    }
    keys = [f"tput-{c}-{secrets.token_hex(12)}" for c in range(args.clients)]
    print("| setup | clients | jobs done | jobs/s | p50 latency | p99 latency | failed | load average |")
    print("|---|---|---|---|---|---|---|---|")
    rows = []

    def sqlite_row() -> None:
        flags = ["--workers", "2", "--targets", "simulator", "--log-level", "warning", "--rate", "1000"]
        single = ServiceProcess(tempfile.mkdtemp(prefix="qjax-sqlite-"), keys, args=[*flags, "--burst", "1000"])
        single.start()
        try:
            rows.append(_load_row("SQLite, 1 process (API + 2 worker threads)", [single.url], keys, args, body))
        finally:
            single.stop()

    sqlite_row()
    cluster = Cluster(db_url, keys, apis=args.apis, workers=max(args.worker_counts), threads=1, lease_s=args.lease_s)
    pool, cluster.workers = cluster.workers, []
    for p in cluster.apis:
        p.launch()
    for p in cluster.apis:
        p.wait_ready(240)
    try:
        for n in [*args.worker_counts, *reversed(args.worker_counts)]:
            while len(cluster.workers) < n:
                cluster.workers.append(pool[len(cluster.workers)].launch())
            while len(cluster.workers) > n:
                cluster.workers.pop().stop()
            for p in cluster.workers:
                p.wait_ready(240)
            name = f"PostgreSQL, {args.apis} API + {n} worker process{'es' if n > 1 else ''}"
            rows.append(_load_row(name, cluster.urls, keys, args, body) | {"worker_processes": n})
    finally:
        cluster.stop()
    sqlite_row()
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=["fault", "throughput", "both"], default="both")
    p.add_argument(
        "--db-url",
        help="an EMPTY PostgreSQL database for every run (the fault check reads all its jobs); default: a throwaway "
        "server started here, a fresh database per run",
    )
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--apis", type=int, default=2)
    p.add_argument("--workers", type=int, default=3, help="worker processes in the fault run")
    p.add_argument("--threads", type=int, default=1, help="worker threads per worker process")
    p.add_argument("--worker-counts", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    p.add_argument("--kill-at", type=float, default=0.4, help="fraction of --duration at which to kill -9")
    p.add_argument("--down", type=float, default=1.0, help="seconds the killed processes stay dead")
    p.add_argument("--lease-s", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of load before each measured throughput run")
    p.add_argument("--qubits", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default="outputs/serve_cluster.json")
    args = p.parse_args(argv)

    from qjax.serve.localpg import LocalPostgres

    report: dict = {}
    with contextlib.ExitStack() as stack:
        pg = None
        if args.db_url is None:
            pg = stack.enter_context(LocalPostgres())

        def db_url_for(tag) -> str:
            return args.db_url if pg is None else pg.create_database(f"run_{tag}_{secrets.token_hex(3)}")

        if args.mode in ("fault", "both"):
            report["fault"] = fault(args, db_url_for("fault"))
        if args.mode in ("throughput", "both"):
            report["throughput"] = throughput(args, db_url_for("throughput"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    if "fault" in report:
        ok = report["fault"]["ok"]
        print("PASS: every accepted job finished exactly once" if ok else "FAIL: see the table", file=sys.stderr)
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
