"""Compile a :class:`~qjax.ir.circuit.Circuit` with noise into pure JAX functions.

Two methods, one interface (:func:`compile_noisy`):

- ``density_matrix``: exact. ρ is a ``(2,)*2n`` tensor (axes ``0..n-1`` the ket
  wires, ``n..2n-1`` the bra wires, wire 0 = most significant bit). A noiseless
  gate is applied as ``U ρ U†`` (diagonal gates by broadcasting); a gate followed
  by noise is one superoperator ``S = N · (U ⊗ U*)`` on its ket and bra axes, with
  N, the product of the channels after it, fixed at compile time.
- ``trajectories``: Monte-Carlo wave functions, vmapped over PRNG keys. After a
  noisy gate, Kraus operator ``K_r`` of the (compile-time, minimal) Kraus set is
  drawn with probability ``‖K_r ψ‖²`` and ψ renormalised, so the mean of
  ``|ψ⟩⟨ψ|`` is the density matrix. The keys are fixed when compiling, so the
  estimate is a deterministic function of the parameters; its reverse-mode
  derivative is the parameter-shift rule over the same keys (sampling a branch is
  not differentiable, shifting an angle is).

Readout errors are classical: they act on probabilities (``probs``, ``sample``)
and, for expectations, turn each Pauli factor P_q of a term into
``a_q + c_q P_q`` with ``a_q = p10 − p01``, ``c_q = 1 − p01 − p10`` (what reading
the rotated qubit through its confusion matrix gives).

Gate matrices and the angle map come from :func:`qjax.sim.program.lower`, so every table
gate works here too.
"""

from __future__ import annotations

import itertools
import numbers
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.errors import ConfigError, ObservableError
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.noise.channels import Channel, NoiseModel, Schedule
from qjax.schemas import DENSITY_MATRIX_MAX_QUBITS  # defined with the config limits (qjax.resources needs it)
from qjax.sim.checks import (
    angle_function,
    check_circuit,
    check_dtype,
    observables_of,
    sampler,
)
from qjax.sim.gradients import parameter_shift_values
from qjax.sim.pauli import parity_sum
from qjax.sim.program import Program, Step, apply, lower

__all__ = [
    "compile_noisy",
    "NoisyCompiled",
    "METHODS",
    "DENSITY_MATRIX_MAX_QUBITS",
    "readout_words",
    "noisy_shift_values",
]

METHODS = ("auto", "density_matrix", "trajectories")
# Amplitudes of all trajectories held at once (the rest run sequentially): ~128 MiB in complex64.
_TRAJECTORY_BATCH_ELEMENTS = 2**24


class NoisyCompiled(NamedTuple):
    """What :func:`compile_noisy` returns (P params, F inputs, n wires, k observables, T terms).

    - ``density(params, x=None)`` → ``(2**n, 2**n)`` ρ (``density_matrix`` only).
    - ``probs(params, x=None)`` → ``(2**n,) real``, readout errors included.
    - ``sample(key, params, shots, x=None)`` → ``(shots, n)`` bits through the readout errors.
    - ``expval(params, x=None)`` → ``()`` or ``(k,)`` real, readout included.
    - ``term_values(params, x=None)`` → ``(T,)``: ⟨each Pauli term⟩ with readout, so
      that ``expval = term_coeffs @ term_values + constants`` (for shot sampling).
    - ``values(angles)`` → ``(k,)`` from the circuit's gate angles ``(G,)``; its VJP is
      backprop (density matrix) or parameter shift (trajectories).
    """

    density: Callable | None
    probs: Callable
    sample: Callable
    expval: Callable
    term_values: Callable
    values: Callable
    term_coeffs: np.ndarray  # (k, T)
    constants: np.ndarray  # (k,)
    circuit: Circuit
    observables: tuple[PauliSum, ...]
    method: str
    num_params: int
    num_inputs: int
    dtype: Any


# -- readout on observables ----------------------------------------------------------------


def readout_words(word, confusions) -> list[tuple[float, tuple]]:
    """A Pauli word as measured through per-wire readout confusion matrices.

    Returns ``[(factor, subword), ...]``: ⟨word⟩ read out equals ``Σ factor · ⟨subword⟩``.
    """
    parts: list[tuple] = []
    for w, p in word:
        m = confusions[w] if w < len(confusions) else None
        if m is None:
            parts.append(((1.0, ((w, p),)),))
            continue
        p01, p10 = float(m[0, 1]), float(m[1, 0])
        a, c = p10 - p01, 1.0 - p01 - p10
        parts.append(tuple(x for x in ((c, ((w, p),)), (a, ())) if x[0] != 0.0))
    out = []
    for combo in itertools.product(*parts):
        factor = float(np.prod([f for f, _ in combo])) if combo else 1.0
        out.append((factor, tuple(wp for _, sub in combo for wp in sub)))
    return out


class _Words(NamedTuple):
    """The distinct Pauli words to measure, and how terms and observables combine them."""

    words: tuple[tuple, ...]  # (W,) words, sorted by wire
    term_matrix: np.ndarray  # (T, W): ⟨term t⟩ read out = term_matrix[t] @ ⟨words⟩
    term_coeffs: np.ndarray  # (k, T)
    constants: np.ndarray  # (k,) identity terms (not sampled)


def _words(observables, confusions) -> _Words:
    index: dict[tuple, int] = {}
    rows, owners, coeffs, consts = [], [], [], np.zeros(len(observables))
    for k, obs in enumerate(observables):
        for c, word in obs.terms:
            if not word:
                consts[k] += c
                continue
            row: dict = {}
            for factor, sub in readout_words(word, confusions):
                j = index.setdefault(sub, len(index))
                row[j] = row.get(j, 0.0) + factor
            rows.append(row)
            owners.append(k)
            coeffs.append(c)
    W, T = len(index), len(rows)
    term_matrix = np.zeros((T, W))
    for t, row in enumerate(rows):
        for j, v in row.items():
            term_matrix[t, j] = v
    term_coeffs = np.zeros((len(observables), T))
    for t, (k, c) in enumerate(zip(owners, coeffs)):
        term_coeffs[k, t] = c
    return _Words(tuple(sorted(index, key=lambda word: index[word])), term_matrix, term_coeffs, consts)


def _word_masks(word, n: int):
    flips = tuple(w for w, p in word if p in "XY")
    phases = tuple(w for w, p in word if p in "YZ")
    ny = sum(p == "Y" for _, p in word)
    return flips, phases, 1j**ny


def _density_word_values(rho, words, n: int):
    """``Tr(ρ P_w)`` for each word: ``Σ_c phase_w(c) ρ[c, c ^ f_w]``; ``(W,)`` real.

    Words are grouped by flip wires f: one flip of ρ's bra axes and a strided slice
    (the diagonal) give ``ρ[c, c ^ f]`` for the whole group; no gathers, whose
    reverse-mode scatters are slow to compile.
    """
    d = 2**n
    bits = (np.arange(d)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1  # (d, n), wire 0 first
    groups: dict[tuple, Any] = {}
    out: list = [None] * len(words)
    for j, word in enumerate(words):
        flips, phases, coeff = _word_masks(word, n)
        if flips not in groups:
            flipped = jnp.flip(rho, axis=tuple(n + w for w in flips)) if flips else rho
            groups[flips] = flipped.reshape(-1)[:: d + 1]
        sign = 1 - 2 * (bits[:, list(phases)].sum(axis=1) % 2) if phases else np.ones(d)
        out[j] = jnp.real(coeff * jnp.sum(groups[flips] * jnp.asarray(sign, rho.real.dtype)))
    return jnp.stack(out) if out else jnp.zeros((0,), rho.real.dtype)


def _state_word_values(psi, words, n: int):
    """``⟨ψ|P_w|ψ⟩`` for each word on a ``(2,)*n`` tensor; ``(W,)`` real."""
    out = []
    for word in words:
        flips, phases, coeff = _word_masks(word, n)
        w = jnp.conj(jnp.flip(psi, axis=flips)) * psi if flips else jnp.real(psi) ** 2 + jnp.imag(psi) ** 2
        out.append(jnp.real(coeff * parity_sum(w, phases, n)))
    return jnp.stack(out) if out else jnp.zeros((0,), psi.real.dtype)


# -- noise resolved against the program ------------------------------------------------------


def _embed(kraus: np.ndarray, sub: tuple[int, ...], wires: tuple[int, ...]) -> np.ndarray:
    """Kraus operators on ``sub`` ⊆ ``wires`` as operators on all of ``wires`` (in that order)."""
    k, m, r = len(wires), len(sub), len(kraus)
    rest = [w for w in wires if w not in sub]
    order = list(sub) + rest
    full = np.einsum("rij,kl->rikjl", kraus, np.eye(2 ** (k - m))).reshape(r, 2**k, 2**k)
    perm = [order.index(w) for w in wires]
    t = full.reshape(r, *([2] * (2 * k)))
    t = t.transpose(0, *[1 + p for p in perm], *[1 + k + p for p in perm])
    return t.reshape(r, 2**k, 2**k)


def _step_channel(channels, wires: tuple[int, ...]) -> Channel | None:
    """All ``(channel, sub_wires)`` after one gate, composed into one channel on its ``wires``."""
    total = None
    for channel, sub in channels:
        if not set(sub) <= set(wires):
            raise ConfigError(f"noise on wires {sub} cannot follow a gate on wires {wires}")
        c = Channel(_embed(channel.kraus, tuple(sub), wires), channel.name)
        total = c if total is None else total.then(c)
    if total is None or total.is_identity():
        return None
    return total


class _NoisyStep(NamedTuple):
    step: Step
    superop: np.ndarray | None  # (4**k, 4**k) noise after the gate (times the gate itself when `fused`)
    kraus: np.ndarray | None  # (r, 2**k, 2**k) minimal Kraus set of the noise alone
    fused: bool = False  # an angle-free gate: its superoperator N·(U ⊗ U*) is a compile-time constant


def _noisy_steps(program: Program, schedule: Schedule) -> tuple[_NoisyStep, ...]:
    out = []
    for step, channels in zip(program.steps, schedule):
        channel = _step_channel(channels, step.wires)
        if channel is None:
            out.append(_NoisyStep(step, None, None))
        elif step.fixed is not None:
            u = np.diag(step.fixed) if step.diagonal else step.fixed
            d = len(u)
            unitary = np.einsum("ik,jl->ijkl", u, u.conj()).reshape(d * d, d * d)
            out.append(_NoisyStep(step, channel.superop() @ unitary, channel.minimal().kraus, True))
        else:
            out.append(_NoisyStep(step, channel.superop(), channel.minimal().kraus))
    return tuple(out)


def _bra(step: Step, n: int) -> Step:
    return step._replace(wires=tuple(n + w for w in step.wires))


def _run_density(program: Program, steps: tuple[_NoisyStep, ...], angles):
    """The final ρ as a ``(2,)*2n`` tensor."""
    n, dtype = program.num_wires, program.dtype
    matrices = program.matrices(angles)
    # the barrier keeps XLA from constant-folding |0⟩⟨0| (16M elements at 12 qubits) for seconds
    rho = jax.lax.optimization_barrier(jnp.zeros((2,) * (2 * n), dtype)).at[(0,) * (2 * n)].set(1)
    return _density_steps(program, steps, rho, matrices)


def _step_superop(program: Program, ns: _NoisyStep, matrices):
    """``(4**k, 4**k)`` superoperator of one step: its gate, then its noise."""
    if ns.fused:
        return jnp.asarray(ns.superop, program.dtype)
    u = program.matrix(ns.step, matrices)
    full = jnp.diag(u) if ns.step.diagonal else u
    d = full.shape[0]
    s = jnp.einsum("ik,jl->ijkl", full, jnp.conj(full)).reshape(d * d, d * d)
    return s if ns.superop is None else jnp.asarray(ns.superop, program.dtype) @ s


def _apply_superop(rho, s, wires: tuple[int, ...], n: int):
    return apply(rho, s, Step("superop", wires + tuple(n + w for w in wires), 0, 0, False, None, -1))


def _density_steps(program: Program, steps: tuple[_NoisyStep, ...], rho, matrices):
    """Apply ``steps`` to ρ ``(2,)*2n``.

    One-qubit steps are multiplied into a pending ``4x4`` superoperator per wire
    (small matrices), which the next two-qubit step on that wire absorbs into its
    ``16x16`` one: ρ is touched about once per two-qubit gate, which is what both
    the run time and XLA's compile time scale with.
    """
    n = program.num_wires
    pending: dict[int, Any] = {}
    eye = jnp.eye(4, dtype=program.dtype)

    def flush(rho, wires):
        for w in wires:
            if w in pending:
                rho = _apply_superop(rho, pending.pop(w), (w,), n)
        return rho

    for ns in steps:
        wires = ns.step.wires
        if len(wires) == 1:
            s = _step_superop(program, ns, matrices)
            pending[wires[0]] = s @ pending[wires[0]] if wires[0] in pending else s
        elif len(wires) == 2 and (ns.superop is not None or any(w in pending for w in wires)):
            a, b = (pending.pop(w, eye).reshape(2, 2, 2, 2) for w in wires)
            before = jnp.einsum("ABCD,EFGH->AEBFCGDH", a, b).reshape(16, 16)
            rho = _apply_superop(rho, _step_superop(program, ns, matrices) @ before, wires, n)
        else:
            rho = flush(rho, wires)
            if ns.superop is None:  # noiseless: U ρ U† as two applications (diagonal gates broadcast)
                u = program.matrix(ns.step, matrices)
                rho = apply(apply(rho, u, ns.step), jnp.conj(u), _bra(ns.step, n))
            else:
                rho = _apply_superop(rho, _step_superop(program, ns, matrices), wires, n)
    return flush(rho, sorted(pending))


def _run_trajectory(program: Program, steps: tuple[_NoisyStep, ...], angles, key):
    """One wave-function trajectory: the final ψ as a ``(2,)*n`` tensor."""
    dtype = program.dtype
    matrices = program.matrices(angles)
    psi = program.initial_state()
    noisy = sum(ns.kraus is not None for ns in steps)
    # one draw of all uniforms (a threefry call per step would dominate XLA's compile time)
    uniforms = jax.random.uniform(key, (max(noisy, 1),), program.real_dtype)
    j = 0
    for ns in steps:
        psi = apply(psi, program.matrix(ns.step, matrices), ns.step)
        if ns.kraus is None:
            continue
        wires, k = ns.step.wires, len(ns.step.wires)
        kraus = jnp.asarray(ns.kraus, dtype)
        local = jnp.moveaxis(psi, wires, tuple(range(k))).reshape(2**k, -1)
        reduced = local @ jnp.conj(local).T  # (d, d) reduced density matrix of the gate's wires
        effects = jnp.einsum("rji,rjk->rik", jnp.conj(kraus), kraus)
        p = jnp.maximum(jnp.real(jnp.einsum("rij,ji->r", effects, reduced)), 0.0)
        cdf = jnp.cumsum(p)
        r = jnp.minimum(jnp.sum(cdf < uniforms[j] * cdf[-1]), len(ns.kraus) - 1)  # inverse-CDF draw
        j += 1
        op = kraus[r] / jnp.sqrt(p[r]).astype(dtype)
        psi = apply(psi, op, Step(ns.step.gate, wires, 0, 0, False, None, -1))
    return psi


# -- compile ----------------------------------------------------------------------------------


def noisy_shift_values(values: Callable, circuit: Circuit, method: str, trajectories: int = 1) -> Callable:
    """``values (angles (G,) -> (k,))`` with a parameter-shift VJP, shifted runs batched to fit memory.

    :func:`qjax.sim.gradients.parameter_shift_values` sizes its vmapped batches by a
    ``2**num_wires`` state; a density matrix holds ``4**n`` and trajectories
    ``T · 2**n`` numbers, so it is given a circuit that wide (same operations, same
    shift rules) to size them.
    """
    n = circuit.num_wires
    width = 2 * n if method == "density_matrix" else n + int(np.ceil(np.log2(max(trajectories, 1))))
    return parameter_shift_values(
        values, Circuit(width, circuit.operations, num_params=circuit.num_params, num_inputs=circuit.num_inputs)
    )


def compile_noisy(
    circuit: Circuit,
    noise: NoiseModel | Schedule | None = None,
    observables=None,
    *,
    readout=None,
    dtype=jnp.complex64,
    method: str = "auto",
    trajectories: int = 256,
    seed: int = 0,
) -> NoisyCompiled:
    """Compile ``circuit`` with ``noise`` into pure JAX functions (see :class:`NoisyCompiled`).

    Args:
      circuit: the circuit, run from ``|0…0⟩``.
      noise: a :class:`~qjax.noise.NoiseModel`, or an explicit schedule (one tuple of
        ``(channel, wires)`` per operation), or None (noiseless).
      observables: None, one observable, or a list (PauliSum, strings, SparsePauliOp, ...).
      readout: per-wire confusion matrices (or None per wire); default: the model's.
      dtype: ``jnp.complex64`` or ``jnp.complex128`` (needs x64: never silently downgraded).
      method: ``auto`` (density matrix up to :data:`DENSITY_MATRIX_MAX_QUBITS` wires),
        ``density_matrix`` or ``trajectories``.
      trajectories: number of trajectories (keys fixed from ``seed``).
    """
    check_circuit(circuit, "compile_noisy")
    dt = check_dtype(dtype)
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not known; choose one of {', '.join(METHODS)}")
    n, P, F = circuit.num_wires, circuit.num_params, circuit.num_inputs
    if method == "auto":
        method = "density_matrix" if n <= DENSITY_MATRIX_MAX_QUBITS else "trajectories"
    if isinstance(trajectories, bool) or not isinstance(trajectories, numbers.Integral) or trajectories < 1:
        raise ConfigError(f"trajectories={trajectories!r} is invalid: must be an integer ≥ 1 (e.g. 256)")
    model = noise if isinstance(noise, NoiseModel) else NoiseModel()
    schedule = model.schedule(circuit) if noise is None or isinstance(noise, NoiseModel) else tuple(noise)
    if len(schedule) != len(circuit.operations):
        raise ConfigError(f"the noise schedule has {len(schedule)} entries for {len(circuit.operations)} operations")
    confusions = tuple(readout) if readout is not None else model.confusions(n)
    confusions = tuple(confusions) + (None,) * (n - len(confusions))
    single, obs = observables_of(observables, n)
    table = _words(obs, confusions)
    program = lower(circuit, dt)
    steps = _noisy_steps(program, schedule)
    rd = program.real_dtype
    term_matrix = jnp.asarray(table.term_matrix, rd)
    combine = jnp.asarray(table.term_coeffs @ table.term_matrix, rd)  # (k, W)
    consts = jnp.asarray(table.constants, rd)

    angles_of = angle_function(program, dt, P, F)

    if method == "density_matrix":

        def word_values(angles):
            return _density_word_values(_run_density(program, steps, angles), table.words, n)

        def raw_probs(angles):
            return jnp.real(_run_density(program, steps, angles).reshape(-1)[:: 2**n + 1])

        def density(params, x=None):
            return _run_density(program, steps, angles_of(params, x)).reshape(2**n, 2**n)
    else:
        keys = jax.random.split(jax.random.PRNGKey(int(seed)), int(trajectories))
        batch = max(1, min(int(trajectories), _TRAJECTORY_BATCH_ELEMENTS // 2**n))

        def mean_over(fn):
            def out(angles):
                per = jax.lax.map(lambda key: fn(_run_trajectory(program, steps, angles, key)), keys, batch_size=batch)
                return jnp.mean(per, axis=0)

            return out

        word_values = mean_over(lambda psi: _state_word_values(psi, table.words, n))
        raw_probs = mean_over(lambda psi: (jnp.real(psi) ** 2 + jnp.imag(psi) ** 2).reshape(-1))
        density = None

    def values(angles):
        return combine @ word_values(angles) + consts if len(table.words) else consts

    if method == "trajectories" and obs:
        values = noisy_shift_values(values, circuit, method, trajectories)

    def apply_readout(p):
        t = p.reshape((2,) * n)
        for w, m in enumerate(confusions):
            if m is not None:
                t = jnp.moveaxis(jnp.tensordot(t, jnp.asarray(m, rd), axes=([w], [0])), -1, w)
        return t.reshape(-1)

    def probs(params, x=None):
        return apply_readout(raw_probs(angles_of(params, x)))

    sample = sampler(probs, n)

    def expval(params, x=None):
        if not obs:
            raise ObservableError("compiled without observables; pass observables=... to compile_noisy")
        out = values(angles_of(params, x))
        return out[0] if single else out

    def term_values(params, x=None):
        return term_matrix @ word_values(angles_of(params, x))

    return NoisyCompiled(
        density,
        probs,
        sample,
        expval,
        term_values,
        values,
        table.term_coeffs,
        table.constants,
        circuit,
        obs,
        method,
        P,
        F,
        dt,
    )
