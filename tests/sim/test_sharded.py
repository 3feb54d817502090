"""qjax.sim.sharded: one statevector split over D = 2, 4, 8 forced CPU devices.

The device count is fixed when JAX starts (``XLA_FLAGS=--xla_force_host_platform_device_count=8``
before the import), so each check runs in a subprocess. A random circuit holds every table
gate and a Unitary on random wires (so gates, controls and diagonals land on global wires, and
the scheduler swaps); its state is compared with Qiskit's ``Statevector`` (an independent
simulator), and its expectation and gradient with the unsharded ``qjax.compile`` (itself checked
against PennyLane in tests/sim/test_compile.py) for every gradient method.

Tolerances: complex128 1e-12; complex64 1e-6 relative to the observable's coefficient norm
(Σ|c|, which bounds |<H>|: float32 rounding of a few dozen gates and a psum of D partial sums).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp, numpy as np
    import qjax
    from qjax.errors import ConfigError
    from oracles import qiskit_state, random_pauli_terms, random_problem

    assert len(jax.devices()) == 8, jax.devices()
    from qjax.sim import shard_schedule
    default_chunk_min = shard_schedule._CHUNK_MIN
    cases = json.loads(sys.argv[1])
    for n, D, dtype, methods, seed, *chunk_min in cases:
        # the adjoint's slice-by-slice passes run from _CHUNK_MIN amplitudes a slice on; 1 forces them here
        shard_schedule._CHUNK_MIN = chunk_min[0] if chunk_min else default_chunk_min
        dt = jnp.complex128 if dtype == "complex128" else jnp.complex64
        rd = jnp.float64 if dtype == "complex128" else jnp.float32
        rng, ops, circuit, p, x = random_problem(seed, n, extra=4)
        terms = random_pauli_terms(rng, n, 6) + [(0.7, {0: "X"}), (-0.4, {0: "Z", n - 1: "Y"}), (0.3, {})]
        obs = qjax.PauliSum(terms, n)
        norm = sum(abs(c) for c, _ in terms)
        tol = 1e-12 if dtype == "complex128" else 1e-6 * norm
        p, x = jnp.asarray(p, rd), jnp.asarray(x, rd)
        ref = qjax.compile(circuit, [obs, qjax.PauliSum.from_string("Z1")], dtype=dt, gradient="backprop")
        e0, g0 = jax.jit(jax.value_and_grad(lambda p, x: ref.expval(p, x) @ jnp.array([1.0, 0.5], rd)))(p, x)
        for method in methods:
            c = qjax.compile(circuit, [obs, qjax.PauliSum.from_string("Z1")], dtype=dt, gradient=method, mesh=D)
            if method == methods[0]:
                psi = np.asarray(jax.jit(c.state)(p, x))
                want = qiskit_state(n, ops, np.asarray(p, float), np.asarray(x, float))
                err = np.abs(psi - want).max()
                assert err < (1e-12 if dtype == "complex128" else 2e-6), (n, D, dtype, "state", err)
            e1, g1 = jax.jit(jax.value_and_grad(lambda p, x: c.expval(p, x) @ jnp.array([1.0, 0.5], rd)))(p, x)
            assert e1.dtype == rd and g1.shape == g0.shape
            assert abs(float(e1 - e0)) < tol, (n, D, dtype, method, "expval", float(e1 - e0))
            assert float(jnp.abs(g1 - g0).max()) < tol, (n, D, dtype, method, "grad", float(jnp.abs(g1 - g0).max()))
        print("case", n, D, dtype, methods, "ok", flush=True)
    print("OK")
    """
)


def run_cases(cases, timeout=600):
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(cases)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr[-4000:]


def test_sharded_matches_unsharded_on_2_4_8_devices():
    # One gradient method and dtype per device count keeps this to a few XLA compiles; the slow test
    # below runs every combination.
    run_cases(
        [
            [6, 2, "complex128", ["backprop"], 1],
            [6, 4, "complex64", ["adjoint"], 2],
            [6, 8, "complex128", ["parameter_shift", "adjoint"], 3],
            # sliced passes and swaps (chunk wires, in-place updates) in both dtypes
            [7, 2, "complex128", ["adjoint"], 4, 1],
            [8, 4, "complex64", ["adjoint"], 5, 1],
        ]
    )


@pytest.mark.slow
def test_sharded_every_method_dtype_and_device_count():
    methods = ["auto", "backprop", "adjoint", "parameter_shift"]
    cases = [[7, D, dt, methods, 10 + D] for D in (2, 4, 8) for dt in ("complex64", "complex128")]
    run_cases(cases, timeout=3000)
