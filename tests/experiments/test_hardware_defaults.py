"""Hardware defaults (problem.taper, mitigation, backend.final_precision: auto) and their refusals."""

import dataclasses
import json

import pytest

from qjax.cli.training import changed_defaults
from qjax.config import config_hash, validate
from qjax.errors import ConfigError
from qjax.experiments.build import build_experiment
from qjax.problems import chemistry


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _rc(compose, *overrides, experiment="vqe"):
    return validate(compose(f"+experiment={experiment}", *overrides))


@pytest.mark.parametrize(
    "overrides, taper, mitigation, precision",
    [
        ((), False, "none", None),
        (("backend=remote",), False, "none", None),  # remote runs on its target: the simulator
        (("backend=ibm_fake",), True, "readout_rem", 0.0003),
        (("backend=remote", "backend.target=ibm_fake"), True, "readout_rem", 0.0003),
        (("backend=noisy_simulator", "backend.device=FakeManilaV2"), True, "readout_rem", None),  # exact twin
        (("backend=noisy_simulator", "backend.shots=1000"), True, "none", 0.0003),  # JAX mitigation is exact-only
        (("backend=ibm_fake", "mitigation=none", "problem.taper=false"), False, "none", 0.0003),  # explicit wins
        (("backend=ibm_fake", "ansatz=hea"), True, "none", 0.0003),  # no reference state for REM: as before
        (("backend=ibm_fake", "problem=lih"), True, "readout_rem", 0.0003),
    ],
)
def test_auto_resolves_by_the_backend_that_runs_the_circuits(compose, overrides, taper, mitigation, precision):
    rc = _rc(compose, *overrides)
    assert (rc.problem.taper, rc.mitigation.name, rc.backend.final_precision) == (taper, mitigation, precision)


def test_qaoa_on_hardware_keeps_its_old_config_and_best_drops_rem_without_reference(compose):
    rc = _rc(compose, "backend=ibm_fake", experiment="qaoa")
    assert (rc.problem.taper, rc.mitigation.name, rc.backend.final_precision) == (False, "none", None)
    explicit = ("mitigation=none", "problem.taper=false", "backend.final_precision=null")
    assert config_hash(rc) == config_hash(_rc(compose, "backend=ibm_fake", *explicit, experiment="qaoa"))
    assert _rc(compose, "backend=ibm_fake", "mitigation=best", experiment="qaoa").mitigation.rem is False


def test_simulator_runs_keep_their_hash(compose):
    """auto resolves to the old behaviour off hardware, which config_baseline.ADDED holds: same hash."""
    explicit = ("mitigation=none", "problem.taper=false", "backend.final_precision=null")
    assert config_hash(_rc(compose)) == config_hash(_rc(compose, *explicit))
    assert config_hash(_rc(compose, "backend=remote")) == config_hash(_rc(compose, "backend=remote", *explicit))
    assert config_hash(_rc(compose, "backend=ibm_fake")) != config_hash(_rc(compose, "backend=ibm_fake", *explicit))


def test_changed_defaults_name_the_values_and_the_way_back(compose):
    rc = _rc(compose, "backend=ibm_fake")
    old = _rc(compose, "backend=ibm_fake", "mitigation=none", "problem.taper=false", "backend.final_precision=null")
    message = changed_defaults(rc)[config_hash(old)]
    assert (
        "problem.taper=true, ansatz.form=real_amplitudes, mitigation=readout_rem, backend.final_precision=0.0003"
        in message
    )
    assert "add problem.taper=false ansatz.form=excitations mitigation=none backend.final_precision=null" in message
    only_taper = dataclasses.replace(rc, problem=dataclasses.replace(rc.problem, taper=False))
    assert changed_defaults(rc)[config_hash(only_taper)].endswith("add problem.taper=false")


@pytest.mark.parametrize(
    "overrides, experiment, words",
    [
        (("problem=tfim", "ansatz=hea", "problem.taper=true"), "vqe", "problem.taper=true"),
        (("problem=maxcut", "problem.taper=true"), "qaoa", "problem.taper=true"),
        (("problem=moons", "problem.taper=true"), "classifier", "+experiment=classifier trains on a data set"),
        (("backend=ibm_fake", "backend.final_precision=0"), "vqe", "backend.final_precision=0 is invalid"),
        (("backend=ibm_fake", "backend.final_precision=-1e-3"), "vqe", "backend.final_precision=-0.001"),
        (("backend=ibm_fake", "mitigation=rem"), "qaoa", "no classically known reference state"),
        (("backend=ibm_fake", "mitigation=readout_rem", "ansatz=hea"), "vqe", "ansatz=hea has no parameters"),
    ],
)
def test_bad_inputs_fail_in_validation(compose, overrides, experiment, words):
    with pytest.raises(ConfigError, match=None) as info:
        _rc(compose, *overrides, experiment=experiment)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_tapered_experiment_has_reference_and_manifest_facts(compose):
    experiment = build_experiment(_rc(compose, "backend=ibm_fake"))
    assert experiment.circuit.num_wires == 1 and experiment.circuit.num_params == 1
    facts = experiment.problem.tapering.describe()
    assert (facts["qubits_before"], facts["qubits_after"], facts["sector"]) == (4, 1, [1, -1, -1])
    full = chemistry.h2(0.7414)  # Hartree–Fock <1100|H|1100> of the full Hamiltonian, from its dense matrix
    hf_index = int("1100", 2)  # wire 0 is the most significant bit
    hf = full.observable.to_matrix(sparse=False, num_qubits=4)[hf_index, hf_index].real
    assert experiment.reference.energy == pytest.approx(float(hf), abs=1e-10)
    assert experiment.problem.exact_energy == pytest.approx(-1.1372702, abs=1e-6)  # REFERENCES.md, full problem


def test_noisy_twin_default_run_records_tapering_and_rem(train_in_process, tmp_path):
    result = train_in_process(
        "+experiment=vqe", "backend=noisy_simulator", "backend.device=FakeManilaV2", "trainer.steps=2"
    )
    manifest = json.loads(next(tmp_path.rglob("manifest.json")).read_text())
    assert manifest["tapering"]["qubits_after"] == 1 and manifest["mitigation"]["name"] == "readout_rem"
    assert manifest["reference"]["state"] == "hartree_fock"
    assert {"energy_unmitigated", "rem_shift"} <= set(result)


@pytest.mark.slow
def test_h2_default_run_on_ibm_fake_reaches_chemical_accuracy(train_in_process):
    """The issue's command with defaults only: tapered H2, readout_rem, final_precision 0.3 mHa (minutes)."""
    result = train_in_process("+experiment=vqe", "backend=ibm_fake")
    assert abs(result["error"]) <= 1.6e-3  # chemical accuracy; Hartree–Fock is 20.6 mHa off
    assert result["energy_std"] <= 0.0003 * 1.5  # the final job's shots were sized for final_precision
    assert abs(result["energy_unmitigated"] - result["exact_energy"]) > 10 * abs(result["error"])
