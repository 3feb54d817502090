"""``backend=remote`` samples on its target: a noisy or hardware target takes QAOA's samples as ONE service job.

References: the device's calibrated readout errors (an X-like rotation read through them), the same
samples taken by the local ``ibm_fake`` backend (remote runs equal local ones), and ``backend=simulator``
for ``backend.target=simulator``, which keeps sampling the ideal state on the client.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qjax.backends import make_backend
from qjax.backends.jobs import JOBS_FILE
from qjax.ir.circuit import Circuit, Param
from qjax.ir.pauli import PauliSum
from qjax.serve.process import ServiceProcess

pytest.importorskip("qiskit_ibm_runtime")

KEY = "remote-samples-key-" + "s" * 20
# RX(π) on wire 0, RY(0) on wire 1: the ideal state is |10⟩ (qjax index 2), every shot.
CIRCUIT = Circuit(2).rx(Param(0), 0).ry(Param(1), 1)
PARAMS = np.array([math.pi, 0.0])
OBS = PauliSum("Z0 + Z1", 2)
C5 = "problem.edges=[[0,1],[1,2],[2,3],[3,4],[0,4]]"  # fits FakeManilaV2's 5 qubits
QAOA = ("+experiment=qaoa", C5, "ansatz.p=1", "trainer.steps=2", "problem.samples=2000")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with ServiceProcess(tmp_path_factory.mktemp("service"), [KEY]) as svc:
        yield svc.url


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("QJAX_API_KEY", KEY)


def _freq(bits: np.ndarray) -> np.ndarray:
    return np.bincount(bits[:, 0] * 2 + bits[:, 1], minlength=4) / len(bits)


def _trained(name: str, tmp_path, **options):
    """A backend after its objective was built: the run's runner exists, as at the end of training."""
    backend = make_backend(name, seed_simulator=3, state_dir=str(tmp_path / name), **options)
    backend.objective(CIRCUIT, OBS, gradient="parameter_shift")
    return backend


def test_remote_ibm_fake_samples_are_one_counted_service_job_equal_to_local_ibm_fake(service, key, tmp_path):
    shots = 6000
    remote = _trained("remote", tmp_path, url=service, target="ibm_fake", device="FakeManilaV2", shots=256)
    got = remote.sample(CIRCUIT, PARAMS, shots, seed=0)
    assert got.sampled_on == "ibm_fake:FakeManilaV2" and got.bits.shape == (shots, 2)
    # the device's readout errors on the qubits the circuit runs on flip the ideal |10⟩ now and then
    local = _trained("ibm_fake", tmp_path, device="FakeManilaV2", shots=256)
    layout = local.executor(CIRCUIT, [OBS]).describe()["transpiled"]["layout"]
    readout = [local.device().target["measure"][(q,)].error for q in layout]
    wrong = 1 - _freq(got.bits)[2]
    assert 0.3 * sum(readout) < wrong < 3 * sum(readout) + 0.01
    # the same Sampler on the same transpiled circuit and seed as the local backend's: the same counts
    np.testing.assert_array_equal(_freq(got.bits), _freq(local.sample(CIRCUIT, PARAMS, shots, seed=0).bits))
    rows = [json.loads(line) for line in (tmp_path / "remote" / JOBS_FILE).read_text().splitlines()]
    sampled = [r for r in rows if r.get("purpose") == "samples" and r["state"] == "submitted"]
    assert len(sampled) == 1 and sampled[0]["shots"] == shots and sampled[0]["qpu_seconds"] > 0
    assert remote.runner.stats()["num_jobs"] == 1 and remote.runner.stats()["shots_total"] == shots


def test_remote_noisy_twin_samples_its_readout_noise(service, key, tmp_path):
    remote = _trained("remote", tmp_path, url=service, target="noisy_simulator", device="FakeManilaV2")
    got = remote.sample(CIRCUIT, PARAMS, 8000, seed=1)
    assert got.sampled_on == "noisy_simulator:FakeManilaV2"
    twin = make_backend("noisy_simulator", device="FakeManilaV2", seed_simulator=3)
    twin.sample(CIRCUIT, PARAMS, 10, seed=1)  # the twin's layout, for the readout errors
    layout = twin.describe()["transpiled"]["layout"][:2]
    readout = [twin.device().target["measure"][(q,)].error for q in layout]
    wrong = 1 - _freq(got.bits)[2]
    assert 0.3 * sum(readout) < wrong < 3 * sum(readout) + 0.01


def test_qaoa_on_remote_ibm_fake_samples_on_the_device_in_steps_plus_two_jobs(service, key, train_in_process, tmp_path):
    result = train_in_process(
        *QAOA, "backend=remote", f"backend.url={service}", "backend.target=ibm_fake", "backend.shots=500"
    )
    assert result["sampled_on"] == "ibm_fake:FakeManilaV2"
    assert result["num_jobs"] == 2 + 2  # the steps, the final evaluation, the samples
    journal = [json.loads(line) for line in next(tmp_path.rglob(JOBS_FILE)).read_text().splitlines()]
    submitted = [r for r in journal if r["state"] == "submitted"]
    assert [r["purpose"] for r in submitted][-1] == "samples" and submitted[-1]["shots"] == 2000
    assert result["shots_total"] == sum(r["shots"] for r in submitted)


def test_qaoa_on_remote_simulator_equals_the_local_simulator(service, key, train_in_process):
    """target=simulator samples the ideal state on the client, exactly as backend=simulator (no extra job)."""
    common = (*QAOA, "gradient=parameter_shift", "seed=4")
    remote = train_in_process(*common, "backend=remote", f"backend.url={service}")
    local = train_in_process(*common, "backend=simulator")
    assert remote["sampled_on"] == local["sampled_on"] == "simulator"
    assert remote["best_sampled_bits"] == local["best_sampled_bits"]
    assert remote["expected_cut"] == pytest.approx(local["expected_cut"], abs=1e-6)
    assert remote["num_jobs"] == 2 + 1
