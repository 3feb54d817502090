"""Mitigation on backend=noisy_simulator, through the trainer: the mitigated energy is closer to the
exact ground energy than the same final parameters without mitigation, and its gradient is jax.grad."""

import json

import pytest

from qjax.errors import QjaxError

NOISY = [
    "backend=noisy_simulator",
    "backend.noise.depolarizing_1q=0.002",
    "backend.noise.depolarizing_2q=0.03",
    "backend.noise.readout_error=0.03",
    # the 4-qubit UCC circuit: tapered H2 has one qubit and no two-qubit gate for ZNE's gate folding to amplify
    "problem.taper=false",
]


@pytest.mark.parametrize("mitigation", ["readout", "zne", "best"])
def test_mitigated_energy_beats_the_unmitigated_one(tmp_path, mitigation, train_in_process):
    result = train_in_process("+experiment=vqe", *NOISY, f"mitigation={mitigation}", "trainer.steps=30")
    assert abs(result["error"]) < abs(result["energy_unmitigated"] - result["exact_energy"])
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["energy_unmitigated"] == pytest.approx(result["energy_unmitigated"])
    assert result["num_jobs"] == 0  # exact density-matrix expectations, no jobs


@pytest.mark.slow
def test_device_twin_with_zne_beats_unmitigated(tmp_path, train_in_process):
    """The issue's command: FakeManilaV2's calibration as the noise model, mitigation=zne."""
    result = train_in_process(
        "+experiment=vqe",
        "backend=noisy_simulator",
        "backend.device=FakeManilaV2",
        "mitigation=zne",
        "problem.taper=false",
    )
    assert abs(result["error"]) < abs(result["energy_unmitigated"] - result["exact_energy"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["mitigation=dd"], r"mitigation=dd is an IBM runtime technique"),
        (["mitigation=zne", "mitigation.zne.amplifier=pea"], r"amplifier=pea is IBM-only"),
        (["mitigation=zne", "backend.shots=100"], r"set backend.shots=null"),
        (["mitigation=zne", "gradient=parameter_shift"], r"use gradient=auto"),
    ],
)
def test_mitigation_the_noisy_simulator_cannot_honour_is_refused(tmp_path, overrides, message, train_in_process):
    with pytest.raises(QjaxError, match=message):
        train_in_process("+experiment=vqe", *NOISY, *overrides, "trainer.steps=2")
