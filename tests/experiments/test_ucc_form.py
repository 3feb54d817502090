"""ansatz.form (UCC's circuit: excitations or the shallow real_amplitudes) and how `auto` resolves it."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from qjax.cli.training import changed_defaults
from qjax.config import config_hash, validate
from qjax.errors import ConfigError
from qjax.experiments.build import build_experiment
from qjax.problems import chemistry, tapering
from qjax.sim.compile import compile as compile_circuit


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _rc(compose, *overrides):
    return validate(compose("+experiment=vqe", *overrides))


@pytest.mark.parametrize(
    "overrides, form",
    [
        ((), "excitations"),  # the exact simulator: as before
        (("problem=lih",), "excitations"),
        (("backend=remote",), "excitations"),  # remote to the simulator behaves like the simulator
        (("backend=ibm_fake", "problem=lih"), "real_amplitudes"),
        (("backend=ibm_fake",), "real_amplitudes"),  # H2: one wire, the same single RY either way
        (("backend=noisy_simulator", "backend.device=FakeManilaV2", "problem=lih"), "real_amplitudes"),
        (("backend=remote", "backend.target=ibm_fake", "problem=lih"), "real_amplitudes"),
        (("backend=ibm_fake", "problem=lih", "problem.taper=false"), "excitations"),  # untapered: excitations
        (("backend=ibm_fake", "problem=lih", "ansatz.form=excitations"), "excitations"),  # explicit wins
    ],
)
def test_auto_form_resolves_by_backend_and_tapering(compose, overrides, form):
    assert _rc(compose, *overrides).ansatz.form == form


def test_simulator_runs_keep_their_hash(compose):
    """auto resolves to excitations off hardware, the value config_baseline.ADDED holds: same hash as before."""
    for overrides in ((), ("problem=lih",), ("backend=remote",)):
        plain = config_hash(_rc(compose, *overrides))
        assert plain == config_hash(_rc(compose, *overrides, "ansatz.form=excitations", "ansatz.reps=2"))
        assert plain != config_hash(_rc(compose, *overrides, "ansatz.form=excitations", "ansatz.reps=3"))


def test_real_amplitudes_without_tapering_is_refused_in_one_line(compose):
    with pytest.raises(ConfigError) as info:
        _rc(compose, "problem=lih", "ansatz.form=real_amplitudes")
    assert "problem.taper=true" in str(info.value) and "\n" not in str(info.value)


def test_changed_default_names_the_form_that_resumes_an_old_run(compose):
    rc = _rc(compose, "backend=ibm_fake", "problem=lih")
    before = dataclasses.replace(rc, ansatz=dataclasses.replace(rc.ansatz, form="excitations"))
    assert config_hash(before) == config_hash(
        _rc(compose, "backend=ibm_fake", "problem=lih", "ansatz.form=excitations")
    )
    assert changed_defaults(rc)[config_hash(before)].endswith("add ansatz.form=excitations")


def test_lih_on_hardware_builds_4_cnots_starting_at_hartree_fock(compose):
    experiment = build_experiment(_rc(compose, "backend=ibm_fake", "problem=lih", "problem.bond_length=3.0"))
    circuit = experiment.circuit
    assert circuit.num_wires == 3 and circuit.num_params == 9
    assert sum(op.gate == "CNOT" for op in circuit.operations) == 4  # the tapered excitations: 36
    # REM's reference: parameters 0, whose energy is the full problem's Hartree–Fock <110000|H|110000>
    full = chemistry.lih(3.0)
    index = int("110000", 2)  # wire 0 is the most significant bit
    hf = float(np.asarray(full.observable.to_matrix(sparse=False, num_qubits=6))[index, index].real)
    assert experiment.reference.energy == pytest.approx(hf, abs=1e-8)
    expval = compile_circuit(circuit, experiment.problem.observable).expval
    assert float(expval(jnp.zeros(9, jnp.float32))) == pytest.approx(hf, abs=2e-5)  # complex64


def test_h2_on_hardware_keeps_its_circuit(compose):
    """H2 tapers to one wire: real_amplitudes there is the tapered UCC's single RY on the Hartree–Fock bit."""
    experiment = build_experiment(_rc(compose, "backend=ibm_fake"))
    tapered_ucc = tapering.tapered_ucc(experiment.problem)
    theta = jnp.asarray([0.37], jnp.float32)
    got = np.asarray(compile_circuit(experiment.circuit).state(theta))
    assert np.allclose(got, np.asarray(compile_circuit(tapered_ucc).state(theta)), atol=1e-7)
    assert [op.gate for op in experiment.circuit.operations] == ["X", "RY"]


@pytest.mark.slow
def test_lih_default_run_on_the_noisy_twin_beats_hartree_fock_3x(train_in_process):
    """The issue's LiH case (3.0 Å) with defaults only on the FakeManilaV2 twin (about 15 s)."""
    result = train_in_process(
        "+experiment=vqe", "problem=lih", "problem.bond_length=3.0", "backend=noisy_simulator",
        "backend.device=FakeManilaV2",
    )  # fmt: skip
    full = chemistry.lih(3.0)
    matrix = np.asarray(full.observable.to_matrix(sparse=False, num_qubits=6))
    keep = [i for i in range(64) if bin(i).count("1") == 2]  # the 2-electron sector, diagonalised here
    exact = float(np.linalg.eigvalsh(matrix[np.ix_(keep, keep)]).min())
    hartree_fock = float(matrix[int("110000", 2), int("110000", 2)].real)
    error = abs(result["energy"] - exact)
    assert error <= 5e-3 and error <= (hartree_fock - exact) / 3
    assert result["two_qubit_gates"] <= 6  # the tapered excitations transpile to 40
