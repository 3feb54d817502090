"""A circuit's trailing Clifford gates, absorbed into its Pauli observables.

The energy of the final state ``Cψ`` is ``<ψ|C† H C|ψ>``. When ``C`` is made of
angle-free Clifford gates (the CNOT chain that closes a hardware-efficient layer,
final Hadamards or SWAPs, X/Z/S corrections), ``C† H C`` is again a Pauli sum: each
word maps to ± one word, so the sum keeps its number of terms and its coefficients
up to sign (the Heisenberg picture, as in stabilizer simulation). ``qjax.compile``'s
``expval`` measures that sum on ``ψ`` and never applies ``C``: for the benchmark's
hardware-efficient ansatz at 20 wires that is 10 of the 41 state passes forward and
30 of the adjoint pass's 120 backward.

Which gates are Clifford is decided numerically, not from a table: a fixed gate
(named or a ``Unitary``) of at most :data:`MAX_WIRES` wires is absorbed when it maps
every Pauli word on its wires to ± a Pauli word. A gate is in the tail when every
later gate on its wires is too; such a gate commutes past everything after it.
``state``, ``probs`` and ``sample`` still run the whole circuit.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from qjax.ir.pauli import PAULI_MATRICES, PauliSum

__all__ = ["MAX_WIRES", "pauli_images", "split_tail", "conjugate"]

# Gates on more wires are never absorbed (Toffoli and CSWAP are not Clifford; a wide
# Unitary would need 4**k checks).
MAX_WIRES = 2

_PAULIS = PAULI_MATRICES
# Tolerance on |coefficient| = 1: fixed matrices of a complex64 program were rounded
# to float32 (H's 1/sqrt 2), a Unitary was given by the user.
_TOL = 1e-6


@functools.lru_cache(maxsize=None)
def _images(matrix: bytes, k: int) -> dict | None:
    g = np.frombuffer(matrix, np.complex128).reshape(2**k, 2**k)
    labels = ["".join(p) for p in itertools.product("IXYZ", repeat=k)]
    paulis = np.stack([functools.reduce(np.kron, [_PAULIS[c] for c in label]) for label in labels])
    conj = np.einsum("ji,pjk,kl->pil", g.conj(), paulis, g)  # G† P G for every word P
    coeff = np.einsum("qij,pji->pq", paulis, conj) / 2**k  # on the (Hermitian) Pauli basis
    best = np.argmax(np.abs(coeff), axis=1)
    top = coeff[np.arange(len(labels)), best]
    if np.any(np.abs(np.abs(top.real) - 1) > _TOL) or np.any(np.abs(top.imag) > _TOL):
        return None  # some word spreads over several: not Clifford
    return {label: (float(np.sign(top[p].real)), labels[best[p]]) for p, label in enumerate(labels)}


def pauli_images(step) -> dict | None:
    """``{word: (sign, image)}`` with ``G† word G = sign · image`` for a fixed
    :class:`qjax.sim.program.Step` (words as strings over ``step.wires`` in order, e.g.
    ``"XZ"``), or None when the step has angles, is wider than :data:`MAX_WIRES` or
    is not Clifford."""
    if step.fixed is None or len(step.wires) > MAX_WIRES:
        return None
    g = np.diag(step.fixed) if step.diagonal else step.fixed
    return _images(np.ascontiguousarray(g, np.complex128).tobytes(), len(step.wires))


def split_tail(program):
    """``(head, tail)``: ``program`` without its trailing Clifford steps, and those
    steps last first (the order :func:`conjugate` takes them in)."""
    blocked: set[int] = set()
    keep, tail = [], []
    for step in reversed(program.steps):
        if blocked.isdisjoint(step.wires) and pauli_images(step) is not None:
            tail.append(step)
        else:
            blocked.update(step.wires)
            keep.append(step)
    if not tail:
        return program, ()
    return program._replace(steps=tuple(reversed(keep))), tuple(tail)


def conjugate(obs: PauliSum, tail) -> PauliSum:
    """``C† obs C`` for ``C`` the product of ``tail`` (from :func:`split_tail`, last first)."""
    terms = [(c, dict(word)) for c, word in obs.terms]
    for step in tail:
        images = pauli_images(step)
        assert images is not None, "split_tail only puts Clifford steps in the tail"
        for t, (c, word) in enumerate(terms):
            sign, image = images["".join(word.get(w, "I") for w in step.wires)]
            for w, p in zip(step.wires, image):
                if p == "I":
                    word.pop(w, None)
                else:
                    word[w] = p
            terms[t] = (c * sign, word)
    wires = max([obs.num_wires] + [max(step.wires) + 1 for step in tail])
    return PauliSum([(c, sorted(word.items())) for c, word in terms], num_wires=wires)
