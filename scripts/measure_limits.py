"""Measure what a circuit's size costs before its first step: the basis of ``backend.max_operations``.

For a hardware-efficient ansatz on ``--wires`` wires (RY, RZ + CNOT chain: ``3n - 1`` gates a
layer) and growing depth, prints the gate count and the seconds spent

- building the circuit (Python),
- on the simulator: ``qjax.compile`` + ``jit(value_and_grad)`` + the first call (a cold
  compile: JAX's persistent cache is not enabled here),
- for ``backend=ibm_fake``: transpiling once for FakeManilaV2 at optimization level 1, as
  :class:`qjax.backends.runtime.RuntimeExecutor` does (``--transpile``).

    python scripts/measure_limits.py --wires 6 --layers 100 1000 3000 6000 --transpile

Run it by hand; no test asserts its timings.
"""

from __future__ import annotations

import argparse
import time


def _ising(n: int):
    from qjax.ir.pauli import PauliSum

    return PauliSum([(-1.0, {i: "Z", i + 1: "Z"}) for i in range(n - 1)] + [(-0.5, {i: "X"}) for i in range(n)])


def measure(wires: int, layers: int, transpile: bool) -> dict:
    """Seconds to build, compile + first step, and (optionally) transpile one ansatz."""
    import jax
    import jax.numpy as jnp

    from qjax import templates
    from qjax.sim.compile import compile as compile_circuit

    t0 = time.perf_counter()
    circuit = templates.hardware_efficient(wires, layers)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = compile_circuit(circuit, _ising(wires))
    value, grad = jax.jit(jax.value_and_grad(compiled.expval))(jnp.full(circuit.num_params, 0.1, jnp.float32))
    jax.block_until_ready(grad)
    first_step = time.perf_counter() - t0
    row = {"layers": layers, "operations": len(circuit.operations), "build_s": built, "compile_and_step_s": first_step}
    if transpile:
        from qiskit.transpiler import generate_preset_pass_manager
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        from qjax.backends.executor import angle_circuit
        from qjax.interop.qiskit import to_qiskit

        t0 = time.perf_counter()
        logical = to_qiskit(angle_circuit(circuit))
        generate_preset_pass_manager(optimization_level=1, backend=FakeManilaV2(), seed_transpiler=0).run(logical)
        row["transpile_s"] = time.perf_counter() - t0
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wires", type=int, default=6)
    parser.add_argument("--layers", type=int, nargs="+", default=[100, 1000, 3000, 6000])
    parser.add_argument("--transpile", action="store_true", help="also time ibm_fake's transpilation (5 wires max)")
    args = parser.parse_args()
    for layers in args.layers:
        row = measure(args.wires, layers, args.transpile)
        per_op = 1e3 * row["compile_and_step_s"] / row["operations"]
        extra = f", transpile {row['transpile_s']:.1f} s" if "transpile_s" in row else ""
        print(
            f"layers {layers}: {row['operations']} operations, build {row['build_s']:.2f} s, compile + first step "
            f"{row['compile_and_step_s']:.1f} s ({per_op:.3f} ms/operation){extra}",
            flush=True,
        )


if __name__ == "__main__":
    main()
