"""Bounded load test of the execution service on 127.0.0.1: throughput and latency percentiles.

Starts its own service (``python -m qjax.serve``, SQLite store in a temporary
directory, one API key per client) unless ``--url`` points at one (keys then come
from ``--keys``). ``--clients`` threads each loop for ``--duration`` seconds:
submit one batch (a parameter-shift step: ``--batch`` parameter sets of a
``--qubits``-qubit hardware-efficient circuit, TFIM observable), long-poll until it
ends, repeat. A ``429`` is honoured (``Retry-After``) and counted. Latency is
submit → result as the client sees it. Every result is checked against Qiskit's
``Statevector`` for a sample of jobs.

    python scripts/serve_load.py                          # 16 clients, 60 s, target simulator
    python scripts/serve_load.py --clients 4 --duration 10 --target ibm_fake --shots 1000

Prints a Markdown table and writes ``outputs/serve_load.json``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

#: A job's statuses that end the long poll.
TERMINAL = ("done", "failed", "cancelled")


def workload(qubits: int, batch: int, seed: int):
    """(circuit, observable, params (batch, P)) of one step-sized batch."""
    import qjax
    from qjax.ir.ansatze import hardware_efficient

    circuit = hardware_efficient(qubits, 2, ("RY", "RZ"), "chain")
    observable = qjax.PauliSum(
        [(1.0, f"Z{i} Z{i + 1}") for i in range(qubits - 1)] + [(0.5, f"X{i}") for i in range(qubits)]
    )
    params = np.random.default_rng(seed).uniform(-np.pi, np.pi, (batch, circuit.num_params))
    return circuit, observable, params


def run_clients(
    urls: str | list[str],
    keys: list[str],
    duration: float,
    make_body,
    *,
    on_done=None,
    stop=None,
    request_timeout: float = 60.0,
) -> dict:
    """``len(keys)`` client threads for ``duration`` s; returns latencies, counts and accepted jobs.

    ``make_body(client, i)`` → the i-th request body of a client. Client ``c`` starts on
    ``urls[c % len(urls)]``. A request that meets a dead process (a connection error; with
    several URLs also a 5xx from a process shutting down) is sent again with the same
    ``Idempotency-Key`` to the next URL (the same one when there is one) until a process
    answers, so a request in flight during a crash is never lost nor doubled; counted in
    ``failovers``. ``on_done(job_doc, body)`` sees every finished job.
    """
    import httpx

    urls = [urls] if isinstance(urls, str) else list(urls)
    lock = threading.Lock()
    out = {"latencies": [], "status": Counter(), "accepted": {}, "failovers": 0, "rate_limited": 0}
    deadline = time.monotonic() + duration

    def client(c: int, key: str) -> None:
        at = c % len(urls)
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=request_timeout) as http:

            def call(method: str, path: str, **kw):
                nonlocal at
                while True:
                    try:
                        r = http.request(method, urls[at] + path, **kw)
                    except httpx.TransportError:
                        r = None
                    if r is not None and r.status_code == 429:
                        with lock:
                            out["rate_limited"] += 1
                        time.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    if r is None or (len(urls) > 1 and r.status_code >= 500):
                        with lock:
                            out["failovers"] += 1
                        at = (at + 1) % len(urls)
                        time.sleep(0.1)
                        continue
                    return r

            i = 0
            while (i == 0 or time.monotonic() < deadline) and not (stop is not None and stop.is_set()):
                body = make_body(c, i)
                idem = f"load-{c}-{i}-{uuid.uuid4().hex[:8]}"
                started = time.perf_counter()
                r = call("POST", "/v1/jobs", json=body, headers={"Idempotency-Key": idem})
                if r.status_code >= 400:
                    with lock:
                        out["status"][f"http_{r.status_code}"] += 1
                    i += 1
                    continue
                job_id = r.json()["id"]
                with lock:
                    out["accepted"][job_id] = idem
                while (doc := call("GET", f"/v1/jobs/{job_id}?wait=20").json())["status"] not in TERMINAL:
                    pass
                with lock:
                    out["latencies"].append(time.perf_counter() - started)
                    out["status"][doc["status"]] += 1
                if on_done is not None:
                    on_done(doc, body)
                i += 1

    threads = [threading.Thread(target=client, args=(c, k), daemon=True) for c, k in enumerate(keys)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["wall_s"] = time.monotonic() - started
    return out


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summary(out: dict, batch: int) -> dict:
    lat = out["latencies"]
    done = out["status"].get("done", 0)
    return {
        "jobs_done": done,
        "jobs_failed": out["status"].get("failed", 0),
        "wall_s": round(out["wall_s"], 2),
        "throughput_jobs_s": round(done / out["wall_s"], 2) if out["wall_s"] else 0.0,
        "throughput_sets_s": round(done * batch / out["wall_s"], 1) if out["wall_s"] else 0.0,
        "latency_p50_ms": None if not lat else round(1000 * percentile(lat, 50), 1),
        "latency_p99_ms": None if not lat else round(1000 * percentile(lat, 99), 1),
        "latency_max_ms": None if not lat else round(1000 * max(lat), 1),
        "rate_limited": out["rate_limited"],
        "connection_retries": out["failovers"],
        "refused": {k: v for k, v in out["status"].items() if k.startswith("http_")},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="an already running service (default: start one)")
    p.add_argument("--keys", default="", help="comma-separated API keys for --url (one per client, reused)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--target", default="simulator")
    p.add_argument("--shots", type=int, default=None)
    p.add_argument("--qubits", type=int, default=4)
    p.add_argument(
        "--batch",
        type=int,
        default=17,
        help="parameter sets per request (a 4-qubit 2-layer parameter-shift step has 1 + 2·16 = 33)",
    )
    p.add_argument("--workers", type=int, default=2, help="service worker threads (own service only)")
    p.add_argument("--out", default="outputs/serve_load.json")
    args = p.parse_args(argv)

    import qiskit.quantum_info as qi

    from qjax.interop.qiskit import to_qiskit
    from qjax.serve.process import ServiceProcess
    from qjax.wire import encode_circuit, encode_observable

    circuit, observable, params = workload(args.qubits, args.batch, 0)
    body = {
        "target": args.target,
        "circuit": encode_circuit(circuit),
        "observables": [encode_observable(observable)],
        "params": params.tolist(),
        "shots": args.shots,
        "seed": 1,
    }
    reference = [
        float(
            np.real(qi.Statevector(to_qiskit(circuit, row)).expectation_value(observable.to_qiskit(circuit.num_wires)))
        )
        for row in params
    ]
    worst = [0.0]

    def check(doc, _body):
        if doc["status"] == "done" and args.shots is None:
            worst[0] = max(worst[0], float(np.max(np.abs(np.array(doc["result"]["values"])[:, 0] - reference))))

    service = None
    keys = [k for k in args.keys.split(",") if k]
    if args.url is None:
        keys = [f"load-{c}-{secrets.token_hex(12)}" for c in range(args.clients)]
        service = ServiceProcess(
            tempfile.mkdtemp(prefix="qjax-load-"), keys, args=["--workers", str(args.workers), "--log-level", "warning"]
        ).start()
        url = service.url
    else:
        url = args.url
        if not keys:
            print("--url needs --keys", file=sys.stderr)
            return 2
    keys = [keys[c % len(keys)] for c in range(args.clients)]
    try:
        run_clients(url, keys[:1], 0.0, lambda c, i: body)  # warm-up: the first batch of a shape compiles
        out = run_clients(url, keys, args.duration, lambda c, i: body, on_done=check)
    finally:
        if service is not None:
            service.stop()
    report = {
        "clients": args.clients,
        "duration_s": args.duration,
        "target": args.target,
        "qubits": args.qubits,
        "batch": args.batch,
        "shots": args.shots,
        "workers": args.workers if service else None,
        **summary(out, args.batch),
        "max_abs_error_vs_qiskit": worst[0] if args.shots is None else None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(
        "| clients | target | sets/request | jobs done | jobs/s | sets/s | p50 latency | p99 latency | 429s | "
        "failed | max \\|error\\| vs Qiskit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.clients} | {args.target} | {args.batch} | {report['jobs_done']} | {report['throughput_jobs_s']} | "
        f"{report['throughput_sets_s']} | {report['latency_p50_ms']} ms | {report['latency_p99_ms']} ms | "
        f"{report['rate_limited']} | {report['jobs_failed']} | "
        f"{'n/a' if args.shots else f'{worst[0]:.1e}'} |"
    )
    ok = report["jobs_failed"] == 0 and not report["refused"] and (args.shots is not None or worst[0] < 1e-4)
    return 0 if ok and report["jobs_done"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
