"""Two-qubit gates and depth of the hardware-efficient ansatz after transpiling, by entangler.

    python scripts/device_entangler_counts.py [--layers 2] [--devices FakeManilaV2 FakeTorontoV2]

For each device and width n: ``ansatz.entangler=chain`` and ``ring`` transpiled the way qjax
transpiles a run (preset pass manager, optimization_level 1, the transpiler's own layout), against
``ansatz.entangler=device`` (calibration-chosen qubits, their couplers, that initial layout).
A routed SWAP shows as 3 extra two-qubit gates and a non-identity routing permutation. The last
column sums the calibrated readout errors of the qubits used and the gate errors of the couplers used.
Prints a Markdown table (the one in docs/hardware-workflow.md).
"""

from __future__ import annotations

import argparse

from qiskit_ibm_runtime import fake_provider

from qjax.backends.layout import choose_layout, coupler_costs, qubit_costs
from qjax.backends.runtime import RuntimeExecutor
from qjax.ir.ansatze import hardware_efficient
from qjax.ir.pauli import PauliSum
from qjax.schemas import MitigationConfig


def transpiled(device, n: int, layers: int, entangler: str):
    layout = choose_layout(device, n) if entangler == "device" else None
    circuit = hardware_efficient(n, layers, entangler=entangler, pairs=None if layout is None else layout.pairs)
    obs = PauliSum([(1.0, tuple((w, "Z") for w in range(n)))], n)
    ex = RuntimeExecutor(
        "ibm_fake",
        device,
        circuit,
        [obs],
        shots=1,
        mitigation=MitigationConfig("none"),
        optimization_level=1,
        seed=0,
        persistent_ids=False,
        initial_layout=None if layout is None else layout.qubits,
    )
    isa = ex.isa
    logical = sum(1 for op in circuit.operations if len(op.wires) == 2)
    two = sum(1 for inst in isa.data if inst.operation.num_qubits == 2)
    routed = isa.layout.routing_permutation() != list(range(device.num_qubits))
    readout, couplers = qubit_costs(device), coupler_costs(device)
    used = isa.layout.final_index_layout()[:n]
    pairs = {
        frozenset(isa.find_bit(q).index for q in inst.qubits) for inst in isa.data if inst.operation.num_qubits == 2
    }
    error = sum(readout[q] for q in used) + sum(couplers[p] for p in pairs)
    return logical, two, isa.depth(), routed, error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--devices", nargs="+", default=["FakeManilaV2", "FakeTorontoV2"])
    parser.add_argument("--widths", nargs="+", type=int, default=[3, 4, 5])
    args = parser.parse_args()
    print(f"HEA, {args.layers} layers of RY RZ + entangler, optimization_level 1\n")
    print(
        "| device | n | entangler | CNOTs in the ansatz | two-qubit gates transpiled | depth | routed (SWAPs) "
        "| Σ readout + coupler errors used |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.devices:
        device = getattr(fake_provider, name)()
        for n in (w for w in args.widths if w <= device.num_qubits):
            for entangler in ("chain", "ring", "device"):
                logical, two, depth, routed, error = transpiled(device, n, args.layers, entangler)
                print(
                    f"| {name} | {n} | {entangler} | {logical} | {two} | {depth} | {'yes' if routed else 'no'} "
                    f"| {error:.4f} |"
                )


if __name__ == "__main__":
    main()
