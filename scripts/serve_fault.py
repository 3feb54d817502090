"""Fault test of the execution service: kill -9 it mid-load, restart it, check every accepted job ran exactly once.

Starts a service (SQLite store in a temporary directory), runs ``--clients``
clients (as ``scripts/serve_load.py``) for ``--duration`` seconds, SIGKILLs the
service at ``--kill-at`` of the way through, restarts it on the same port and data
directory after ``--down`` seconds, and lets the clients finish. Clients retry a
request that met a dead service with the same ``Idempotency-Key``, as
``backend=remote`` does. Then, reading the job store directly:

- every job a client was told was accepted is in the store, ``done``, with one result;
- the store holds no job a client did not ask for, and none twice (one per idempotency key);
- nothing is left queued or running; results are right (the circuit is a product of
  RY rotations, so ⟨Σ Z_j⟩ = Σ cos θ_j, an exact reference).

    python scripts/serve_fault.py                      # 16 clients, 30 s, kill at 40 %
    python scripts/serve_fault.py --clients 4 --duration 8

Prints a Markdown table, writes ``outputs/serve_fault.json`` and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import run_clients  # noqa: E402  (a sibling script)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--kill-at", type=float, default=0.4, help="fraction of --duration at which to kill -9")
    p.add_argument("--down", type=float, default=1.0, help="seconds the service stays dead")
    p.add_argument("--qubits", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="outputs/serve_fault.json")
    args = p.parse_args(argv)

    import qjax
    from qjax.serve.process import ServiceProcess
    from qjax.serve.store import JobStore
    from qjax.wire import encode_circuit, encode_observable

    n = args.qubits
    circuit = qjax.Circuit(n)
    for w in range(n):
        circuit = circuit.ry(qjax.Param(w), w)
    observable = qjax.PauliSum([(1.0, f"Z{w}") for w in range(n)])
    circuit_doc, obs_doc = encode_circuit(circuit), [encode_observable(observable)]

    def make_body(c: int, i: int) -> dict:
        rng = np.random.default_rng([c, i])
        return {
            "target": "simulator",
            "circuit": circuit_doc,
            "observables": obs_doc,
            "params": rng.uniform(-np.pi, np.pi, (args.batch, n)).tolist(),
        }

    data_dir = Path(tempfile.mkdtemp(prefix="qjax-fault-"))
    keys = [f"fault-{c}-{secrets.token_hex(12)}" for c in range(args.clients)]
    service = ServiceProcess(data_dir, keys, args=["--workers", str(args.workers), "--log-level", "warning"]).start()
    holder: dict = {}
    clients = threading.Thread(
        target=lambda: holder.update(run_clients(service.url, keys, args.duration, make_body, request_timeout=30.0)),
        daemon=True,
    )
    clients.start()
    time.sleep(args.duration * args.kill_at)
    killed_at = time.monotonic()
    service.kill()
    store = JobStore(f"sqlite:///{data_dir / 'jobs.db'}")
    at_kill = store.counts()
    time.sleep(args.down)
    service.start()
    downtime = time.monotonic() - killed_at
    clients.join()
    out = holder

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (store.counts()["queued"] or store.counts()["running"]):
        time.sleep(0.2)
    service.stop()

    jobs = store.list(limit=10**9)
    by_id = {j.id: j for j in jobs}
    accepted = out["accepted"]
    lost = [
        job_id
        for job_id in accepted
        if job_id not in by_id or by_id[job_id].status != "done" or by_id[job_id].result is None
    ]
    unexpected = [j.id for j in jobs if j.id not in accepted]
    idem = [j.idempotency_key for j in jobs]
    duplicates = len(idem) - len(set(idem))
    worst = 0.0
    for j in jobs:
        if j.result is None:
            continue
        params = np.asarray(j.payload["params"])
        worst = max(worst, float(np.max(np.abs(np.asarray(j.result["values"])[:, 0] - np.cos(params).sum(axis=1)))))
    rerun = sum(1 for j in jobs if j.attempts > 1)
    report = {
        "clients": args.clients,
        "duration_s": args.duration,
        "downtime_s": round(downtime, 2),
        "at_kill": at_kill,
        "accepted": len(accepted),
        "stored": len(jobs),
        "done": sum(1 for j in jobs if j.status == "done"),
        "lost": len(lost),
        "unexpected": len(unexpected),
        "duplicates": duplicates,
        "rerun_after_restart": rerun,
        "client_connection_retries": out["failovers"],
        "max_abs_error": worst,
        "final_counts": store.counts(),
    }
    ok = (
        not lost
        and not unexpected
        and not duplicates
        and worst < 1e-4
        and report["done"] == len(accepted)
        and len(accepted) > 0
    )
    report["ok"] = ok
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(
        "| clients | accepted | done | lost | duplicated | unexpected | queued / running at kill | re-run after "
        "restart | downtime | client retries | max \\|error\\| |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.clients} | {len(accepted)} | {report['done']} | {len(lost)} | {duplicates} | {len(unexpected)} | "
        f"{at_kill['queued']} / {at_kill['running']} | {rerun} | {downtime:.1f} s | "
        f"{out['failovers']} | {worst:.1e} |"
    )
    print("PASS: every accepted job finished exactly once" if ok else "FAIL: see the table", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
