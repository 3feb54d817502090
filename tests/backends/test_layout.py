"""ansatz.entangler=device: calibration-chosen qubits, couplers only, zero SWAPs after transpiling.

References: the device's own target (coupling map, readout and two-qubit gate errors, read here
independently of qjax.backends.layout), brute force over the couplers of a 2-qubit choice, and
Qiskit's transpiler (routing permutation and two-qubit gate count of the transpiled circuit).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("qiskit_ibm_runtime")

from qiskit_ibm_runtime.fake_provider import FakeManilaV2, FakeTorontoV2  # noqa: E402

from qjax.backends.layout import choose_layout  # noqa: E402
from qjax.backends.runtime import RuntimeExecutor  # noqa: E402
from qjax.config import validate  # noqa: E402
from qjax.errors import ConfigError  # noqa: E402
from qjax.ir.ansatze import hardware_efficient  # noqa: E402
from qjax.ir.pauli import PauliSum  # noqa: E402
from qjax.schemas import MitigationConfig  # noqa: E402


def _errors(device):
    """Readout error per qubit and the lowest two-qubit gate error per coupler, straight from the target."""
    target = device.target
    readout = {q: target["measure"][(q,)].error for q in range(device.num_qubits)}
    coupler: dict = {}
    for name in target.operation_names:
        if target.operation_from_name(name).num_qubits == 2:
            for (a, b), props in target[name].items():
                key = frozenset((a, b))
                coupler[key] = min(coupler.get(key, np.inf), props.error)
    return readout, coupler


def _transpiled(device, layout, layers: int = 2, entangler: str = "device"):
    n = len(layout.qubits)
    pairs = layout.pairs if entangler == "device" else None
    circuit = hardware_efficient(n, layers, entangler=entangler, pairs=pairs)
    observable = PauliSum([(1.0, tuple((w, "Z") for w in range(n)))], n)
    return RuntimeExecutor(
        "ibm_fake",
        device,
        circuit,
        [observable],
        shots=100,
        mitigation=MitigationConfig("none"),
        optimization_level=1,
        seed=0,
        persistent_ids=False,
        initial_layout=layout.qubits,
    )


@pytest.mark.parametrize("device_class, n", [(FakeManilaV2, 3), (FakeManilaV2, 5), (FakeTorontoV2, 6)])
def test_device_entangler_transpiles_without_swaps(device_class, n):
    device = device_class()
    layout = choose_layout(device, n)
    edges = {frozenset(e) for e in device.coupling_map.get_edges()}
    assert len(set(layout.qubits)) == n
    assert all(frozenset((layout.qubits[a], layout.qubits[b])) in edges for a, b in layout.pairs)
    assert len(layout.pairs) == n - 1  # a spanning tree: every qubit entangled, nothing more
    isa = _transpiled(device, layout).isa
    # no SWAP: the qubits end where they started, on the chosen qubits, and no CNOT was added by routing
    assert isa.layout.routing_permutation() == list(range(device.num_qubits))
    assert isa.layout.initial_index_layout()[:n] == list(layout.qubits)
    assert sum(1 for inst in isa.data if inst.operation.num_qubits == 2) == 2 * (n - 1)
    assert {inst.operation.name for inst in isa.data} <= set(device.target.operation_names) | {"barrier"}


def test_a_ring_on_a_line_needs_swaps_so_the_check_above_can_fail():
    device = FakeManilaV2()  # 5 qubits on a line: a 5-ring cannot be placed without routing
    layout = choose_layout(device, 5)
    isa = _transpiled(device, layout, layers=1, entangler="ring").isa
    moved = isa.layout.routing_permutation() != list(range(device.num_qubits))
    assert moved or sum(1 for inst in isa.data if inst.operation.num_qubits == 2) > 5


def test_layout_choice_is_the_cheapest_coupler_and_its_cost_is_the_calibration_sum():
    for device in (FakeManilaV2(), FakeTorontoV2()):
        readout, coupler = _errors(device)
        best = min(readout[a] + readout[b] + err for pair, err in coupler.items() for a, b in [tuple(pair)])
        layout = choose_layout(device, 2)
        a, b = layout.qubits
        assert layout.cost == pytest.approx(best, rel=1e-12)
        assert readout[a] + readout[b] + coupler[frozenset((a, b))] == pytest.approx(best, rel=1e-12)
        wider = choose_layout(device, 4)  # the reported cost is the calibration sum of what was chosen
        total = sum(readout[q] for q in wider.qubits)
        total += sum(coupler[frozenset((wider.qubits[i], wider.qubits[j]))] for i, j in wider.pairs)
        assert wider.cost == pytest.approx(total, rel=1e-12)
        one = choose_layout(device, 1)
        assert readout[one.qubits[0]] == min(readout.values()) and one.pairs == ()


def test_layout_refuses_more_qubits_than_the_device_has():
    from qjax.errors import BackendError

    with pytest.raises(BackendError, match="has 5"):
        choose_layout(FakeManilaV2(), 6)


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["backend=simulator"], "backend=simulator has no coupling map"),
        (["backend=noisy_simulator"], "without backend.device"),
        (["backend=remote"], "backend=remote"),
    ],
)
def test_device_entangler_without_coupling_map_is_one_clear_line(compose, overrides, words):
    cfg = compose("+experiment=vqe", "problem=tfim", "problem.n=3", "ansatz.entangler=device", *overrides)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    message = str(info.value)
    assert words in message and "ansatz.entangler=chain" in message and "\n" not in message


def test_device_entangler_run_records_qubits_and_two_qubit_gates(train_in_process, tmp_path):
    """tfim on 3 qubits of FakeManilaV2, 1 step: the ansatz runs on the chosen qubits with 2·(n-1) CX."""
    import json

    result = train_in_process(
        "+experiment=vqe",
        "problem=tfim",
        "problem.n=3",
        "ansatz.entangler=device",
        "ansatz.layers=2",
        "backend=ibm_fake",
        "backend.shots=64",
        "trainer.steps=1",
        f"checkpoint.root={tmp_path}/ck",
    )
    assert result["two_qubit_gates"] == 4
    manifest = json.loads(next(tmp_path.rglob("manifest.json")).read_text())
    choice = manifest["backend"]["layout_choice"]
    expected = choose_layout(FakeManilaV2(), 3)
    assert choice["qubits"] == list(expected.qubits) and "readout" in choice["reason"]
    assert manifest["circuit"]["transpiled"]["layout"] == list(expected.qubits)
    assert all(len(p) == 2 for p in choice["couplers"])
    assert list(itertools.chain(*choice["couplers"])) and set(itertools.chain(*choice["couplers"])) <= set(
        expected.qubits
    )


@pytest.mark.parametrize(
    "overrides, words",
    [
        (["problem=tfim", "ansatz.entangler=device"], "backend=simulator has no coupling map"),
        (["backend=ibm_fake", "backend.execution_mode=sometimes"], "backend.execution_mode='sometimes' is invalid"),
    ],
)
def test_cli_refuses_device_entangler_and_unknown_mode_in_one_line(cli, tmp_path, overrides, words):
    proc = cli(tmp_path, "+experiment=vqe", *overrides, "hydra.run.dir=run")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert not (tmp_path / "checkpoints").exists()  # refused before anything ran
