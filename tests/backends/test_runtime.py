"""The qiskit-ibm-runtime executor on local fake devices (no account, no network).

References: Qiskit ``Statevector`` for exact expectation values (fake devices add
noise, so tolerances leave room for it and for shot noise), the device's own
target for the calibration snapshot, and EstimatorOptions for the option mapping.
"""

import os

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from qjax import templates
from qjax.backends import make_backend
from qjax.backends.executor import angle_circuit
from qjax.backends.runtime import estimator_options
from qjax.errors import BackendError
from qjax.interop.qiskit import to_qiskit
from qjax.ir.circuit import Circuit, Param
from qjax.ir.pauli import PauliSum
from qjax.schemas import (
    BestMitigationConfig,
    DDMitigationConfig,
    MitigationConfig,
    ReadoutMitigationConfig,
    TwirlingMitigationConfig,
    ZNEMitigationConfig,
    ZNESettings,
)


def _wait(job):
    import time

    while job.status() not in ("done", "error"):
        time.sleep(0.05)
    return job.result()


def _exact(circuit: Circuit, observable: PauliSum, params) -> float:
    qc = to_qiskit(circuit, params)
    return float(np.real(Statevector(qc).expectation_value(observable.to_qiskit(circuit.num_wires))))


# -- option mapping ------------------------------------------------------------------------


def test_no_mitigation_is_resilience_level_0_without_twirling():
    opts = estimator_options(MitigationConfig("none"), shots=100, seed=3)
    assert opts["resilience_level"] == 0 and opts["default_shots"] == 100
    assert opts["resilience"] == {"measure_mitigation": False, "zne_mitigation": False}
    assert opts["twirling"] == {"enable_gates": False, "enable_measure": False}
    assert opts["simulator"]["seed_simulator"] == 3


@pytest.mark.parametrize(
    "mitigation, expect",
    [
        (ReadoutMitigationConfig("readout"), {"measure_mitigation": True, "zne": False, "dd": False, "gates": False}),
        (ZNEMitigationConfig("zne"), {"measure_mitigation": False, "zne": True, "dd": False, "gates": False}),
        (DDMitigationConfig("dd"), {"measure_mitigation": False, "zne": False, "dd": True, "gates": False}),
        (TwirlingMitigationConfig("twirling"), {"measure_mitigation": False, "zne": False, "dd": False, "gates": True}),
        (BestMitigationConfig("best"), {"measure_mitigation": True, "zne": True, "dd": True, "gates": True}),
    ],
)
def test_each_mitigation_maps_onto_runtime_options(mitigation, expect):
    opts = estimator_options(mitigation, shots=100, seed=None)
    assert opts["resilience"]["measure_mitigation"] is expect["measure_mitigation"]
    assert opts["resilience"]["zne_mitigation"] is expect["zne"]
    assert opts.get("dynamical_decoupling", {}).get("enable", False) is expect["dd"]
    assert opts["twirling"]["enable_gates"] is expect["gates"]
    if expect["zne"]:
        assert opts["resilience"]["zne"]["noise_factors"] == [1.0, 3.0, 5.0]
        assert opts["resilience"]["zne"]["amplifier"] == "gate_folding"
    assert "simulator" not in opts  # no seed given: the runtime picks one
    # estimator_options itself validated them with EstimatorOptions; the mitigated and plain sets differ
    assert estimator_options(mitigation, shots=100, seed=None, mitigate=False)["resilience"] == {
        "measure_mitigation": False,
        "zne_mitigation": False,
    }


def test_richardson_is_sent_as_the_polynomial_through_every_factor():
    from qiskit_ibm_runtime.options import EstimatorOptions

    mitigation = ZNEMitigationConfig("zne", ZNESettings(noise_factors=(1.0, 2.0, 3.0, 4.0), extrapolator="richardson"))
    opts = estimator_options(mitigation, shots=100, seed=0)
    assert opts["resilience"]["zne"]["extrapolator"] == "polynomial_degree_3"
    EstimatorOptions(**opts)  # the runtime accepts it


@pytest.mark.parametrize(
    "amplifier, needle",
    [("global_folding", "noisy_simulator"), ("pea", "NoiseLearnerV3"), ("noise_scaling", "JAX noisy simulator")],
)
def test_amplifiers_the_runtime_cannot_run_are_refused(amplifier, needle):
    mitigation = ZNEMitigationConfig("zne", ZNESettings(amplifier=amplifier))
    with pytest.raises(BackendError, match=needle):
        estimator_options(mitigation, shots=100, seed=0)
    with pytest.raises(BackendError, match="gate_folding"):  # and before anything runs: at backend construction
        make_backend("ibm_fake", shots=100, mitigation=mitigation)


# -- devices ---------------------------------------------------------------------------------


def test_unknown_device_suggests_close_names():
    backend = make_backend("ibm_fake", device="FakeManila", shots=100)
    with pytest.raises(BackendError, match="FakeManilaV2"):
        backend.check(Circuit(2).h(0), PauliSum("Z0"))


def test_circuit_wider_than_the_device_is_refused():
    backend = make_backend("ibm_fake", device="FakeManilaV2", shots=100)
    wide = Circuit(6).h(5)
    with pytest.raises(BackendError, match="needs 6 qubits but fake_manila has 5"):
        backend.objective(wide, PauliSum("Z5"))


def test_least_busy_fake_device_is_the_smallest_that_fits():
    backend = make_backend("ibm_fake", device="least_busy", shots=100)
    device = backend.device(6)
    assert device.num_qubits >= 6


# -- numbers ---------------------------------------------------------------------------------

CIRCUIT = Circuit(2).ry(Param(0), 0).rx(Param(1), 1).cnot(0, 1).rz(Param(2), 1).ry(Param(0) + Param(2), 1)
OBSERVABLE = PauliSum("0.7 Z0 + 0.4 X1 - 0.5 Z0 Z1 + 0.2 Y1")


def test_batched_job_matches_statevector_row_by_row():
    backend = make_backend("ibm_fake", device="FakeManilaV2", shots=20000, seed_simulator=7)
    executor = backend.executor(CIRCUIT, [OBSERVABLE])
    rng = np.random.default_rng(0)
    params = rng.uniform(-np.pi, np.pi, size=(4, CIRCUIT.num_params))
    lm = CIRCUIT.linear_map()
    angles = params @ lm.A.T + lm.c
    ev = _wait(executor.submit(angles))
    exact = np.array([_exact(CIRCUIT, OBSERVABLE, p) for p in params])
    assert ev.values.shape == (4, 1)
    # FakeManila's noise on one CNOT and readout biases by < 0.1 here; shot noise ~ 0.01
    np.testing.assert_allclose(ev.values[:, 0], exact, atol=0.1)
    # and the rows are not interchangeable: each row is closest to its own exact value
    assert np.all(np.argmin(np.abs(ev.values[:, 0][:, None] - exact[None, :]), axis=1) == np.arange(4))
    assert ev.shots == 4 * 20000 and ev.stds.shape == (4, 1)


def test_each_batch_draws_fresh_shot_noise_that_has_the_binomial_spread():
    """Jobs at (practically) the same parameters on a fake device: their values scatter as binomial shot noise,
    Var⟨Z⟩ = (1 − ⟨Z⟩²)/shots, instead of replaying one seed's noise every step (which made parameter-shift
    training drift); the same batch sent again draws the same noise (reproducible retries and resumes)."""
    circuit, observable, shots = Circuit(1).ry(Param(0), 0), PauliSum("Z0"), 400
    executor = make_backend("ibm_fake", device="FakeManilaV2", shots=shots, seed_simulator=3).executor(
        circuit, [observable]
    )
    theta = 1.0 + 1e-9 * np.arange(24)  # 24 batches whose exact values agree to 1e-9
    values = np.array([_wait(executor.submit(np.array([[t]]))).values[0, 0] for t in theta])
    mean = values.mean()
    expected_var = (1 - mean**2) / shots
    # the sample variance of 24 draws over the binomial variance is chi²(23)/23: within [0.35, 1.9] at p ≈ 0.998
    assert 0.35 < values.var(ddof=1) / expected_var < 1.9, (values.var(ddof=1), expected_var)
    again = _wait(executor.submit(np.array([[theta[5]]]))).values[0, 0]
    assert again == values[5]


def test_zne_moves_the_energy_toward_the_exact_value():
    # CNOT pairs around unbound rotations (the transpiler cannot cancel them) are identities at angle 0 but
    # carry FakeManila's two-qubit noise; exact ⟨Z0 Z1 Z2⟩ after X on every qubit = -1
    circuit = Circuit(3).x(0).x(1).x(2)
    for k in range(3):
        circuit = circuit.cnot(0, 1).ry(Param(2 * k), 1).cnot(0, 1).cnot(1, 2).ry(Param(2 * k + 1), 2).cnot(1, 2)
    observable = PauliSum("Z0 Z1 Z2")
    exact = _exact(circuit, observable, np.zeros(circuit.num_params))
    backend = make_backend(
        "ibm_fake", device="FakeManilaV2", shots=8000, seed_simulator=1, mitigation=ZNEMitigationConfig("zne")
    )
    executor = backend.executor(circuit, [observable])
    ev = _wait(executor.submit(np.zeros((1, angle_circuit(circuit).num_params))))
    mitigated, unmitigated = ev.values[0, 0], ev.unmitigated[0, 0]
    assert exact == pytest.approx(-1.0)
    assert abs(unmitigated - exact) > 0.05  # the noise is visible without mitigation
    assert abs(mitigated - exact) < abs(unmitigated - exact)


def test_manifest_facts_come_from_the_transpiled_circuit_and_the_device():
    backend = make_backend("ibm_fake", device="FakeManilaV2", shots=100, optimization_level=1)
    circuit = templates.hardware_efficient(3, 1)
    executor = backend.executor(circuit, [PauliSum("Z0 Z1 + X2")])
    facts = executor.describe()
    t = facts["transpiled"]
    assert t["depth"] == executor.isa.depth() and len(t["layout"]) == 3
    assert t["two_qubit_gates"] >= circuit.gate_counts().get("CNOT", 0)
    device = backend.device(3)
    for q in t["layout"]:
        row = facts["calibration"]["qubits"][str(q)]
        assert row["t1"] == device.target.qubit_properties[q].t1
        assert row["readout_error"] == device.target["measure"][(q,)].error


# -- backend=ibm: the same path against QiskitRuntimeService -------------------------------


def test_ibm_without_an_account_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no saved account (~/.qiskit/qiskit-ibm.json) either
    backend = make_backend("ibm", device="ibm_brisbane", shots=100)
    with pytest.raises(BackendError, match="QISKIT_IBM_TOKEN"):
        backend.check(Circuit(2).h(0), PauliSum("Z0"))


@pytest.mark.skipif(not os.environ.get("QISKIT_IBM_TOKEN"), reason="needs an IBM Quantum token (QISKIT_IBM_TOKEN)")
def test_ibm_least_busy_runs_one_batched_job(tmp_path):
    backend = make_backend("ibm", device="least_busy", shots=100, state_dir=str(tmp_path))
    objective = backend.objective(CIRCUIT, OBSERVABLE)
    value, grad = objective.value_and_grad(np.array([0.3, -0.2, 0.5]))
    assert np.isfinite(value) and grad.shape == (3,)
    assert backend.stats()["num_jobs"] == 1 and backend.stats()["job_ids"]


def test_trex_moves_a_readout_dominated_value_toward_the_exact_one():
    # X on every qubit, then ⟨Z0 Z1 Z2⟩ = -1 exactly; with no two-qubit gates the error is mostly readout
    circuit = Circuit(3).x(0).x(1).x(2).rz(Param(0), 0)
    observable = PauliSum("Z0 Z1 Z2")
    results = {}
    for mitigation in (MitigationConfig("none"), ReadoutMitigationConfig("readout")):
        backend = make_backend("ibm_fake", device="FakeManilaV2", shots=8000, seed_simulator=2, mitigation=mitigation)
        executor = backend.executor(circuit, [observable])
        results[mitigation.name] = _wait(executor.submit(np.zeros((1, executor.num_params)))).values[0, 0]
    assert abs(results["none"] + 1) > 0.05  # readout errors of a few % per qubit are visible
    assert abs(results["readout"] + 1) < abs(results["none"] + 1) / 2


def test_ibm_unreachable_follows_the_fallback_chain(monkeypatch, tmp_path):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    backend = make_backend("ibm", device="ibm_brisbane", shots=100, fallback=("simulator",), state_dir=str(tmp_path))
    objective = backend.objective(CIRCUIT, OBSERVABLE)
    params = np.array([0.3, -0.2, 0.5])
    value, _ = objective.value_and_grad(params)
    assert value == pytest.approx(_exact(CIRCUIT, OBSERVABLE, params), abs=1e-5)  # exact: it ran on the simulator
    (record,) = backend.stats()["fallbacks"]
    assert record["from"] == "ibm" and record["to"] == "simulator" and "QISKIT_IBM_TOKEN" in record["reason"]


_MEMORY_PROBE = """
import resource, sys, time
import numpy as np
from qjax.backends import make_backend
from qjax.ir.circuit import Circuit, Param
from qjax.ir.pauli import PauliSum
from qjax.schemas import SCHEMAS
shots = int(sys.argv[1])
executor = make_backend(
    "ibm_fake", device="FakeManilaV2", shots=shots, seed_simulator=1, mitigation=SCHEMAS["mitigation"]["readout"]("readout")
).executor(Circuit(1).ry(Param(0), 0), [PauliSum("Z0 + 0.5 X0")])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
job = executor.submit(np.full((2, 1), 0.3))
while job.status() not in ("done", "error"):
    time.sleep(0.05)
job.result()
print(executor._groups, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_a_fake_devices_job_holds_no_more_than_the_bound_its_final_shots_are_capped_by():
    """The final evaluation's shots on a fake device are capped so the job's raw shots fit LOCAL_JOB_BYTES; the
    bound per shot is checked here against what a real job grows this process by (2 rows, 2 bases, TREX)."""
    import subprocess
    import sys

    from qjax.backends.runtime import LOCAL_BYTES_PER_SHOT, LOCAL_JOB_BYTES

    shots = 400_000
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(shots)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    groups, grown = (int(v) for v in proc.stdout.split()[-2:])
    assert groups == 2
    # the bound holds (2 rows). ru_maxrss is a high-water mark: where the imports peaked higher than the job (it
    # happens in some environments) the growth reads low, so only the upper bound is asserted
    assert grown <= LOCAL_BYTES_PER_SHOT * 2 * groups * shots, grown

    executor = make_backend("ibm_fake", device="FakeManilaV2", shots=1000).executor(
        Circuit(1).ry(Param(0), 0), [PauliSum("Z0 + 0.5 X0")]
    )
    cap = executor.local_shot_cap()
    assert cap == LOCAL_JOB_BYTES // (LOCAL_BYTES_PER_SHOT * 2 * 2)
    import logging

    class Lines(logging.Handler):  # on qjax's own logger: an earlier CLI run in this process may stop propagation
        def __init__(self):
            super().__init__(logging.WARNING)
            self.lines: list[str] = []

        def emit(self, record):
            self.lines.append(record.getMessage())

    lines = Lines()
    logging.getLogger("qjax").addHandler(lines)
    try:
        executor.set_shots(cap * 4)
        executor.set_shots(cap * 4)  # the loss at the end and the report: one warning line between them
    finally:
        logging.getLogger("qjax").removeHandler(lines)
    assert executor.shots == cap and executor.planned_cost(2)[0] == 2 * cap
    warned = [line for line in lines.lines if "final_precision" in line]
    assert len(warned) == 1 and "2.0x" in warned[0], warned
    executor.set_shots(1000)  # back to the training shots: below the cap, kept
    assert executor.shots == 1000
