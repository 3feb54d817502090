"""Every table gate's matrix against PennyLane's and Qiskit's definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
import pytest
from oracles import ORACLES  # gate name -> (PennyLane constructor, Qiskit gate class)
from qiskit.quantum_info import Operator

from qjax.errors import UnknownGateError
from qjax.ir.gates import GATES, canonical_name, gate_spec


def test_every_table_gate_has_an_oracle():
    # A gate added to the table without an entry here must fail loudly, not go untested.
    assert set(ORACLES) == set(GATES) - {"Unitary"}


def _oracles(name, angles):
    pl_cls, qk_cls = ORACLES[name]
    k = GATES[name].num_wires
    pl = qml.matrix(pl_cls(*angles, wires=list(range(k))), wire_order=list(range(k)))
    # Qiskit's Operator is little-endian (qubit 0 = least significant); reversing its
    # qargs puts qubit 0 (Qiskit's first argument, e.g. CX's control) most significant.
    qk = Operator(qk_cls(*angles)).reverse_qargs().data
    return np.asarray(pl), qk


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_gate_matrix_matches_pennylane_and_qiskit(name):
    spec = GATES[name]
    rng = np.random.default_rng(sorted(ORACLES).index(name))
    for _ in range(3):
        angles = rng.uniform(-2 * np.pi, 2 * np.pi, spec.num_params)
        pl, qk = _oracles(name, angles)
        with jax.enable_x64(True):
            m128 = np.asarray(spec.matrix(jnp.asarray(angles, jnp.float64), jnp.complex128))
        # complex128: both oracles evaluate the same closed forms in float64 -> round-off only.
        np.testing.assert_allclose(m128, pl, atol=1e-12)
        np.testing.assert_allclose(m128, qk, atol=1e-12)
        m64 = np.asarray(spec.matrix(jnp.asarray(angles, jnp.float32), jnp.complex64))
        assert m64.dtype == np.complex64
        # complex64: float32 angles (|θ| ≤ 2π, ulp ~5e-7) and sin/cos round-off.
        np.testing.assert_allclose(m64, pl, atol=2e-6)
        if spec.num_params == 0:  # the simulator reads fixed gates from `constant`, not `matrix`
            np.testing.assert_allclose(spec.constant, pl, atol=1e-12)
        # The `diagonal` flag drives the simulator's fast path; it must be true to the matrix.
        off_diag = pl - np.diag(np.diag(pl))
        assert spec.diagonal == bool(np.allclose(off_diag, 0.0)), name


@pytest.mark.parametrize("name", sorted(g for g, s in GATES.items() if s.diagonal and s.num_params))
def test_phase_generator_gives_the_pennylane_diagonal(name):
    """Every parametrised diagonal gate declares ``phase`` (the simulator's diagonal
    blocks rely on it) and its diagonal is exp(iθ · phase)."""
    phase = GATES[name].phase
    assert phase is not None and GATES[name].num_params == 1, name
    for theta in np.random.default_rng(1).uniform(-2 * np.pi, 2 * np.pi, 3):
        pl, _ = _oracles(name, [theta])
        np.testing.assert_allclose(np.exp(1j * theta * np.asarray(phase)), np.diag(pl), atol=1e-12)


@pytest.mark.parametrize("name", sorted(g for g, s in GATES.items() if s.num_params == 1))
def test_trig_form_gives_the_pennylane_matrix(name):
    """Every one-angle gate declares ``trig`` (the simulator builds its matrices from
    it) and ``A + B cos(sθ) + C sin(sθ)`` is the gate."""
    assert GATES[name].trig is not None, name
    s, a, b, c = GATES[name].trig
    for theta in np.random.default_rng(2).uniform(-2 * np.pi, 2 * np.pi, 3):
        pl, _ = _oracles(name, [theta])
        np.testing.assert_allclose(a + b * np.cos(s * theta) + c * np.sin(s * theta), pl, atol=1e-12)


@pytest.mark.parametrize(
    "alias, name",
    [
        ("CX", "CNOT"),
        ("cx", "CNOT"),
        ("P", "PhaseShift"),
        ("U", "U3"),
        ("CCX", "Toffoli"),
        ("IsingZZ", "RZZ"),
        ("Hadamard", "H"),
        ("QubitUnitary", "Unitary"),
        ("ControlledPhaseShift", "CPhase"),
    ],
)
def test_aliases_resolve(alias, name):
    assert canonical_name(alias) == name
    assert gate_spec(alias) is GATES[name]


def test_unknown_gate_is_refused_with_the_fix():
    with pytest.raises(UnknownGateError, match="unknown gate 'Foo'.*Unitary"):
        gate_spec("Foo")
