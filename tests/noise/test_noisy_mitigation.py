"""Mitigation on backend=noisy_simulator, through the trainer: the mitigated energy is closer to the
exact ground energy than the same final parameters without mitigation, and its gradient is jax.grad."""

import json

import pytest
from hydra import compose, initialize_config_module

from qjax.errors import QjaxError
from qjax.train import run

NOISY = ["backend=noisy_simulator", "backend.noise.depolarizing_1q=0.002", "backend.noise.depolarizing_2q=0.03",
         "backend.noise.readout_error=0.03"]


def _run(tmp_path, monkeypatch, *overrides):
    monkeypatch.chdir(tmp_path)
    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+experiment=vqe", *overrides])
    return run(cfg)


@pytest.mark.parametrize("mitigation", ["readout", "zne", "best"])
def test_mitigated_energy_beats_the_unmitigated_one(tmp_path, monkeypatch, mitigation):
    result = _run(tmp_path, monkeypatch, *NOISY, f"mitigation={mitigation}", "trainer.steps=30")
    assert abs(result["error"]) < abs(result["energy_unmitigated"] - result["exact_energy"])
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["energy_unmitigated"] == pytest.approx(result["energy_unmitigated"])
    assert result["num_jobs"] == 0  # exact density-matrix expectations, no jobs


@pytest.mark.slow
def test_device_twin_with_zne_beats_unmitigated(tmp_path, monkeypatch):
    """The issue's command: FakeManilaV2's calibration as the noise model, mitigation=zne."""
    result = _run(tmp_path, monkeypatch, "backend=noisy_simulator", "backend.device=FakeManilaV2", "mitigation=zne")
    assert abs(result["error"]) < abs(result["energy_unmitigated"] - result["exact_energy"])


@pytest.mark.parametrize("overrides, message", [
    (["mitigation=dd"], r"mitigation=dd is an IBM runtime technique"),
    (["mitigation=zne", "mitigation.zne.amplifier=pea"], r"amplifier=pea is IBM-only"),
    (["mitigation=zne", "backend.shots=100"], r"set backend.shots=null"),
    (["mitigation=zne", "gradient=parameter_shift"], r"use gradient=auto"),
])
def test_mitigation_the_noisy_simulator_cannot_honour_is_refused(tmp_path, monkeypatch, overrides, message):
    with pytest.raises(QjaxError, match=message):
        _run(tmp_path, monkeypatch, *NOISY, *overrides, "trainer.steps=2")
