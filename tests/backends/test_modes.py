"""backend.execution_mode: job | batch | session.

The IBM side is exercised with injected openers (what ``Session(backend)`` / ``Batch(backend)``
do on IBM's servers: open, or refuse on the Open Plan) and with real qiskit-ibm-runtime local
sessions on a fake device; re-attaching after a crash with a mock service that keeps the jobs of
the "crashed" process, as IBM's does.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from qjax.backends.jobs import EVENTS_FILE, JobRunner
from qjax.backends.modes import EXECUTION_MODES, open_execution_mode
from qjax.config import config_hash, validate
from qjax.errors import BackendError, ConfigError


class Refused(Exception):
    pass


def _openers(calls: list, refuse=()):
    def opener(name):
        def open_(device):
            calls.append(name)
            if name in refuse:
                raise Refused(f"You are not authorized to run a {name} when using the open plan.")
            return f"{name}-on-{device}"

        return open_

    return {"session": opener("session"), "batch": opener("batch")}


def test_job_mode_opens_nothing():
    calls: list = []
    assert open_execution_mode("job", "dev", openers=_openers(calls)) == ("dev", "job")
    assert calls == []


@pytest.mark.parametrize(
    "mode, refuse, expect, tried",
    [
        ("session", (), ("session-on-dev", "session"), ["session"]),
        ("batch", (), ("batch-on-dev", "batch"), ["batch"]),
        ("session", ("session",), ("batch-on-dev", "batch"), ["session", "batch"]),
        ("session", ("session", "batch"), ("dev", "job"), ["session", "batch"]),
        ("batch", ("batch",), ("dev", "job"), ["batch"]),
    ],
)
def test_a_refused_mode_falls_back_with_one_warning_line_each(caplog, mode, refuse, expect, tried):
    calls: list = []
    with caplog.at_level(logging.WARNING, logger="qjax"):
        assert open_execution_mode(mode, "dev", openers=_openers(calls, refuse)) == expect
    assert calls == tried
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(refuse)
    for line, name in zip(warnings, refuse):
        assert "\n" not in line and f"refused a {name}" in line and "open plan" in line


def test_unknown_mode_is_one_clear_error():
    with pytest.raises(BackendError) as info:
        open_execution_mode("sometimes", "dev", openers={})
    assert "job, batch, session" in str(info.value) and "\n" not in str(info.value)


def test_config_refuses_an_unknown_mode_and_accepts_all_three_everywhere(compose):
    with pytest.raises(ConfigError) as info:
        validate(compose("+experiment=vqe", "backend=ibm_fake", "backend.execution_mode=sometimes"))
    message = str(info.value)
    assert "backend.execution_mode" in message and "job, batch, session" in message and "\n" not in message
    for backend in ("simulator", "noisy_simulator", "ibm_fake", "ibm", "remote"):
        base = validate(compose("+experiment=vqe", f"backend={backend}"))
        assert base.backend.execution_mode == "job"
        modes = EXECUTION_MODES if backend in ("simulator", "ibm") else ("session",)
        for mode in modes:  # the mode never changes a result: same hash, same checkpoints
            run = validate(compose("+experiment=vqe", f"backend={backend}", f"backend.execution_mode={mode}"))
            assert run.backend.execution_mode == mode and config_hash(run) == config_hash(base)


def test_the_manifest_says_which_mode_ran(tmp_path):
    """backend=ibm_fake accepts session and runs it as job mode: the manifest says both, after the first job."""
    from qjax.backends import make_backend
    from qjax.ir.ansatze import hardware_efficient
    from qjax.ir.pauli import PauliSum

    backend = make_backend("ibm_fake", shots=64, execution_mode="session", state_dir=str(tmp_path))
    circuit = hardware_efficient(2, 1)
    objective = backend.objective(circuit, PauliSum("Z0 Z1", 2), gradient="parameter_shift")
    objective.value(np.zeros(circuit.num_params))
    described = backend.describe()
    assert described["execution_mode"] == "session" and described["execution_mode_in_effect"] == "job"


def test_simulators_run_every_mode_as_job(compose):
    from qjax.backends import make_backend

    for name in ("simulator", "noisy_simulator"):
        for mode in EXECUTION_MODES:
            make_backend(name, execution_mode=mode)  # accepted, nothing opened
        with pytest.raises(BackendError, match="execution_mode=often"):
            make_backend(name, execution_mode="often")


# -- the runtime executor, on a fake device ----------------------------------------------------

pytest.importorskip("qiskit_ibm_runtime")


def _executor(mode: str, openers, *, service=None):
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from qjax.backends.runtime import RuntimeExecutor
    from qjax.ir.ansatze import hardware_efficient
    from qjax.ir.pauli import PauliSum
    from qjax.schemas import MitigationConfig

    circuit = hardware_efficient(2, 1)
    return RuntimeExecutor(
        "ibm",
        FakeManilaV2(),
        circuit,
        [PauliSum([(1.0, ((0, "Z"), (1, "Z"))), (0.5, ((0, "X"),))], 2)],
        shots=512,
        mitigation=MitigationConfig("none"),
        optimization_level=1,
        seed=11,
        persistent_ids=service is not None,
        service=service,
        execution_mode=mode,
        opens_modes=True,
        openers=openers,
    )


def _local_openers(calls: list):
    from qiskit_ibm_runtime import Batch, Session

    def record(name, cls):
        return lambda device: (calls.append(name), cls(backend=device))[1]

    return {"session": record("session", Session), "batch": record("batch", Batch)}


def test_session_mode_runs_its_jobs_in_the_session_with_the_job_mode_values():
    params = np.random.default_rng(3).normal(size=(3, 4))
    calls: list = []
    in_session = _executor("session", _local_openers(calls))
    assert in_session.mode_in_effect is None  # nothing opened before the first job
    got = in_session.submit(params).result()
    again = in_session.submit(params).result()  # the same session serves every step: opened once
    plain = _executor("job", _local_openers(calls)).submit(params).result()
    assert calls == ["session"] and in_session.mode_in_effect == "session"
    assert in_session.describe()["execution_mode_in_effect"] == "session"
    np.testing.assert_array_equal(got.values, plain.values)  # same seed: the mode changes no number
    np.testing.assert_array_equal(got.values, again.values)


class _Crash:
    """Delegates to an executor; the first job's status check kills the 'process' (KeyboardInterrupt)."""

    def __init__(self, executor, jobs: dict):
        self._ex, self._jobs = executor, jobs
        self.name, self.num_params, self.num_observables = executor.name, executor.num_params, 1
        self.persistent_ids, self.shots = executor.persistent_ids, executor.shots

    def submit(self, params, *, mitigate=True):
        job = self._ex.submit(params, mitigate=mitigate)
        self._jobs[job.job_id] = job._job  # IBM keeps the job after the client died

        class Dying:
            job_id = job.job_id

            def status(self):
                raise KeyboardInterrupt

        return Dying()

    def __getattr__(self, item):
        return getattr(self._ex, item)


def test_a_session_run_reattaches_after_a_crash(tmp_path):
    jobs: dict = {}

    class Service:  # QiskitRuntimeService.job(id): the job a previous process submitted
        def job(self, job_id):
            return jobs[job_id]

    calls: list = []
    params = np.array([[0.1, -0.2, 0.3, 0.4]])
    first = JobRunner(
        [("ibm", lambda: _Crash(_executor("session", _local_openers(calls), service=Service()), jobs))],
        state_dir=str(tmp_path),
    )
    with pytest.raises(KeyboardInterrupt):
        first.evaluate(params)
    assert len(jobs) == 1 and calls == ["session"]
    second = JobRunner(
        [("ibm", lambda: _executor("session", _local_openers(calls), service=Service()))], state_dir=str(tmp_path)
    )
    ev = second.evaluate(params)
    events = [json.loads(line)["event"] for line in (tmp_path / EVENTS_FILE).read_text().splitlines()]
    assert "reattached" in events and second.num_jobs == 0  # the crashed job's result, not a new job
    expected = jobs[next(iter(jobs))].result()[0].data.evs
    np.testing.assert_allclose(ev.values[0, 0], float(np.ravel(expected)[0]))
