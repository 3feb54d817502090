"""Pauli sums on state vectors: the kernels behind ``expval`` (no dense matrices).

A Pauli word P acts on a basis state as P|b> = i**ny (-1)**popcount(b & z) |b ^ f>,
f = its X/Y (flip) wires, z = its Y/Z (phase) wires, ny = its number of Y's (Y = iXZ).
:func:`expval_plan` groups a :class:`~qjax.ir.pauli.PauliSum`'s terms by flip wires at
compile time: a group costs one flip of the state plus one reduction per term; the
Z-only terms become one diagonal computed from the basis index.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.ir.pauli import PauliSum
from qjax.sim.checks import check_wires
from qjax.sim.fusion import low_rank_view

__all__ = [
    "PauliPlan",
    "expval_plan",
    "plan_expval",
    "plan_apply",
    "parity_sum",
    "expectation_values",
    "adjoint_observables",
]


class PauliPlan(NamedTuple):
    """A Pauli sum grouped for an ``num_wires``-wire state (built once, at compile time).

    ``z_terms``: ``((coeff, phase_wires), ...)``, the Z-only terms; at run time they
    become one diagonal computed from the basis index (no ``2**n`` constant).
    ``groups``: ``((flip_wires, ((phase_coeff, phase_wires), ...)), ...)`` where a
    term contributes ``phase_coeff * Σ_b conj(ψ[b ^ f]) ψ[b] (-1)**parity(b on phase_wires)``;
    ``phase_coeff = c * i**ny`` absorbs the Y factors (Y = i X Z).
    """

    num_wires: int
    z_terms: tuple[tuple[float, tuple[int, ...]], ...]
    groups: tuple[tuple[tuple[int, ...], tuple[tuple[complex, tuple[int, ...]], ...]], ...]


def expval_plan(obs: PauliSum, num_wires: int) -> PauliPlan:
    """Group ``obs``'s terms by flip wires for a ``num_wires``-wire state."""
    check_wires(obs, num_wires)
    z_only: dict = {}
    groups: dict = {}
    for c, word in obs.terms:
        flips = tuple(w for w, p in word if p in "XY")
        phases = tuple(sorted(w for w, p in word if p in "YZ"))
        if not flips:
            z_only[phases] = z_only.get(phases, 0.0) + float(c)
            continue
        ny = sum(p == "Y" for _, p in word)
        groups.setdefault(flips, []).append((c * 1j**ny, phases))
    z_terms = tuple((c, w) for w, c in z_only.items() if c != 0.0)
    return PauliPlan(num_wires, z_terms, tuple((f, tuple(ts)) for f, ts in groups.items()))


def _basis_index(n: int):
    """``(2**n,)`` uint32 basis indices. The barrier keeps XLA from constant-folding
    ``2**n``-long sign vectors derived from it at compile time (seconds at n = 20)."""
    return jax.lax.optimization_barrier(jax.lax.iota(jnp.uint32, 2**n))


def _mask(n: int, wires) -> int:
    """The bits of ``wires`` in an ``n``-bit basis index (wire 0 = MSB)."""
    return sum(1 << (n - 1 - w) for w in wires)


def _sign(index, mask, dtype):
    """``(-1)**popcount(index & mask)``, broadcast (``mask``: an int or an array)."""
    bits = jax.lax.population_count(index & np.asarray(mask, np.uint32)) & 1
    return 1 - 2 * bits.astype(dtype)


def _weights(n: int, terms, dtype):
    """``Σ_t coeff_t (-1)**parity(b on wires_t)`` as a ``(2**n,)`` array (a term without
    wires is its coefficient); a scalar when no term has wires (an X-only group, a
    constant). A few terms: one fused expression. More: :func:`_sign_gemm`."""
    if not any(wires for _, wires in terms):
        return jnp.asarray(sum(c for c, _ in terms), dtype)
    if len(terms) >= _GEMM_TERMS:
        return _sign_gemm(n, terms, dtype)
    index = _basis_index(n)
    out = None
    for coeff, wires in terms:
        term = jnp.asarray(coeff, dtype) * (_sign(index, _mask(n, wires), dtype) if wires else 1)
        out = term if out is None else out + term
    return out


# From this many terms on, _weights is a GEMM (measured at n = 20: 20 Z terms 31 ms
# fused, 2.2 ms as a GEMM; one term is better fused into the state pass that reads it).
_GEMM_TERMS = 3


def _sign_gemm(n: int, terms, dtype):
    """:func:`_weights` of many terms as one GEMM. With ``b = (hi, lo)`` split into
    its high and low halves a term's sign is ``s_hi(hi) · s_lo(lo)``, so the sum is
    ``(S_hi · c) S_loᵀ`` with ``S`` the ``(2**(n/2), terms)`` sign matrices: 2 flops per
    term and basis state, against a popcount and a few more per term in a fused loop."""
    h, rd = n // 2, jnp.finfo(dtype).dtype
    coeffs = np.asarray([c for c, _ in terms])
    s_hi = _sign(_basis_index(h)[:, None], [_mask(h, [w for w in ws if w < h]) for _, ws in terms], rd)
    s_lo = _sign(_basis_index(n - h)[:, None], [_mask(n, [w for w in ws if w >= h]) for _, ws in terms], rd)

    def part(c):
        return ((s_hi * jnp.asarray(c, rd)) @ s_lo.T).reshape(-1)

    if jnp.issubdtype(dtype, jnp.complexfloating) and np.iscomplexobj(coeffs):
        return jax.lax.complex(part(coeffs.real), part(coeffs.imag))
    return part(coeffs.real).astype(dtype)


def _flip(psi, flips: tuple[int, ...], n: int):
    """``ψ[b ^ f]`` for a flat state, as reversed axes of a low-rank view (a Pauli
    string from a CNOT chain, :mod:`qjax.sim.clifford`, flips many wires)."""
    view = low_rank_view(range(n), flips)
    axes = [i for i, (_, flipped) in enumerate(view) if flipped]
    return jnp.flip(psi.reshape([size for size, _ in view]), axis=axes).reshape(-1)


def _blocked_sum(v):
    """Sum of a flat array as sums of ``2**(n//2)``-long rows: float32 rounding grows with
    the row length, not with ``2**n`` (the issue's 1e-5 at n = 20 needs this)."""
    size = v.shape[0]
    row = 1 << (max(size.bit_length() - 1, 0) // 2)
    return jnp.sum(jnp.sum(v.reshape(size // row, row), axis=1))


def parity_sum(w, phase_wires: tuple[int, ...], n: int):
    """``Σ_b w[b] (-1)**parity(b on phase_wires)`` for a ``(2,)*n`` tensor ``w``."""
    others = tuple(a for a in range(n) if a not in phase_wires)
    r = jnp.sum(w, axis=others) if others else w
    for _ in phase_wires:  # r keeps the phase axes in order; fold each by a difference
        r = r[0] - r[1]
    return r


def plan_expval(psi, plan: PauliPlan, h_psi=None):
    """``<ψ|H|ψ>`` for a ``(2,)*n`` (or flat ``(2**n,)``) complex ``psi``; real scalar of psi's real dtype.

    A Z-only sum reads ``|ψ|²`` against its diagonal; otherwise ``Re <ψ|Hψ>`` with ``Hψ``
    from :func:`plan_apply` (or ``h_psi``, flat, when the caller has it), which XLA
    fuses into one pass over the state (one reduction per flip group would cost a
    pass each)."""
    n, rd = plan.num_wires, psi.real.dtype
    psi = psi.reshape(-1)
    if not plan.groups:
        if not plan.z_terms:
            return jnp.zeros((), rd)
        prob = jnp.real(psi) ** 2 + jnp.imag(psi) ** 2
        return _blocked_sum(prob * _weights(n, plan.z_terms, rd))
    h_psi = plan_apply(psi, plan) if h_psi is None else h_psi
    return _blocked_sum(jnp.real(psi) * jnp.real(h_psi) + jnp.imag(psi) * jnp.imag(h_psi))


def plan_apply(psi, plan: PauliPlan):
    """``H ψ`` for a ``(2,)*n`` (or flat) complex ``psi`` (same shape and dtype)."""
    n, shape, rd = plan.num_wires, psi.shape, psi.real.dtype
    psi = psi.reshape(-1)
    out = jnp.zeros_like(psi)
    if plan.z_terms:
        out = out + psi * _weights(n, plan.z_terms, rd)
    for flips, terms in plan.groups:
        # P|b> = phase(b)|b ^ f>, so (Pψ)[c] = phase(c ^ f) ψ[c ^ f]: phase first, then flip.
        out = out + _flip(psi * _weights(n, terms, psi.dtype), flips, n)
    return out.reshape(shape)


def expectation_values(program, plans: tuple[PauliPlan, ...]) -> Callable:
    """``angles (G,) -> (k,) real``: every observable's expectation on the final state of
    ``program`` (a :class:`Program` or a :class:`~qjax.sim.layering.LayeredProgram`)."""

    def values(angles):
        return _measure(program.run(angles), plans)

    return values


def _measure(psi, plans):
    return jnp.stack([plan_expval(psi, plan) for plan in plans])


def _apply_observables(psi, cot, plans):
    """``Σ_j cot_j H_j ψ`` for a flat state ``psi (2**n,)``."""
    return sum(cot[j].astype(psi.dtype) * plan_apply(psi, plan) for j, plan in enumerate(plans))


def adjoint_observables(plans):
    """``measure`` and ``apply_h`` for :func:`qjax.sim.layering.adjoint_values`. With one
    observable that flips bits, ``Hψ`` is computed once, for ⟨ψ|Hψ⟩, and kept for the
    backward pass (λ = c·Hψ): one state of memory instead of a second pass."""
    keep = len(plans) == 1 and bool(plans[0].groups)

    def measure(psi):
        if keep:
            h_psi = plan_apply(psi, plans[0])
            return plan_expval(psi, plans[0], h_psi)[None], h_psi
        return _measure(psi, plans), None

    def apply_h(psi, h_psi, cot):
        if keep:
            return cot[0].astype(psi.dtype) * h_psi
        return _apply_observables(psi, cot, plans)

    return measure, apply_h
