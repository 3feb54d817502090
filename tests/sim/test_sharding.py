"""qjax.sim.sharding on two CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=2).

The device count is fixed when JAX starts, so the check runs in a subprocess; it
compares the sharded batch with the plain single-device vmap of the same function
(the per-example numbers themselves are checked against PennyLane in test_sim.py).
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    import qjax, qjax.sim.sharding
    assert len(jax.devices()) == 2, jax.devices()
    n = 4
    circuit = qjax.ir.ansatze.hardware_efficient(n, 2, rotations=("RY", "RZ"), entangler="chain")
    obs = qjax.PauliSum([(1.0, {0: "Z", 1: "Z"}), (0.5, {2: "X"}), (-0.3, {3: "Y"})], n)
    c = qjax.compile(circuit, obs)
    params = jnp.asarray(np.random.default_rng(0).uniform(0, 6, (5, circuit.num_params)), jnp.float32)
    f = qjax.sim.sharding.batched(jax.value_and_grad(c.expval))
    e, g = f(params)  # 5 rows: padded to 6 for 2 devices
    e_ref, g_ref = jax.jit(jax.vmap(jax.value_and_grad(c.expval)))(params)
    assert e.shape == (5,) and g.shape == (5, circuit.num_params)
    np.testing.assert_allclose(e, e_ref, atol=1e-6)  # same float32 kernels, different devices
    np.testing.assert_allclose(g, g_ref, atol=1e-6)
    even = qjax.sim.sharding.shard_batch(params[:4])
    assert len(even.sharding.device_set) == 2
    out = qjax.sim.sharding.batched(c.expval)(even)
    assert len(out.sharding.device_set) == 2  # the result stays split over both devices
    np.testing.assert_allclose(out, e_ref[:4], atol=1e-6)
    # data points batched, parameters replicated
    clf = qjax.compile(qjax.Circuit(2).ry(qjax.Input(0), 0).ry(qjax.Param(0), 1).cnot(0, 1).rx(qjax.Input(1), 1),
                       qjax.PauliSum([(1.0, {1: "Z"})], 2))
    xs = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (7, 2)), jnp.float32)
    theta = jnp.array([0.3], jnp.float32)
    out = qjax.sim.sharding.batched(clf.expval, in_axes=(None, 0))(theta, xs)
    np.testing.assert_allclose(out, jax.vmap(clf.expval, in_axes=(None, 0))(theta, xs), atol=1e-6)
    print("OK")
    """
)


def test_batched_over_two_cpu_devices_matches_unsharded():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout + proc.stderr
