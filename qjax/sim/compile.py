"""Compile a :class:`~qjax.circuit.Circuit` into pure JAX statevector functions.

``compile`` does all the Python work once: it reads the circuit's linear angle
map, looks every gate up in the table, precomputes fixed matrices, marks diagonal
gates, fuses the gates into few wide blocks (:mod:`qjax.fusion`: one pass over the
state per block instead of one per gate), runs repeated layers with ``lax.scan``
(:mod:`qjax.layering`: compile time flat in depth) and groups observables into bit-mask
plans. The functions it returns contain only array math, so ``jax.jit``, ``jax.vmap`` and ``jax.grad`` compose with them and
a second call with new parameters does not retrace.

Conventions (see DESIGN.md, "Qubit order"): the state is a ``(2**n,)`` vector whose
index has wire 0 as its most significant bit; a fused block views it as
``(2**lo, 2**k, 2**(n-hi))`` (no transposes), single gates as a ``(2,)*n`` tensor
with axis ``w`` = wire ``w``. Within a gate the first wire is the most significant
(``CNOT(control, target)``).
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax import clifford
from qjax.circuit import Circuit
from qjax.errors import CircuitError, ConfigError, ObservableError, ParameterShapeError, PrecisionError
from qjax.fusion import low_rank_view
from qjax.layering import LayeredProgram, adjoint_values, layer
from qjax.gates import GATES, trig_matrices
from qjax.observables import PauliSum, as_pauli_sums

__all__ = ["compile", "Compiled", "GRADIENT_METHODS", "PauliPlan", "expval_plan", "plan_expval", "plan_apply"]

GRADIENT_METHODS = ("auto", "backprop", "adjoint", "parameter_shift")


class Compiled(NamedTuple):
    """What :func:`compile` returns: pure functions plus the facts they were built from.

    Functions (P = ``num_params``, F = ``num_inputs``, n = ``circuit.num_wires``,
    ``real`` = float32 for complex64 and float64 for complex128):

    - ``state(params, x=None)``: ``params (P,)``, ``x (F,)`` → ``(2**n,) dtype``.
    - ``probs(params, x=None)`` → ``(2**n,) real``.
    - ``sample(key, params, shots, x=None)`` → ``(shots, n) int32`` bits, wire 0 first.
      ``shots`` is a Python int; under ``jit`` mark it static (``static_argnums=2``).
    - ``expval(params, x=None)`` → ``() real`` for one observable, ``(k,) real`` for a
      list. Its reverse-mode derivative follows ``gradient``; ``adjoint`` and
      ``parameter_shift`` are ``custom_vjp`` rules (use backprop for forward mode).

    ``params=None`` is accepted when P = 0. Shapes are checked when the function is
    traced (under ``vmap``: the per-example shapes) and raise ``ParameterShapeError``.

    Fields: ``circuit`` as compiled; ``observables`` as PauliSums (converted from
    strings, SparsePauliOp or PennyLane ops); ``num_params`` (P); ``num_inputs`` (F);
    ``dtype`` (numpy complex dtype); ``gradient`` (the method name as given).
    """

    state: Callable
    probs: Callable
    sample: Callable
    expval: Callable
    circuit: Circuit
    observables: tuple[PauliSum, ...]
    num_params: int
    num_inputs: int
    dtype: Any
    gradient: str


class Step(NamedTuple):
    """One operation, resolved at compile time.

    ``fixed`` is the matrix of an angle-free gate (complex128 numpy; only the
    diagonal when ``diagonal``). A parametrised gate instead has ``slot``: its row
    in the batch of matrices :meth:`Program.matrices` builds for all occurrences of
    ``gate`` at once; its angles are ``angles[start:stop]``.
    """

    gate: str
    wires: tuple[int, ...]
    start: int
    stop: int
    diagonal: bool
    fixed: np.ndarray | None
    slot: int


class Program(NamedTuple):
    """A circuit lowered to :class:`Step` s and the arrays of its linear angle map.

    ``families`` lists each parametrised gate with the ``(m, p)`` indices into the
    angle vector of its m occurrences: building all m matrices in one vmapped call
    keeps the traced program (and XLA's compile time) small.
    """

    num_wires: int
    steps: tuple[Step, ...]
    families: tuple[tuple[str, np.ndarray], ...]
    A: np.ndarray  # (G, P)
    B: np.ndarray  # (G, F)
    c: np.ndarray  # (G,)
    dtype: Any

    @property
    def real_dtype(self):
        return jnp.finfo(self.dtype).dtype

    def angles(self, params, x):
        """``A @ params + B @ x + c``: ``(G,)`` real."""
        rd = self.real_dtype
        out = jnp.asarray(self.c, rd)
        if self.A.shape[1]:
            out = out + jnp.asarray(self.A, rd) @ params
        if self.B.shape[1]:
            out = out + jnp.asarray(self.B, rd) @ x
        return out

    def _family_fn(self, gate: str, derivative: bool):
        spec = GATES[gate]
        if spec.trig is not None and not derivative:
            # a few array operations for all occurrences; vmap of the gate's matrix
            # function traces several times as many (40 ms of a 20-wire step's trace)
            return lambda a: trig_matrices(spec.trig, a, self.dtype, spec.diagonal)

        def fn(a):
            m = spec.matrix(a, self.dtype)
            return jnp.diagonal(m) if spec.diagonal else m

        return jax.vmap(jax.jacfwd(fn) if derivative else fn)

    def matrices(self, angles) -> dict:
        """Gate name → ``(m, 2**k, 2**k)`` matrices of its occurrences (``(m, 2**k)`` diagonals)."""
        return {g: self._family_fn(g, False)(angles[index]) for g, index in self.families}

    def jacobians(self, angles) -> dict:
        """Gate name → ``(m, 2**k, 2**k, p)`` angle derivatives (``(m, 2**k, p)`` for diagonal gates)."""
        return {g: self._family_fn(g, True)(angles[index]) for g, index in self.families}

    def matrix(self, step: Step, matrices: dict):
        """The step's unitary ``(2**k, 2**k)``, or its diagonal ``(2**k,)`` for diagonal steps."""
        if step.fixed is not None:
            return jnp.asarray(step.fixed, self.dtype)
        return matrices[step.gate][step.slot]

    def initial_state(self):
        n = self.num_wires
        return jnp.zeros((2,) * n, self.dtype).at[(0,) * n].set(1)

    def run(self, angles):
        """The final state as a ``(2,)*n`` tensor."""
        matrices = self.matrices(angles)
        psi = self.initial_state()
        for step in self.steps:
            psi = apply(psi, self.matrix(step, matrices), step)
        return psi


def apply(psi, u, step: Step):
    """Apply ``u`` (matrix, or diagonal when ``step.diagonal``) to ``step.wires`` of ``psi`` ``(2,)*n``."""
    wires, k, n = step.wires, len(step.wires), psi.ndim
    if step.diagonal:
        # Reorder the gate's axes to ascending wires, then broadcast over the rest.
        d = jnp.transpose(u.reshape((2,) * k), np.argsort(wires))
        shape = [2 if a in wires else 1 for a in range(n)]
        return psi * d.reshape(shape)
    out = jnp.tensordot(u.reshape((2,) * (2 * k)), psi, axes=(tuple(range(k, 2 * k)), wires))
    return jnp.moveaxis(out, tuple(range(k)), wires)


def dagger(u, step: Step):
    """Adjoint of a matrix (or of a diagonal) returned by :meth:`Program.matrix`."""
    return jnp.conj(u) if step.diagonal else jnp.conj(u).T


@functools.lru_cache(maxsize=None)
def _fixed_matrix(gate: str, dtype) -> np.ndarray:
    """An angle-free gate's matrix as complex128 numpy, rounded to the run dtype as
    JAX would (complex64: H's 1/sqrt 2 in float32), once per gate and dtype; numpy
    only (building it with JAX cost an XLA compile per gate, 56 ms for CNOT)."""
    m = np.asarray(np.asarray(GATES[gate].constant, dtype), np.complex128)
    m.setflags(write=False)
    return m


def lower(circuit: Circuit, dtype) -> Program:
    """Resolve ``circuit`` into a :class:`Program` (Python only; no tracing)."""
    lm = circuit.linear_map()
    steps, families = [], {}
    for op, (start, stop) in zip(circuit.operations, lm.slices):
        spec = GATES[op.gate]
        if op.gate == "Unitary":
            m = op.matrix_array()
            diagonal = bool(np.allclose(m, np.diag(np.diag(m)), atol=0.0))
            steps.append(Step(op.gate, op.wires, start, stop, diagonal, np.diag(m) if diagonal else m, -1))
        elif spec.num_params == 0:
            m = _fixed_matrix(op.gate, jnp.dtype(dtype))
            steps.append(Step(op.gate, op.wires, start, stop, spec.diagonal, np.diag(m) if spec.diagonal else m, -1))
        else:
            rows = families.setdefault(op.gate, [])
            steps.append(Step(op.gate, op.wires, start, stop, spec.diagonal, None, len(rows)))
            rows.append(range(start, stop))
    fams = tuple((g, np.array(rows, dtype=np.int32)) for g, rows in families.items())
    return Program(circuit.num_wires, tuple(steps), fams, lm.A, lm.B, lm.c, dtype)


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)


def _check_dtype(dtype):
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (jnp.dtype(jnp.complex64), jnp.dtype(jnp.complex128)):
        raise PrecisionError(f"dtype={dtype!r} is not supported; use jnp.complex64 (default) or jnp.complex128")
    _check_x64(dt)
    return dt


def _check_x64(dt):
    if dt == jnp.dtype(jnp.complex128) and not _x64():
        raise PrecisionError(
            "dtype=complex128 needs JAX's 64-bit mode, which is off; call "
            'jax.config.update("jax_enable_x64", True) before compiling (CLI: precision=double), '
            "or use dtype=jnp.complex64"
        )


def compile(circuit: Circuit, observables=None, *, dtype=jnp.complex64, gradient: str = "auto") -> Compiled:
    """Compile ``circuit`` (and optionally observables) into pure JAX functions.

    Args:
      circuit: the :class:`~qjax.circuit.Circuit` to simulate from ``|0…0>``.
      observables: None, one observable, or a list/tuple of them. Each is a
        :class:`PauliSum` (or a Pauli string, qiskit ``SparsePauliOp`` or PennyLane
        operator, converted with the same wire rules).
      dtype: ``jnp.complex64`` or ``jnp.complex128`` (needs ``jax_enable_x64``).
      gradient: how ``expval`` is differentiated: ``"auto"`` (backprop below 13
        wires while its tape fits in 512 MiB, else adjoint; see :func:`auto_gradient`),
        ``"backprop"``, ``"adjoint"`` or ``"parameter_shift"``.

    Returns:
      a :class:`Compiled` named tuple.

    ``expval`` does not apply the circuit's trailing angle-free Clifford gates: it
    measures the observables conjugated through them (:mod:`qjax.clifford`), which is
    exact; ``state``, ``probs`` and ``sample`` run every gate.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"compile needs a qjax.Circuit, got {type(circuit).__name__}; convert it first")
    dt = _check_dtype(dtype)
    if gradient not in GRADIENT_METHODS:
        raise ConfigError(f"gradient={gradient!r} is not known; choose one of {', '.join(GRADIENT_METHODS)}")
    single = observables is not None and not isinstance(observables, (list, tuple))
    obs = () if observables is None else as_pauli_sums([observables] if single else observables)
    n, P, F = circuit.num_wires, circuit.num_params, circuit.num_inputs
    for o in obs:
        check_wires(o, n)
    program = lower(circuit, dt)
    # expval measures C† H C on the state before the trailing Clifford gates C
    # (qjax.clifford); state, probs and sample run the whole circuit, laid out when
    # first traced.
    head, tail = clifford.split_tail(program) if obs else (program, ())
    plans = tuple(expval_plan(clifford.conjugate(o, tail), n) for o in obs)
    measured = layer(head)
    layered = functools.cache(lambda: layer(program) if tail else measured)
    rd = program.real_dtype

    def inputs(params, x):
        """Validate at trace time (shapes are static) and return ``(G,)`` angles."""
        _check_x64(dt)
        if params is None and P == 0:
            params = jnp.zeros((0,), rd)
        if params is None or jnp.shape(params) != (P,):
            shape = None if params is None else jnp.shape(params)
            raise ParameterShapeError(
                f"params has shape {shape} but the circuit has {P} trainable parameter(s); pass a ({P},) array"
                + ("; for a batch of parameter sets use jax.vmap(compiled.expval)" if shape and len(shape) > 1 else "")
            )
        if jnp.iscomplexobj(params):
            raise ParameterShapeError("params must be real angles (radians), got a complex array")
        if F == 0:
            if x is not None and jnp.shape(x) != (0,):
                raise ParameterShapeError(
                    f"x has shape {jnp.shape(x)} but the circuit reads no Input features; call without x"
                )
            x = jnp.zeros((0,), rd)
        elif x is None or jnp.shape(x) != (F,):
            got = "no x" if x is None else f"x with shape {jnp.shape(x)}"
            raise ParameterShapeError(
                f"got {got} but the circuit reads {F} input feature(s) (Input(0..{F - 1})); pass x as a ({F},) array"
            )
        return program.angles(jnp.asarray(params).astype(rd), jnp.asarray(x).astype(rd))

    def state(params, x=None):
        return layered().run(inputs(params, x))

    def probs(params, x=None):
        psi = state(params, x)
        return jnp.real(psi) ** 2 + jnp.imag(psi) ** 2

    shifts = np.arange(n - 1, -1, -1, dtype=np.int32)

    def sample(key, params, shots, x=None):
        if isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots < 1:
            raise ConfigError(
                f"shots={shots!r} must be a positive Python int (under jit mark it static: "
                "jax.jit(compiled.sample, static_argnums=2))"
            )
        p = probs(params, x)
        index = jax.random.choice(key, 2**n, shape=(int(shots),), p=p / jnp.sum(p))
        return (index[:, None] >> shifts) & 1

    values = _expval_values(circuit, measured, plans, gradient)

    def expval(params, x=None):
        if not plans:
            raise ObservableError(
                "this circuit was compiled without observables; pass them to "
                "compile(circuit, observables=PauliSum.from_string('Z0'), ...) to use expval"
            )
        out = values(inputs(params, x))
        return out[0] if single else out

    return Compiled(state, probs, sample, expval, circuit, obs, P, F, dt, gradient)


# -- Pauli sums on state tensors ---------------------------------------------------
#
# A Pauli word P acts on a basis state as P|b> = i**ny (-1)**popcount(b & z) |b ^ f>,
# f = its X/Y (flip) wires, z = its Y/Z (phase) wires, ny = its number of Y's (Y = iXZ).
# Terms are grouped by flip wires at compile time: a group costs one flip of the state
# plus one reduction per term; the Z-only terms become one precomputed diagonal.


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


def check_wires(obs: PauliSum, num_wires: int) -> None:
    """An :class:`ObservableError` when ``obs`` names a wire the circuit lacks."""
    bad = [w for w in obs.wires if w >= num_wires]
    if bad:
        raise ObservableError(
            f"observable {obs} acts on wire {bad[-1]} but the circuit has {num_wires} wire(s) "
            f"(0..{num_wires - 1}); use a wider circuit or fix the observable's wires"
        )


def expval_plan(obs: PauliSum, num_wires: int) -> PauliPlan:
    """Group ``obs``'s terms by flip wires for a ``num_wires``-wire state."""
    check_wires(obs, num_wires)
    z_only, groups = {}, {}
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
    string from a CNOT chain, :mod:`qjax.clifford`, flips many wires)."""
    view = low_rank_view(range(n), flips)
    axes = [i for i, (_, flipped) in enumerate(view) if flipped]
    return jnp.flip(psi.reshape([size for size, _ in view]), axis=axes).reshape(-1)


def _blocked_sum(v):
    """Sum of a flat array as sums of ``2**(n//2)``-long rows: float32 rounding grows with
    the row length, not with ``2**n`` (the issue's 1e-5 at n = 20 needs this)."""
    size = v.shape[0]
    row = 1 << (max(size.bit_length() - 1, 0) // 2)
    return jnp.sum(jnp.sum(v.reshape(size // row, row), axis=1))


def _parity_sum(w, phase_wires: tuple[int, ...], n: int):
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
    ``program`` (a :class:`Program` or a :class:`~qjax.layering.LayeredProgram`)."""

    def values(angles):
        return _measure(program.run(angles), plans)

    return values


def _measure(psi, plans):
    return jnp.stack([plan_expval(psi, plan) for plan in plans])


def _apply_observables(psi, cot, plans):
    """``Σ_j cot_j H_j ψ`` for a flat state ``psi (2**n,)``."""
    return sum(cot[j].astype(psi.dtype) * plan_apply(psi, plan) for j, plan in enumerate(plans))


def _adjoint_observables(plans):
    """``measure`` and ``apply_h`` for :func:`qjax.layering.adjoint_values`. With one
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


# Stored intermediate states of backprop above which gradient="auto" uses the adjoint
# method (memory O(state)) instead.
_AUTO_BACKPROP_BYTES = 512 * 2**20
# From this many wires on, gradient="auto" uses the adjoint method whatever the tape:
# once the state outgrows the core's caches, re-reading it beats storing one per block.
# Measured with scripts/benchmark.py's W1 (2-core EPYC): equal at n = 12, adjoint
# 1.3x faster at n = 14 and 16, 1.7x at 18, 1.2x at 20; backprop 1.3x faster at n = 8.
_AUTO_ADJOINT_WIRES = 13


def auto_gradient(layered: LayeredProgram) -> str:
    """What ``gradient="auto"`` means for ``layered`` (from :func:`qjax.layering.layer`):
    ``"adjoint"`` from 13 wires on or when the backprop tape (one state per block pass)
    would exceed 512 MiB, else ``"backprop"`` (which also supports forward mode)."""
    tape = (layered.num_blocks + 1) * 2**layered.num_wires * jnp.dtype(layered.program.dtype).itemsize
    if layered.num_wires >= _AUTO_ADJOINT_WIRES or tape > _AUTO_BACKPROP_BYTES:
        return "adjoint"
    return "backprop"


def _expval_values(circuit: Circuit, layered: LayeredProgram, plans, gradient: str) -> Callable:
    values = expectation_values(layered, plans)
    if gradient == "auto" and plans:
        gradient = auto_gradient(layered)
    if not plans or gradient == "backprop":
        return values
    if gradient == "adjoint":
        return adjoint_values(layered, *_adjoint_observables(plans))
    from qjax import gradients  # gradients builds on this module's Program

    return gradients.parameter_shift_values(values, circuit)
