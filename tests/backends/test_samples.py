"""Backend.sample: QAOA's cut samples come from the backend that trained, not from the ideal state.

References: a hand-computed distribution (an X-like rotation measured through symmetric readout
flips of known probability), the device's own calibrated readout errors, and the JobRunner's
journal (the sample job is one more job, counted in shots and budget).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qjax.backends import make_backend
from qjax.backends.base import ideal_samples
from qjax.backends.jobs import JOBS_FILE, Budget
from qjax.backends.runtime_sampler import bits_from_counts, counts_vector
from qjax.errors import BudgetExceeded
from qjax.ir.circuit import Circuit, Param
from qjax.ir.pauli import PauliSum

# RX(π) on wire 0, RY(0) on wire 1: the ideal state is |10⟩ (qjax index 2), every shot.
CIRCUIT = Circuit(2).rx(Param(0), 0).ry(Param(1), 1)
PARAMS = np.array([math.pi, 0.0])
OBS = PauliSum("Z0 + Z1", 2)


def _freq(bits: np.ndarray) -> np.ndarray:
    index = bits[:, 0] * 2 + bits[:, 1]
    return np.bincount(index, minlength=4) / len(bits)


def test_counts_and_bits_use_qjax_wire_order():
    # Qiskit outcome 0b01 = clbit 0 (wire 0) set = qjax index 0b10 on two wires
    np.testing.assert_array_equal(counts_vector({0b01: 3, 0b10: 1}, 2), [0, 1, 3, 0])
    bits = bits_from_counts(np.array([0, 1, 3, 0]), 2, seed=0)
    assert bits.shape == (4, 2) and sorted(map(tuple, bits.tolist())) == [(0, 1), (1, 0), (1, 0), (1, 0)]


def test_noisy_simulator_samples_its_readout_noise_not_the_ideal_state():
    shots, flip = 20_000, 0.2
    ideal = ideal_samples(CIRCUIT, PARAMS, shots, seed=0)
    assert ideal.sampled_on == "simulator" and np.all(_freq(ideal.bits) == [0, 0, 1, 0])
    backend = make_backend("noisy_simulator", noise={"readout_error": flip}, seed_simulator=5)
    noisy = backend.sample(CIRCUIT, PARAMS, shots, seed=1)
    # each wire flips independently: P(10) = 0.8², P(00) = P(11) = 0.2·0.8, P(01) = 0.2²
    expected = np.array([flip * (1 - flip), flip**2, (1 - flip) ** 2, flip * (1 - flip)])
    sigma = np.sqrt(expected * (1 - expected) / shots)
    assert noisy.sampled_on == "noisy_simulator" and noisy.bits.shape == (shots, 2)
    np.testing.assert_array_less(np.abs(_freq(noisy.bits) - expected), 5 * sigma)


pytest.importorskip("qiskit_ibm_runtime")


def test_the_noisy_twin_samples_on_the_device_layout_it_simulates():
    """noisy_simulator backend.device=FakeManilaV2: the wires are read from the physical qubits the twin chose,
    and the error rate follows their calibrated readout errors, as on ibm_fake."""
    backend = make_backend("noisy_simulator", device="FakeManilaV2", seed_simulator=2)
    got = backend.sample(CIRCUIT, PARAMS, 8000, seed=0)
    assert got.sampled_on == "noisy_simulator:FakeManilaV2"
    layout = backend.describe()["transpiled"]["layout"][:2]
    readout = [backend.device().target["measure"][(q,)].error for q in layout]
    wrong = 1 - _freq(got.bits)[2]
    assert 0.3 * sum(readout) < wrong < 3 * sum(readout) + 0.01


def _trained_fake(tmp_path, **options):
    backend = make_backend("ibm_fake", shots=256, seed_simulator=3, state_dir=str(tmp_path), **options)
    backend.objective(CIRCUIT, OBS, gradient="parameter_shift")  # the run's runner and Estimator executor
    return backend


def test_ibm_fake_samples_are_one_counted_job_on_the_device_with_its_readout_errors(tmp_path):
    backend = _trained_fake(tmp_path)
    shots = 8000
    got = backend.sample(CIRCUIT, PARAMS, shots, seed=0)
    assert got.sampled_on == "ibm_fake:FakeManilaV2" and got.bits.shape == (shots, 2)
    wrong = 1 - _freq(got.bits)[2]
    layout = backend.describe()["transpiled"]["layout"]
    readout = [backend.device().target["measure"][(q,)].error for q in layout]
    # the device's readout errors (averaged over 0 and 1 in the calibration) set the error rate, roughly
    assert 0.3 * sum(readout) < wrong < 3 * sum(readout) + 0.01
    rows = [json.loads(line) for line in (tmp_path / JOBS_FILE).read_text().splitlines()]
    sampled = [r for r in rows if r.get("purpose") == "samples"]
    assert len(sampled) == 1 and sampled[0]["state"] == "submitted" and sampled[0]["shots"] == shots
    stats = backend.stats()
    assert stats["num_jobs"] == 1 and stats["shots_total"] == shots
    again = backend.sample(CIRCUIT, PARAMS, shots, seed=0)  # a resumed run: from the cache, no new job
    assert backend.stats()["num_jobs"] == 1 and np.array_equal(np.sort(again.bits, 0), np.sort(got.bits, 0))


def test_the_sample_job_is_refused_by_the_budget_before_it_is_sent(tmp_path):
    backend = _trained_fake(tmp_path, budget=Budget(max_shots=1000))
    with pytest.raises(BudgetExceeded, match="budget.max_shots=1000"):
        backend.sample(CIRCUIT, PARAMS, 4000)
    assert backend.stats()["num_jobs"] == 0


C5 = "problem.edges=[[0,1],[1,2],[2,3],[3,4],[4,0]]"


def test_qaoa_on_ibm_fake_has_steps_plus_two_jobs_and_says_where_it_sampled(train_in_process, tmp_path):
    result = train_in_process(
        "+experiment=qaoa",
        C5,
        "ansatz.p=1",
        "backend=ibm_fake",
        "backend.shots=128",
        "problem.samples=300",
        "trainer.steps=2",
        f"checkpoint.root={tmp_path}/ck",
    )
    assert result["sampled_on"] == "ibm_fake:FakeManilaV2"
    assert result["num_jobs"] == result["steps"] + 2  # steps, the final evaluation, the samples
    rows = [json.loads(line) for line in next(tmp_path.rglob(JOBS_FILE)).read_text().splitlines()]
    submitted = [r for r in rows if r["state"] == "submitted"]
    assert result["shots_total"] == sum(r["shots"] for r in submitted)
    assert [r["shots"] for r in submitted if r["purpose"] == "samples"] == [300]
    assert 0 < result["best_sampled_cut"] <= result["max_cut"] == 4
    assert result["two_qubit_gates"] > 0
