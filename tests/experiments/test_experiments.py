"""Every config file composes and every experiment runs: each (group, option) in
``conf/`` trains for two steps in-process through :func:`qjax.train.run`, and the
run directory holds what DESIGN's result schema promises."""

import json
import math

import pytest
from config_files import NEEDS_ACCOUNT, NEEDS_SERVICE, config_files, overrides_for

from qjax.train import run


@pytest.mark.parametrize(
    "overrides", [overrides_for(*gc) for gc in config_files() if gc not in NEEDS_ACCOUNT | NEEDS_SERVICE], ids=" ".join
)
def test_each_config_trains_two_steps(tmp_path, overrides, train_in_process):
    result = train_in_process(*overrides, "trainer.steps=2")
    assert result["steps"] == 2
    assert math.isfinite(result["energy"])
    if result["experiment"] == "classifier":  # a cross-entropy, not an energy: no variational bound to check
        assert result["exact_energy"] is None
        assert all(0 <= result[k] <= 1 for k in ("train_accuracy", "test_accuracy", "baseline_accuracy"))
    elif result["backend"] in ("simulator", "noisy_simulator"):
        # exact expectations (of a pure or a mixed state) obey the variational bound; sampled ones need not
        assert result["energy"] >= result["exact_energy"] - 1e-5
    else:
        # one job per step + the final evaluation, which also gives the unmitigated value where the job's raw
        # shots hold it (TREX's raw reading, ZNE's noise factor 1); dd and twirling change the circuits, so their
        # unmitigated value is one more job. The mitigation that ran (auto resolves by the backend)
        mitigation = json.loads((tmp_path / "manifest.json").read_text())["mitigation"]["name"]
        extra = mitigation in ("dd", "twirling")
        assert result["num_jobs"] == 2 + 1 + extra
        assert ("energy_unmitigated" in result) == (mitigation != "none")
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["steps"] == 2 and len(on_disk["final_params"]) > 0
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [0, 1]


@pytest.mark.parametrize("group, option", sorted(NEEDS_ACCOUNT))
def test_configs_that_need_an_account_say_so_without_one(tmp_path, monkeypatch, group, option, compose):
    from qjax.errors import BackendError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no saved Qiskit account
    with pytest.raises(BackendError, match="QISKIT_IBM_TOKEN"):
        run(compose(*overrides_for(group, option), "trainer.steps=2"))
