"""The final evaluation on IBM backends is ONE job: its shots, the REM reference and the unmitigated value.

TREX is client-side post-processing of qiskit-ibm-runtime's Estimator, so the same job's shots are read
twice: rescaled (``energy``) and raw (``energy_unmitigated``); ``num_jobs`` stays steps + 1.

References: the noisy twin (``backend=noisy_simulator backend.device=FakeManilaV2``), whose exact
density-matrix expectation without mitigation is what the raw shots estimate (JAX, not Aer; its readout
error is the device's symmetric one, so TREX's readout twirling leaves that expectation unchanged), and
the runtime's own decoding (``job.result()``) for the mitigated reading.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime")

from qjax.backends import make_backend  # noqa: E402
from qjax.backends.runtime_results import raw_reading_gap, read_job  # noqa: E402
from qjax.config import validate  # noqa: E402
from qjax.experiments.build import build_experiment  # noqa: E402
from qjax.ir.circuit import Circuit, Param  # noqa: E402
from qjax.ir.pauli import PauliSum  # noqa: E402
from qjax.schemas import MitigationConfig, ReadoutMitigationConfig  # noqa: E402

STEPS = 2


def _submitted(path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in rows if r["state"] == "submitted"]


def _twin_energy(compose, params, tmp_path) -> tuple[float, tuple[int, ...]]:
    """The noisy twin's exact unmitigated energy of the tapered H2 circuit at ``params``, and its qubits."""
    rc = validate(
        compose(
            "+experiment=vqe",
            "backend=noisy_simulator",
            "backend.device=FakeManilaV2",
            "backend.method=density_matrix",
            "mitigation=none",
            "problem.taper=true",
        )
    )
    experiment = build_experiment(rc)
    backend = make_backend(
        "noisy_simulator", device="FakeManilaV2", method="density_matrix", mitigation=rc.mitigation, seed=rc.seed
    )
    twin = backend.twin(experiment.circuit, [experiment.problem.observable])
    objective = backend.objective(experiment.circuit, experiment.problem.observable)
    return float(objective.value(np.asarray(params, dtype=np.float32))), twin.qubits


def test_default_h2_run_on_ibm_fake_is_steps_plus_one_jobs_and_unmitigated_matches_the_twin(
    train_in_process, compose, tmp_path
):
    """Hardware defaults (tapered H2, readout_rem, 4096 shots); a coarser final_precision keeps it quick."""
    result = train_in_process(
        "+experiment=vqe", "backend=ibm_fake", f"trainer.steps={STEPS}", "backend.final_precision=0.002"
    )
    assert result["num_jobs"] == STEPS + 1
    journal = _submitted(next(tmp_path.rglob("jobs.jsonl")))
    assert len(journal) == STEPS + 1 and "final_unmitigated" not in {r["purpose"] for r in journal}
    final = journal[-1]
    assert final["batch"] == 2 and final["shots"] == result["final_shots"]  # θ and the reference, one job
    assert result["shots_total"] == sum(r["shots"] for r in journal)
    manifest = json.loads(next(tmp_path.rglob("manifest.json")).read_text())
    assert manifest["mitigation"]["name"] == "readout_rem"

    sigma = result["energy_std"]  # the REM'd TREX energy's error bounds the raw θ row's (no rescale, one row)
    assert sigma < 0.003
    mitigated, unmitigated = result["energy_unreferenced"], result["energy_unmitigated"]
    assert abs(mitigated - unmitigated) > 8 * sigma  # TREX removed a readout bias of tens of mHa

    twin, qubits = _twin_energy(compose, result["final_params"], tmp_path)
    assert list(qubits) == manifest["circuit"]["transpiled"]["layout"]  # the same physical qubit
    assert unmitigated == pytest.approx(twin, abs=4 * sigma)


class _ServiceJob:
    """Stands in for ``RuntimeJobV2`` (IBM's jobs): ``result(decoder=[...])`` chains the given decoders over the raw
    result, as the runtime does; the raw result here is a local job's undecoded program result."""

    def __init__(self, local):
        self._local, self.decoders = local, []

    def result(self, decoder=None):
        from qiskit.primitives.primitive_job import PrimitiveJob

        if decoder is None:
            return self._local.result()
        self.decoders.append([d.__name__ for d in decoder])
        program = PrimitiveJob.result(self._local)  # what ExecutorResultDecoder makes of the service's JSON
        return program


def _wait(job):
    while job.status() not in ("done", "error"):
        time.sleep(0.05)


def test_the_mitigated_reading_is_the_runtimes_own_and_the_raw_one_undoes_only_trex():
    """One job of RY(θ) rows: the TREX reading equals ``job.result()``, the raw one lies closer to the identity
    term (readout error shrinks every Pauli term); mitigation=none gives no second reading."""
    circuit = Circuit(1, num_params=1).ry(Param(0), 0)
    observable = PauliSum.from_string("-0.3287 + 0.7880 Z0 + 0.1813 X0")
    backend = make_backend(
        "ibm_fake", device="FakeManilaV2", shots=2000, mitigation=ReadoutMitigationConfig("readout"), seed=3
    )
    executor = backend.executor(circuit, [observable])
    assert executor.reads_raw and raw_reading_gap() is None
    job = executor.submit(np.array([[0.0], [1.2], [np.pi]]))
    _wait(job)
    ev = job.result()
    assert ev.unmitigated is not None and ev.unmitigated.shape == ev.values.shape == (3, 1)
    decoded = job._job.result()  # the runtime's own decoding of the same job
    np.testing.assert_allclose(ev.values[:, 0], np.asarray(decoded[0].data.evs).ravel())
    # readout error pulls ⟨Z⟩, ⟨X⟩ towards 0: the raw values lie between the identity term and the TREX values
    identity = -0.3287
    assert np.all(np.abs(ev.unmitigated - identity) < np.abs(ev.values - identity))

    # a service job (RuntimeJobV2) gives the undecoded result through its public decoder argument: same readings
    service_job = _ServiceJob(job._job)
    result, raw = read_job(service_job, raw=True)
    assert service_job.decoders == [["ExecutorResultDecoder"]]
    np.testing.assert_allclose(np.asarray(result[0].data.evs).ravel(), ev.values[:, 0])
    np.testing.assert_allclose(raw[0].ravel(), ev.unmitigated[:, 0])

    plain = make_backend("ibm_fake", device="FakeManilaV2", shots=500, mitigation=MitigationConfig("none"), seed=3)
    job = plain.executor(circuit, [observable]).submit(np.array([[0.3]]))
    _wait(job)
    assert job.result().unmitigated is None
    assert read_job(job._job, raw=False)[1] is None


def test_without_a_raw_reading_the_unmitigated_value_costs_one_more_job_and_one_warning(monkeypatch, caplog):
    """An installed runtime that lacks the raw reading: today's extra job, and one line saying why."""
    from qjax.backends import runtime_results

    monkeypatch.setattr(runtime_results, "_entry_points", lambda: "this runtime has no decoders (a test)")
    circuit = Circuit(1, num_params=1).ry(Param(0), 0)
    backend = make_backend(
        "ibm_fake", device="FakeManilaV2", shots=500, mitigation=ReadoutMitigationConfig("readout"), seed=3
    )
    objective = backend.objective(circuit, PauliSum.from_string("Z0"), gradient="parameter_shift")
    with caplog.at_level(logging.WARNING, logger="qjax"):
        report = objective.report(np.array([0.4]))
    assert backend.runner.stats()["num_jobs"] == 2 and "energy_unmitigated" in report
    lines = [r.getMessage() for r in caplog.records if "unmitigated" in r.getMessage()]
    assert len(lines) == 1 and "this runtime has no decoders (a test)" in lines[0] and "steps + 2" in lines[0]
