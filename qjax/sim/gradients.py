"""Gradient methods: their names (defined here once) and the parameter-shift and SPSA rules.

Both act on ``values(angles) -> (k,)``, a function of the circuit's gate angles
(``angles = A @ params + B @ x + c``). They are ``jax.custom_vjp`` rules, so JAX's
own autodiff chains them through the linear map: shared parameters and data
inputs get their gradients by ``A.T @ dE/dangles`` without any code here.

- **adjoint** (Jones & Gacon) lives with the fused blocks it sweeps back over:
  :func:`qjax.sim.layering.adjoint_values`.
- **parameter shift**: ``dE/dθ = Σ_m c_m E(θ + s_m)``, with the shifts and
  coefficients derived from the spectrum of each gate angle's generator
  (Wierichs et al., Quantum 6, 677 (2022)), so a new table gate gets a correct rule
  without code here. The shifted evaluations are vmapped (in chunks, to bound
  memory); the same :class:`ShiftPlan` tells sampling backends which circuits to run.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.errors import CircuitError
from qjax.ir.circuit import Circuit
from qjax.ir.gates import GATES

__all__ = [
    "GRADIENTS",
    "GRADIENT_METHODS",
    "SAMPLED_GRADIENTS",
    "ShiftRule",
    "ShiftPlan",
    "generator_eigenvalues",
    "shift_rule",
    "rule_from_frequencies",
    "shift_plan",
    "parameter_shift_values",
    "shift_batch",
    "shift_gradient",
    "spsa_batch",
    "spsa_gradient",
]

#: Every ``gradient=`` a run may ask for.
GRADIENTS = ("auto", "backprop", "adjoint", "parameter_shift", "spsa")
#: What ``qjax.compile`` differentiates with (SPSA is an optimiser-side estimator for sampling backends).
GRADIENT_METHODS = ("auto", "backprop", "adjoint", "parameter_shift")
#: What a backend that samples (hardware, a service) can estimate: shifted or perturbed evaluations.
SAMPLED_GRADIENTS = ("auto", "parameter_shift", "spsa")

# Elements of all shifted states evaluated at once by parameter shift (~128 MiB in complex64).
_SHIFT_BATCH_ELEMENTS = 2**24


class ShiftRule(NamedTuple):
    """``d f/dθ = Σ_m coeffs[m] · f(θ + shifts[m])`` for ``f`` a trig polynomial in θ."""

    shifts: tuple[float, ...]
    coeffs: tuple[float, ...]
    frequencies: tuple[float, ...]


@functools.lru_cache(maxsize=None)
def generator_eigenvalues(gate: str, index: int) -> tuple[float, ...]:
    """Eigenvalues of the generator of angle ``index`` of table gate ``gate``.

    If ``U(θ) = V exp(-iθG) W`` in that angle, ``i (dU/dθ) U† = V G V†`` is Hermitian
    with G's spectrum at every angle; we check both at two angle points. The
    measurement runs in JAX's current precision (toggling x64 here would corrupt
    JAX's caches), and each eigenvalue is snapped to the nearest fraction with
    denominator ≤ 64, which is exact for every standard gate; a gate whose spectrum
    is not such a fraction (within 1e-4) is refused.
    """
    spec = GATES[gate]
    if not 0 <= index < spec.num_params:
        raise CircuitError(f"{gate} has {spec.num_params} angle(s); there is no angle {index}")
    cdtype = jnp.complex128 if jax.config.read("jax_enable_x64") else jnp.complex64
    points = np.array([[0.37, -1.21, 2.03], [1.94, 0.44, -0.83]])[:, : spec.num_params]

    def matrix_and_derivative(a):
        return spec.matrix(a, cdtype), jax.jacfwd(lambda t: spec.matrix(t, cdtype))(a)[..., index]

    # One jitted call for both points: eager dispatch of the many tiny ops is ~10x slower.
    us, dus = jax.jit(jax.vmap(matrix_and_derivative))(jnp.asarray(points, jnp.finfo(cdtype).dtype))
    spectra = []
    for u, du in zip(np.asarray(us, np.complex128), np.asarray(dus, np.complex128)):
        k = 1j * du @ u.conj().T
        if not np.allclose(k, k.conj().T, atol=1e-4):
            raise CircuitError(f"{gate} angle {index} has no Hermitian generator; no shift rule can be derived")
        spectra.append(np.linalg.eigvalsh(k))
    if not np.allclose(spectra[0], spectra[1], atol=1e-4):
        raise CircuitError(f"{gate} angle {index}: the generator's spectrum depends on the angles; no shift rule")
    snapped = [float(Fraction(float(v)).limit_denominator(64)) for v in spectra[0]]
    if not np.allclose(snapped, spectra[0], atol=1e-4):
        raise CircuitError(f"{gate} angle {index}: generator eigenvalues {spectra[0]} are not simple fractions")
    return tuple(snapped)


def _frequencies(eigenvalues) -> list[float]:
    diffs = sorted(abs(a - b) for a in eigenvalues for b in eigenvalues if abs(a - b) > 1e-9)
    out: list[float] = []
    for d in diffs:
        if not out or d - out[-1] > 1e-8:
            out.append(d)
    return out


def rule_from_frequencies(frequencies) -> ShiftRule:
    """The 2R-term rule for frequencies that are multiples of the smallest one.

    With ``Ω_l = l·Ω`` (l = 1..R; absent multiples only cost extra terms), the odd
    part ``(f(θ+s)-f(θ-s))/2 = Σ_l b_l sin(Ω_l s)`` is sampled at the equispaced
    shifts ``s_μ = (2μ-1)π/(2RΩ)``; solving for ``b`` gives ``f'(θ) = Σ_l Ω_l b_l``.
    """
    freqs = sorted(float(f) for f in frequencies)
    if not freqs:
        return ShiftRule((), (), ())
    base = min(freqs)
    ratios = np.array(freqs) / base
    if not np.allclose(ratios, np.round(ratios), atol=1e-6):
        raise CircuitError(f"frequencies {freqs} are not multiples of a common one; no equidistant shift rule")
    R = int(round(max(ratios)))
    omega = base * np.arange(1, R + 1)
    s = (2 * np.arange(1, R + 1) - 1) * np.pi / (2 * R * base)
    M = np.sin(np.outer(s, omega))  # M[μ, l] = sin(Ω_l s_μ)
    y = np.linalg.solve(M.T, omega)  # f' = Σ_μ y_μ (f(θ+s_μ) - f(θ-s_μ)) / 2
    shifts, coeffs = np.concatenate([s, -s]), np.concatenate([y / 2, -y / 2])
    return ShiftRule(tuple(shifts.tolist()), tuple(coeffs.tolist()), tuple(freqs))


@functools.lru_cache(maxsize=None)
def shift_rule(gate: str, index: int) -> ShiftRule:
    """The parameter-shift rule of angle ``index`` of table gate ``gate``.

    E.g. RX/RY/RZ/PhaseShift/RZZ: ``(f(θ+π/2) - f(θ-π/2))/2``; CRX/CRY/CRZ (generator
    eigenvalues 0, ±1/2, frequencies 1/2 and 1): the four-term rule at ±π/2, ±3π/2.
    """
    return rule_from_frequencies(_frequencies(generator_eigenvalues(gate, index)))


class ShiftPlan(NamedTuple):
    """Every shifted evaluation the parameter-shift gradient of a circuit needs.

    ``offsets (M, G)``: added to the angles of evaluation m (one nonzero entry each);
    ``angle (M,)``: which angle evaluation m differentiates; ``coeffs (M,)``.
    Then ``dE/dangles[g] = Σ_{m: angle[m]=g} coeffs[m] E(angles + offsets[m])`` and
    ``dE/dparams = A.T @ dE/dangles``. Angles that depend on no parameter or input
    are skipped.
    """

    offsets: np.ndarray
    angle: np.ndarray
    coeffs: np.ndarray


def shift_plan(circuit: Circuit) -> ShiftPlan:
    """The :class:`ShiftPlan` of ``circuit`` (Python only)."""
    lm = circuit.linear_map()
    G = len(lm.c)
    rows, angle, coeffs = [], [], []
    for op, (start, stop) in zip(circuit.operations, lm.slices):
        for j, g in enumerate(range(start, stop)):
            if not (lm.A[g].any() or lm.B[g].any()):
                continue
            rule = shift_rule(op.gate, j)
            for s, w in zip(rule.shifts, rule.coeffs):
                row = np.zeros(G)
                row[g] = s
                rows.append(row)
                angle.append(g)
                coeffs.append(w)
    return ShiftPlan(np.array(rows).reshape(len(rows), G), np.array(angle, dtype=np.int32), np.array(coeffs))


def parameter_shift_values(values: Callable, circuit: Circuit) -> Callable:
    """``values`` (``angles (G,) -> (k,)``) with its VJP computed by parameter shift."""
    plan = shift_plan(circuit)
    M, G = plan.offsets.shape
    batch = max(1, min(M, _SHIFT_BATCH_ELEMENTS // 2**circuit.num_wires))

    @jax.custom_vjp
    def f(angles):
        return values(angles)

    def fwd(angles):
        return values(angles), angles

    def bwd(angles, cot):
        if M == 0:
            return (jnp.zeros_like(angles),)
        shifted = angles[None, :] + jnp.asarray(plan.offsets, angles.dtype)
        if batch >= M:
            vals = jax.vmap(values)(shifted)  # (M, k)
        else:
            vals = jax.lax.map(values, shifted, batch_size=batch)
        weighted = jnp.asarray(plan.coeffs, angles.dtype) * (vals @ cot)  # (M,)
        return (jax.ops.segment_sum(weighted, jnp.asarray(plan.angle), num_segments=G),)

    f.defvjp(fwd, bwd)
    return f


# -- batch-and-burst: every evaluation of one gradient as one batch --------------------


def shift_batch(angles, plan: ShiftPlan) -> np.ndarray:
    """``(M + 1, G)``: row 0 the unshifted ``angles (G,)``, then one row per shifted evaluation of ``plan``."""
    angles = np.asarray(angles, dtype=np.float64)
    return np.concatenate([angles[None, :], angles[None, :] + plan.offsets], axis=0)


def shift_gradient(values, plan: ShiftPlan, A) -> np.ndarray:
    """``dE/dparams (P,)`` from the ``(M + 1,)`` values of :func:`shift_batch`'s rows.

    ``dE/dangles[g] = Σ_{m: angle[m]=g} coeffs[m] values[1 + m]``; the chain rule
    through the linear map ``angles = A @ params + c`` gives ``A.T @ dE/dangles``,
    which sums the contributions of every gate a shared parameter feeds.
    """
    values = np.asarray(values, dtype=np.float64)
    d_angles = np.zeros(np.shape(A)[0])
    np.add.at(d_angles, plan.angle, plan.coeffs * values[1:])
    return np.asarray(A).T @ d_angles


def spsa_batch(params, key: int, c: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """SPSA rows ``(3, P)``: ``params``, ``params + cΔ``, ``params - cΔ``, and the Rademacher ``Δ (P,)``.

    Two circuit evaluations per gradient whatever P (Spall 1992), for circuits too
    wide or deep for ``2·(shifts)`` evaluations per step; ``key`` seeds ``Δ``.
    """
    params = np.asarray(params, dtype=np.float64)
    delta = np.random.default_rng(key).choice([-1.0, 1.0], size=params.shape)
    return np.stack([params, params + c * delta, params - c * delta]), delta


def spsa_gradient(values, delta, c: float = 0.1) -> np.ndarray:
    """The SPSA estimate ``(E(θ + cΔ) - E(θ - cΔ)) / (2c) · Δ`` from :func:`spsa_batch`'s values ``(3,)``."""
    values = np.asarray(values, dtype=np.float64)
    return (values[1] - values[2]) / (2 * c) * np.asarray(delta)
