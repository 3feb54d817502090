"""Workers and recovery: one result per job, re-attach by backend job id after a lease expired, cancel, safe
failures."""

import logging
import time

import numpy as np
import pytest

import qjax
from qjax.backends.executor import Evaluation
from qjax.serve.store import JobStore
from qjax.serve.targets import Targets
from qjax.serve.worker import Worker
from qjax.wire import encode_circuit, encode_observable

CIRCUIT = qjax.Circuit(2).ry(qjax.Param(0), 0).cnot(0, 1)
PAYLOAD = {
    "target": "simulator",
    "circuit": encode_circuit(CIRCUIT),
    "observables": [encode_observable(qjax.PauliSum("Z1"))],
    "params": [[0.4], [1.2]],
}


class FakeJob:
    def __init__(self, job_id, states):
        self.job_id, self._states, self.cancelled = job_id, list(states), False

    def status(self):
        if self.cancelled:
            return "cancelled"
        return self._states.pop(0) if len(self._states) > 1 else self._states[0]

    def result(self):
        return Evaluation(np.array([[0.5], [0.25]]), np.zeros((2, 1)), None, 200, 0.05)

    def cancel(self):
        self.cancelled = True


class FakeExecutor:
    """An executor whose job ids survive restarts (like IBM's)."""

    persistent_ids = True

    def __init__(self, states=("running", "done"), known=("ibm-1",), fail=None):
        self.states, self.known, self.fail = states, known, fail
        self.submitted, self.attached = [], []

    def submit(self, params, mitigate=True):
        if self.fail is not None:
            raise self.fail
        job = FakeJob(f"ibm-{len(self.submitted) + 100}", self.states)
        self.submitted.append(job)
        return job

    def attach(self, job_id):
        self.attached.append(job_id)
        return FakeJob(job_id, self.states) if job_id in self.known else None

    def describe(self):
        return {"name": "ibm", "device": "ibm_fake_device", "transpiled": {"depth": 9, "two_qubit_gates": 3}}


@pytest.fixture
def store(tmp_path):
    return JobStore(f"sqlite:///{tmp_path}/jobs.db")


def targets_with(executor):
    targets = Targets(("simulator",))
    targets.executor = lambda batch: executor
    return targets


def test_worker_stores_one_result_and_records_the_backend_id_before_waiting(store):
    seen = []
    ex = FakeExecutor(states=("queued", "running", "done"))
    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    worker = Worker("w", store, targets_with(ex), poll_s=0)
    original = store.set_remote_id
    store.set_remote_id = lambda job_id, rid: (seen.append(store.get(job_id).status), original(job_id, rid))
    assert worker.run_once() and not worker.run_once()
    done = store.get(job.id)
    assert done.status == "done" and done.remote_id == "ibm-100" and seen == ["running"]
    assert done.result["values"] == [[0.5], [0.25]] and done.result["depth"] == 9 and done.result["shots"] == 200
    assert not store.finish(job.id, {"again": True})  # a second result is refused


def test_an_expired_lease_reattaches_a_recorded_backend_job_instead_of_resubmitting(store):
    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    store.claim_next("before-the-crash")
    store.set_remote_id(job.id, "ibm-1")
    assert store.release_expired(now=time.time() + 2 * store.lease_s)["reattach"] == [job.id]
    ex = FakeExecutor()
    assert Worker("w", store, targets_with(ex), poll_s=0).run_once()
    assert store.get(job.id).status == "done" and ex.attached == ["ibm-1"] and ex.submitted == []
    assert store.get(job.id).worker == "w" and store.get(job.id).attempts == 2


def test_a_worker_that_lost_its_lease_leaves_the_backend_job_to_the_one_that_re_attached(store):
    ex = FakeExecutor(states=("running",), known=("ibm-100",))
    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    claimed = store.claim_next("slow")
    slow = Worker("slow", store, targets_with(ex), poll_s=0)
    original = store.set_remote_id

    def recorded_then_lease_lost(job_id, rid):  # the backend job is recorded; then the slow worker's lease runs out
        original(job_id, rid)
        store.release_expired(now=time.time() + 2 * store.lease_s)
        store.claim_next("other")

    store.set_remote_id = recorded_then_lease_lost
    slow.run(claimed)
    assert not ex.submitted[0].cancelled  # the other worker re-attaches to it
    current = store.get(job.id)
    assert current.status == "running" and current.worker == "other" and current.result is None


def test_a_backend_job_the_backend_forgot_is_submitted_again(store):
    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    store.claim_next("w")  # (re-)claimed after the crash
    store.set_remote_id(job.id, "ibm-expired")
    ex = FakeExecutor()
    Worker("w", store, targets_with(ex), poll_s=0).run(store.get(job.id))
    assert ex.attached == ["ibm-expired"] and len(ex.submitted) == 1
    assert store.get(job.id).status == "done" and store.get(job.id).remote_id == "ibm-100"


def test_cancelling_a_running_job_cancels_the_backend_job_and_keeps_no_result(store):
    ex = FakeExecutor(states=("running",))
    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    claimed = store.claim_next("w")
    store.cancel(job.id)
    Worker("w", store, targets_with(ex), poll_s=0).run(claimed)
    assert ex.submitted[0].cancelled and store.get(job.id).status == "cancelled" and store.get(job.id).result is None


def test_a_backend_crash_fails_the_job_with_a_safe_message_and_no_traceback(store, caplog):
    ex = FakeExecutor(fail=RuntimeError("secret-token-abc in a stack"))
    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    with caplog.at_level(logging.INFO, logger="qjax.serve"):
        Worker("w", store, targets_with(ex), poll_s=0).run_once()
    failed = store.get(job.id)
    assert failed.status == "failed" and "RuntimeError" in failed.error and "secret" not in failed.error
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text


def test_simulated_jobs_really_run_and_match_qiskit(store):
    from qiskit.quantum_info import SparsePauliOp, Statevector

    from qjax.interop.qiskit import to_qiskit

    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    Worker("w", store, Targets(("simulator",)), poll_s=0).run_once()
    values = store.get(job.id).result["values"]
    for (theta,), (value,) in zip(PAYLOAD["params"], values):
        # Z on wire 1 = Qiskit qubit 1 = "ZI" in Qiskit's label order
        expected = Statevector(to_qiskit(CIRCUIT, [theta])).expectation_value(SparsePauliOp("ZI"))
        assert value == pytest.approx(float(np.real(expected)), abs=1e-6)


def test_log_lines_carry_the_request_id_and_never_a_secret():
    from qjax.serve import logs

    record = logging.LogRecord(
        "qjax.serve", logging.ERROR, __file__, 1, "backend said %s", ("token=ibm-secret-123",), None
    )
    token = logs.request_id.set("req-42")
    try:
        f = logs.RequestIdFilter(
            logs.environment_secrets({"QISKIT_IBM_TOKEN": "ibm-secret-123", "QJAX_API_KEYS": "k" * 20})
        )
        assert f.filter(record)
    finally:
        logs.request_id.reset(token)
    assert record.request_id == "req-42" and record.getMessage() == "backend said token=[redacted]"


class ChunkExecutor:
    """An in-process executor (like the simulators): ``submit`` computes before it returns; ``on_submit`` runs
    inside it (e.g. a client's cancel arriving while the chunk runs)."""

    persistent_ids = False

    def __init__(self, on_submit=None):
        self.chunks, self.on_submit = [], on_submit

    def submit(self, params, mitigate=True):
        from qjax.backends.executor import DoneJob

        self.chunks.append(np.array(params))
        if self.on_submit is not None:
            self.on_submit(len(self.chunks))
        values = np.cos(np.asarray(params)[:, :1])
        return DoneJob(Evaluation(values, np.zeros_like(values), None, 10 * len(params), 0.0))

    def describe(self):
        return {"name": "simulator", "device": None}


def many_sets(n):
    return PAYLOAD | {"params": [[0.1 * k] for k in range(n)]}


def test_a_cancel_stops_a_simulated_job_between_chunks_and_keeps_no_result(store, monkeypatch):
    monkeypatch.setattr("qjax.serve.worker.chunk_rows", lambda batch: 2)
    job, _ = store.submit(key_id="k", payload=many_sets(40), target="simulator")
    ex = ChunkExecutor(on_submit=lambda k: store.cancel(job.id) if k == 3 else None)  # cancelled during chunk 3
    Worker("w", store, targets_with(ex), poll_s=0).run_once()
    assert len(ex.chunks) == 3  # of 20: no chunk starts after the cancel
    assert store.get(job.id).status == "cancelled" and store.get(job.id).result is None


def test_chunks_cover_every_parameter_set_once_in_order(store, monkeypatch):
    monkeypatch.setattr("qjax.serve.worker.chunk_rows", lambda batch: 3)
    job, _ = store.submit(key_id="k", payload=many_sets(8), target="simulator")
    ex = ChunkExecutor()
    Worker("w", store, targets_with(ex), poll_s=0).run_once()
    assert [len(c) for c in ex.chunks] == [3, 3, 3]  # the last chunk padded to the compiled shape
    result = store.get(job.id).result
    expected = np.cos(0.1 * np.arange(8))
    np.testing.assert_allclose(np.array(result["values"])[:, 0], expected)
    assert result["shots"] == 8 * 10 and result["backend_jobs"] == 3 and result["batch"] == 8


def test_chunked_simulator_results_match_qiskit(store, monkeypatch):
    from qiskit.quantum_info import SparsePauliOp, Statevector

    from qjax.interop.qiskit import to_qiskit
    from qjax.serve import targets as targets_module

    monkeypatch.setattr(targets_module, "_CHUNK_WORK", 3 * 4 * 3)  # 3 sets a chunk: (2 gates + 1 term) × 4 amps
    payload = many_sets(7)
    job, _ = store.submit(key_id="k", payload=payload, target="simulator")
    Worker("w", store, Targets(("simulator",)), poll_s=0).run_once()
    result = store.get(job.id).result
    assert result["backend_jobs"] == 3
    for (theta,), (value,) in zip(payload["params"], result["values"]):
        expected = Statevector(to_qiskit(CIRCUIT, [theta])).expectation_value(SparsePauliOp("ZI"))
        assert value == pytest.approx(float(np.real(expected)), abs=1e-6)


def test_re_attached_backend_jobs_count_their_attempts_too(store):
    from qjax.serve.store import MAX_ATTEMPTS

    job, _ = store.submit(key_id="k", payload=PAYLOAD, target="simulator")
    store.claim_next("w")
    store.set_remote_id(job.id, "ibm-1")
    later = time.time() + 2 * store.lease_s
    for _ in range(MAX_ATTEMPTS - 1):
        assert store.release_expired(now=later) == {"requeued": [], "reattach": [job.id], "failed": []}
        assert store.claim_next("w").remote_id == "ibm-1"
    assert store.release_expired(now=later) == {"requeued": [], "reattach": [], "failed": [job.id]}
