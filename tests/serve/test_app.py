"""The service's HTTP API, in process (FastAPI's TestClient): auth, validation, limits, jobs, metrics, page.

Expectation values are checked against Qiskit (``Statevector`` / ``SparsePauliOp``),
never against qjax itself.
"""

import json
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from qiskit.quantum_info import Statevector

import qjax
from qjax.interop.qiskit import to_qiskit
from qjax.ir.ansatze import hardware_efficient
from qjax.serve.app import Settings, create_app
from qjax.serve.auth import KeyRing
from qjax.serve.store import JobStore
from qjax.wire import Limits, encode_circuit, encode_observable

ALICE, BOB = "alice-" + "a" * 26, "bob-" + "b" * 28
A = {"Authorization": f"Bearer {ALICE}"}
B = {"X-API-Key": BOB}

CIRCUIT = hardware_efficient(3, 2, ("RY", "RZ"), "chain")
OBS = qjax.PauliSum("0.5 Z0 Z1 - 0.3 X1 Y2 + 0.2 X2 + 0.1")
RNG = np.random.default_rng(7)
PARAMS = RNG.uniform(-np.pi, np.pi, (4, CIRCUIT.num_params))


def body(**overrides):
    doc = {
        "target": "simulator",
        "circuit": encode_circuit(CIRCUIT),
        "observables": [encode_observable(OBS)],
        "params": PARAMS.tolist(),
    }
    doc.update(overrides)
    return doc


def qiskit_expval(circuit, params, obs):
    state = Statevector(to_qiskit(circuit, params))
    return float(np.real(state.expectation_value(obs.to_qiskit(circuit.num_wires))))


def make(tmp_path, *, workers=1, **settings):
    settings.setdefault("limits", Limits(max_qubits=8, max_batch=64))
    s = Settings(db_url=f"sqlite:///{tmp_path}/jobs.db", workers=workers, **settings)
    return create_app(s, KeyRing.from_keys([ALICE, BOB]), run_workers=workers > 0)


@pytest.fixture
def client(tmp_path):
    with TestClient(make(tmp_path)) as c:
        yield c


@pytest.fixture
def idle(tmp_path):
    """A service without workers: jobs stay queued."""
    with TestClient(make(tmp_path, workers=0)) as c:
        yield c


def wait_done(client, job_id, headers=A):
    doc = client.get(f"/v1/jobs/{job_id}?wait=20", headers=headers).json()
    assert doc["status"] == "done", doc
    return doc


def test_submit_returns_at_once_and_the_result_matches_qiskit(client):
    r = client.post("/v1/jobs", json=body(), headers=A)
    assert r.status_code == 202 and r.json()["status"] == "queued" and r.json()["created"]
    doc = wait_done(client, r.json()["id"])
    values = np.array(doc["result"]["values"])
    assert values.shape == (4, 1)
    expected = [qiskit_expval(CIRCUIT, p, OBS) for p in PARAMS]
    np.testing.assert_allclose(values[:, 0], expected, atol=2e-6)
    assert doc["result"]["depth"] == CIRCUIT.depth() and doc["result"]["two_qubit_gates"] == 4
    assert doc["queue_s"] >= 0 and doc["run_s"] > 0 and doc["request_id"] == r.headers["x-request-id"]


def test_openqasm3_circuits_and_several_observables(client):
    from qiskit import qasm3
    from qiskit.circuit import Parameter, QuantumCircuit

    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(2)
    qc.ry(a, 0)
    qc.cx(0, 1)
    qc.rx(b, 1)
    observables = [qjax.PauliSum("Z0"), qjax.PauliSum("Z0 Z1 + 0.5 X1")]
    doc = body(
        circuit={"format": "openqasm3", "source": qasm3.dumps(qc)},
        observables=[encode_observable(o) for o in observables],
        params=[[0.3, -1.1], [2.0, 0.4]],
    )
    result = wait_done(client, client.post("/v1/jobs", json=doc, headers=A).json()["id"])["result"]
    for row, (x, y) in zip(result["values"], [[0.3, -1.1], [2.0, 0.4]]):
        state = Statevector(qc.assign_parameters({a: x, b: y}))
        for value, obs in zip(row, observables):
            assert value == pytest.approx(float(np.real(state.expectation_value(obs.to_qiskit(2)))), abs=2e-6)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer " + "x" * 32}, {"X-API-Key": ALICE[:-1]}, {"Authorization": ALICE}]
)
def test_missing_or_wrong_key_gets_401_and_creates_nothing(idle, headers):
    r = idle.post("/v1/jobs", json=body(), headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "API key" in r.json()["error"] and ALICE not in r.text
    assert idle.get("/v1/jobs/abc", headers=headers).status_code == 401
    assert idle.app.state.service.store.counts()["queued"] == 0


def test_a_repeated_idempotency_key_returns_the_same_job(idle):
    first = idle.post("/v1/jobs", json=body(), headers=A | {"Idempotency-Key": "step-7"})
    again = idle.post("/v1/jobs", json=body(), headers=A | {"Idempotency-Key": "step-7"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and not again.json()["created"]
    other_key = idle.post("/v1/jobs", json=body(), headers=B | {"Idempotency-Key": "step-7"})  # keys are per API key
    assert other_key.status_code == 202 and other_key.json()["id"] != first.json()["id"]
    assert idle.app.state.service.store.counts()["queued"] == 2


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    with TestClient(make(tmp_path, workers=0, rate=0.5, burst=2)) as c:
        codes = [c.get("/v1/jobs", headers=A).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get("/v1/jobs", headers=A)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "rate limit" in r.json()["error"]
        assert c.get("/v1/jobs", headers=B).status_code == 200  # buckets are per key


def test_daily_quotas_of_jobs_and_shots(tmp_path):
    with TestClient(make(tmp_path, workers=0, jobs_per_day=2, shots_per_day=None)) as c:
        assert [c.post("/v1/jobs", json=body(), headers=A).status_code for _ in range(3)] == [202, 202, 429]
    with TestClient(make(tmp_path / "s", workers=0, shots_per_day=10_000)) as c:
        sampled = body(
            target="ibm_fake", shots=1000, params=PARAMS[:2, :].tolist(), circuit=encode_circuit(CIRCUIT)
        )  # 2 sets × 1 observable × 1000 shots
        codes = [c.post("/v1/jobs", json=sampled, headers=A).status_code for _ in range(6)]
        assert codes == [202] * 5 + [429]
        r = c.post("/v1/jobs", json=sampled, headers=A)
        assert "quota of 10,000 shots" in r.json()["error"] and int(r.headers["retry-after"]) > 80000


def test_body_over_the_size_limit_gets_413(tmp_path):
    with TestClient(make(tmp_path, workers=0, max_body_bytes=50_000)) as c:
        big = body(params=np.zeros((64, CIRCUIT.num_params)).tolist(), seed=None)
        big["circuit"]["operations"] = big["circuit"]["operations"] * 100
        r = c.post("/v1/jobs", content=json.dumps(big), headers=A | {"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["field"] == "body"

        def chunks():  # no Content-Length: counted while streaming
            yield b'{"params": ['
            for _ in range(20_000):
                yield b"[0.0, 0.0, 0.0],"
            yield b"[0.0]]}"

        r = c.post("/v1/jobs", content=chunks(), headers=A | {"Content-Type": "application/json"})
        assert r.status_code == 413
        assert c.app.state.service.store.counts()["queued"] == 0


def _ops(**change):
    ops = encode_circuit(CIRCUIT)["operations"]
    ops[0] = ops[0] | change
    return {**encode_circuit(CIRCUIT), "operations": ops}


MALFORMED = [
    ("not json", None, "body"),
    ("[1, 2, 3]", None, "body"),
    ('{"target": "simulator", "params": [[NaN]]}', None, "body"),
    (None, body(target="quantum_annealer"), "target"),
    (None, body(target=None), "target"),
    (None, body(params="0.1"), "params"),
    (None, body(params=[]), "params"),
    (None, body(params=[[0.1] * (CIRCUIT.num_params - 1)]), "params[0]"),
    (None, body(params=[[0.1] * CIRCUIT.num_params, [0.1] * (CIRCUIT.num_params + 1)]), "params[1]"),
    (None, body(params=[["a"] * CIRCUIT.num_params]), "params[0][0]"),
    (None, body(params=[[True] * CIRCUIT.num_params]), "params[0][0]"),
    (None, body(params=[[1e400] * CIRCUIT.num_params]), "body"),  # Infinity is not JSON
    (None, body(params=np.zeros((65, CIRCUIT.num_params)).tolist()), "params"),
    (None, body(shots=0), "shots"),
    (None, body(shots=-5), "shots"),
    (None, body(shots="many"), "shots"),
    (None, body(shots=10**9), "shots"),
    (None, body(shots=100), "shots"),  # the simulator is exact: shots must be null
    (None, body(target="ibm_fake"), "shots"),  # ibm_fake samples: shots are required
    (None, body(seed=-1), "seed"),
    (None, body(observables=[]), "observables"),
    (None, body(observables=[[[1.0, "Q0"]]]), "observables[0]"),
    (None, body(observables=[[[1.0, "Z7"]]]), "observables[0]"),
    (None, body(observables=[[["one", "Z0"]]]), "observables[0][0][0]"),
    (None, body(observables="Z0"), "observables"),
    (None, body(circuit={"format": "pickle", "data": "gASV..."}), "circuit.format"),
    (None, body(circuit=_ops(gate="FOO")), "circuit.operations[0]"),
    (None, body(circuit=_ops(wires=[9])), "circuit.operations[0].wires[0]"),
    (None, body(circuit=_ops(wires=[-1])), "circuit.operations[0].wires[0]"),
    (None, body(circuit=_ops(angles=[{"params": [[10**6, 1.0]]}])), "circuit.operations[0].angles[0].params[0][0]"),
    (None, body(circuit=_ops(angles=[1.0, 2.0])), "circuit.operations[0]"),
    (None, body(circuit=_ops(evil="__import__('os')")), "circuit.operations[0].evil"),
    (None, body(circuit={**encode_circuit(CIRCUIT), "num_wires": 12}), "circuit.num_wires"),
    (None, body(circuit={**encode_circuit(CIRCUIT), "num_wires": "three"}), "circuit.num_wires"),
    (None, body(circuit={**encode_circuit(CIRCUIT), "version": 99}), "circuit.version"),
    (
        None,
        body(circuit={"format": "openqasm3", "source": "OPENQASM 3.0; qubit[2] q; frobnicate q[0];"}),
        "circuit.source",
    ),
    (None, body(circuit={"format": "openqasm3", "source": ""}), "circuit.source"),
    (None, body(circuit={"format": "openqasm3", "source": "OPENQASM 3.0; qubit[2] q; h q[5];"}), "circuit.source"),
    (None, body(mitigation="magic"), "mitigation"),
    (None, body(mitigation="zne"), "mitigation"),  # the noiseless simulator has nothing to mitigate
    (None, body(mitigation={"name": "zne", "zne": {"noise_factors": "1,3"}}), "mitigation"),
    (None, body(device=["FakeManilaV2"]), "device"),
    (None, body(target="ibm_fake", shots=100, device="FakeNowhereV2"), "device"),
    (None, body(version=2), "version"),
    (None, body(extra_field=1), "extra_field"),
]


def test_malformed_requests_get_4xx_naming_the_field_never_500(client):
    assert len(MALFORMED) >= 25
    for raw, doc, field in MALFORMED:
        content = raw if raw is not None else json.dumps(doc)
        r = client.post("/v1/jobs", content=content, headers=A | {"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (field, r.status_code, r.text)
        error = r.json()
        assert error["field"] == field, (field, error)
        assert error["error"] and "Traceback" not in r.text and error["request_id"] == r.headers["x-request-id"]
    # nothing was created, and the service still serves
    assert client.app.state.service.store.counts()["queued"] == 0
    assert client.get("/healthz").json() == {"status": "ok"}
    wait_done(client, client.post("/v1/jobs", json=body(), headers=A).json()["id"])


def test_bad_query_values_and_unknown_jobs(client):
    job_id = client.post("/v1/jobs", json=body(), headers=A).json()["id"]
    for path, status, field in [
        (f"/v1/jobs/{job_id}?wait=-1", 422, "wait"),
        (f"/v1/jobs/{job_id}?wait=abc", 422, "wait"),
        ("/v1/jobs?limit=0", 422, "limit"),
        ("/v1/jobs?limit=x", 422, "limit"),
        ("/v1/jobs?status=sleeping", 422, "status"),
        ("/v1/jobs/" + "0" * 32, 404, "job_id"),
    ]:
        r = client.get(path, headers=A)
        assert r.status_code == status and r.json()["field"] == field, (path, r.text)
    assert client.get(f"/v1/jobs/{job_id}", headers=B).status_code == 404  # another key's job is invisible


def test_the_key_is_checked_before_anything_else(idle):
    # authentication is the routes' first dependency: without a key, even a malformed query gets 401
    job_id = idle.post("/v1/jobs", json=body(), headers=A).json()["id"]
    for path in (f"/v1/jobs/{job_id}?wait=abc", "/v1/jobs?limit=x", "/v1/jobs/" + "0" * 32):
        r = idle.get(path)
        assert r.status_code == 401 and r.json()["field"] == "authorization", (path, r.text)
    r = idle.post("/v1/jobs", content=b"{not json", headers={"Idempotency-Key": "not valid"})
    assert r.status_code == 401 and r.json()["field"] == "authorization"


def test_cancel_list_and_request_ids(idle):
    rid = "client-trace-123"
    first = idle.post("/v1/jobs", json=body(), headers=A | {"X-Request-ID": rid})
    assert first.headers["x-request-id"] == rid and first.json()["request_id"] == rid
    second = idle.post("/v1/jobs", json=body(), headers=A | {"X-Request-ID": "bad id with spaces"})
    assert second.headers["x-request-id"] != "bad id with spaces"
    idle.post("/v1/jobs", json=body(), headers=B)
    listed = idle.get("/v1/jobs", headers=A).json()["jobs"]
    assert [j["id"] for j in listed] == [second.json()["id"], first.json()["id"]]
    r = idle.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=A)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert idle.post(f"/v1/jobs/{first.json()['id']}/cancel", headers=A).status_code == 409
    assert [j["id"] for j in idle.get("/v1/jobs?status=queued", headers=A).json()["jobs"]] == [second.json()["id"]]


def test_long_poll_returns_when_the_job_ends(client):
    job_id = client.post("/v1/jobs", json=body(), headers=A).json()["id"]
    started = time.monotonic()
    doc = client.get(f"/v1/jobs/{job_id}?wait=20", headers=A).json()
    assert doc["status"] == "done" and time.monotonic() - started < 20


def test_ibm_fake_target_runs_the_batch_as_one_sampled_job(client):
    doc = body(target="ibm_fake", shots=2000, seed=3, params=PARAMS[:2].tolist())
    result = wait_done(client, client.post("/v1/jobs", json=doc, headers=A).json()["id"])["result"]
    assert result["device"] == "fake_manila" and result["shots"] == 2 * 2000
    assert result["depth"] >= CIRCUIT.depth() and result["estimated_cost_usd"] > 0
    exact = [qiskit_expval(CIRCUIT, p, OBS) for p in PARAMS[:2]]
    # device noise shrinks expectations; shot noise ~0.02: agree in sign and rough size where the value is large
    assert np.all(np.abs(np.array(result["values"])[:, 0] - exact) < 0.35)


def test_health_readiness_metrics_and_status_page(client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["database"] and ready["workers"] == 1
    job_id = client.post("/v1/jobs", json=body(), headers=A).json()["id"]
    wait_done(client, job_id)
    client.post("/v1/jobs", json=body(target="nowhere"), headers=A)
    text = client.get("/metrics").text
    assert 'qjax_jobs_submitted_total{target="simulator"} 1.0' in text
    assert 'qjax_jobs_ended_total{status="done",target="simulator"} 1.0' in text
    assert 'qjax_refused_requests_total{reason="invalid"} 1.0' in text
    assert "qjax_queue_length 0.0" in text and "qjax_job_run_seconds_bucket" in text
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and "error rate" in page.text and 'id="queue"' in page.text
    # no key needed for the page, so it shows aggregates only: no job ids, key ids, keys or parameters
    key_id = client.app.state.service.store.get(job_id).key_id
    assert job_id[:8] not in page.text and key_id[:8] not in page.text and 'id="jobs"' not in page.text
    assert ALICE not in page.text and str(PARAMS[0, 0]) not in page.text and "GET /v1/jobs" in page.text


def test_readiness_fails_when_workers_are_dead(tmp_path):
    with TestClient(make(tmp_path)) as c:
        for w in c.app.state.service.workers:
            w.stop()
        assert c.get("/readyz").status_code == 503


@pytest.mark.parametrize(
    "env, args, message",
    [
        ({}, [], "no API keys: set QJAX_API_KEYS"),
        ({"QJAX_API_KEYS": "short"}, [], "shorter than 16 characters"),
        (
            {"QJAX_API_KEYS": ALICE},
            ["--targets", "simulator,quantum_cloud"],
            "--targets: quantum_cloud is not a backend",
        ),
        ({"QJAX_API_KEYS": ALICE}, ["--workers", "0"], "--workers=0 is invalid"),
    ],
)
def test_the_service_refuses_to_start_misconfigured(tmp_path, env, args, message):
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in ("QJAX_API_KEYS", "QJAX_API_KEY_FILE")}
    proc = subprocess.run(
        [sys.executable, "-m", "qjax.serve", "--data-dir", str(tmp_path), "--port", "1", *args],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_cancel_over_http_stops_a_running_simulated_job(tmp_path, monkeypatch):
    """A simulated job runs inside the worker; the client's cancel must stop it, not just relabel it."""
    import threading

    from qjax.backends.executor import DoneJob, Evaluation

    in_chunk_2, cancel_sent, chunks = threading.Event(), threading.Event(), []

    class Sim:
        persistent_ids = False

        def submit(self, params, mitigate=True):
            chunks.append(len(params))
            if len(chunks) == 2:  # the cancel arrives while chunk 2 runs
                in_chunk_2.set()
                cancel_sent.wait(60)
            return DoneJob(Evaluation(np.zeros((len(params), 1)), np.zeros((len(params), 1))))

        def describe(self):
            return {"name": "simulator", "device": None}

    monkeypatch.setattr("qjax.serve.worker.chunk_rows", lambda batch: 1)
    with TestClient(make(tmp_path)) as c:
        c.app.state.service.targets.executor = lambda batch: Sim()
        fifty = body(params=np.zeros((50, CIRCUIT.num_params)).tolist())
        job_id = c.post("/v1/jobs", json=fifty, headers=A).json()["id"]
        assert in_chunk_2.wait(60)
        r = c.post(f"/v1/jobs/{job_id}/cancel", headers=A)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        cancel_sent.set()
    # leaving the client stopped (joined) the worker: it ran no chunk after the cancel, and stored nothing
    assert chunks == [1, 1]
    store = JobStore(f"sqlite:///{tmp_path}/jobs.db")
    assert store.get(job_id).status == "cancelled" and store.get(job_id).result is None
