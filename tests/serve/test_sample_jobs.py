"""``kind: samples`` batches: measurements of every wire on a noisy target, and what the service refuses.

References: a hand-computed distribution (an X-like rotation read through symmetric readout flips of a
known probability), and the service's own limits, named in each refusal.
"""

import numpy as np
import pytest
from fastapi.testclient import TestClient

import qjax
from qjax.serve.app import Settings, create_app
from qjax.serve.auth import KeyRing
from qjax.wire import Limits, encode_circuit, encode_observable

KEY = "samples-" + "k" * 24
H = {"Authorization": f"Bearer {KEY}"}
# RX(θ0) on wire 0, RY(θ1) on wire 1; at (π, 0) the ideal state is |10⟩ (qjax index 2)
CIRCUIT = qjax.Circuit(2).rx(qjax.Param(0), 0).ry(qjax.Param(1), 1)
FLIP = 0.2


def samples_body(**overrides):
    doc = {
        "kind": "samples",
        "target": "noisy_simulator",
        "circuit": encode_circuit(CIRCUIT),
        "params": [[np.pi, 0.0]],
        "shots": 20_000,
        "seed": 5,
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        db_url=f"sqlite:///{tmp_path}/jobs.db", workers=1, limits=Limits(max_qubits=22, max_shots=50_000)
    )
    with TestClient(create_app(settings, KeyRing.from_keys([KEY]), run_workers=True)) as c:
        yield c


def test_a_samples_job_returns_the_counts_of_its_noisy_target(client, monkeypatch):
    # the service's noisy_simulator without a device: the settings' default noise, here readout flips of FLIP
    from qjax.serve import targets

    options = targets.Targets._options
    monkeypatch.setattr(
        targets.Targets, "_options", lambda self, batch: options(self, batch) | {"noise": {"readout_error": FLIP}}
    )
    submitted = client.post("/v1/jobs", json=samples_body(), headers=H)
    assert submitted.status_code == 202, submitted.text
    doc = client.get(f"/v1/jobs/{submitted.json()['id']}?wait=30", headers=H).json()
    assert doc["status"] == "done", doc
    result = doc["result"]
    assert result["kind"] == "samples" and result["sampled_on"] == "noisy_simulator" and result["num_wires"] == 2
    counts = np.zeros(4)
    for outcome, count in result["counts"]:
        counts[outcome] = count
    assert counts.sum() == 20_000 == result["shots"] and "values" not in result
    # each wire flips independently: P(10) = 0.8², P(00) = P(11) = 0.2·0.8, P(01) = 0.2²
    expected = np.array([FLIP * (1 - FLIP), FLIP**2, (1 - FLIP) ** 2, FLIP * (1 - FLIP)])
    sigma = np.sqrt(expected * (1 - expected) / 20_000)
    np.testing.assert_array_less(np.abs(counts / 20_000 - expected), 5 * sigma)


@pytest.mark.parametrize(
    "overrides, status, field, words",
    [
        ({"shots": 60_000}, 422, "shots", "must be between 1 and 50000, got 60000"),
        ({"shots": None}, 422, "shots", "a samples batch needs shots"),
        ({"params": [[0.1, 0.2], [0.3, 0.4]]}, 422, "params", "a samples batch takes one parameter set, got 2"),
        ({"observables": [encode_observable(qjax.PauliSum("Z0"))]}, 422, "observables", "leave observables out"),
        ({"mitigation": "readout"}, 422, "mitigation", "samples are raw measurements"),
        ({"target": "simulator"}, 422, "kind", "target simulator has no noise"),
        ({"kind": "histogram"}, 422, "kind", "must be one of expectations, samples"),
        (
            {"circuit": encode_circuit(qjax.Circuit(21).rx(qjax.Param(0), 0).ry(qjax.Param(1), 1))},
            413,
            "circuit.num_wires",
            "this service samples up to 20 wires, got 21",
        ),
    ],
)
def test_samples_requests_the_service_cannot_take_are_refused_with_one_message(client, overrides, status, field, words):
    response = client.post("/v1/jobs", json=samples_body(**overrides), headers=H)
    assert response.status_code == status, response.text
    doc = response.json()
    assert words in doc["error"] and doc.get("field") == field and "Traceback" not in response.text
