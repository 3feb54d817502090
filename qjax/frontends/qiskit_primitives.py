"""Qiskit's V2 primitives backed by qjax's statevector simulator (public as :mod:`qjax.primitives`).

:class:`Estimator` implements ``BaseEstimatorV2`` and :class:`Sampler`
``BaseSamplerV2``; both are drop-in replacements for Qiskit's
``StatevectorEstimator`` / ``StatevectorSampler`` (same constructor arguments,
PUBs, broadcasting, result containers and metadata) that any Qiskit program, from
qiskit-machine-learning to qiskit-algorithms, can be handed.

How they run a job: each PUB is coerced (and validated) by Qiskit's own
``EstimatorPub`` / ``SamplerPub``, so malformed PUBs get Qiskit's usual
``ValueError`` naming the shapes. PUBs of one job that share a circuit (by content)
are evaluated together: the circuit is converted (:mod:`qjax.frontends.qiskit_circuits`)
and compiled once per primitive (an LRU cache of 64 circuits), and every parameter
set of every such PUB goes through one ``jax.vmap``-ed, jit-compiled call. Batches
are padded to a power of two so a training loop never retraces.

Qubit order: Qiskit qubit k is qjax wire k; bitstrings in the ``BitArray`` s are
Qiskit's (clbit 0 is the rightmost character).
"""

from __future__ import annotations

import collections
import functools
import math
import warnings
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from qiskit.primitives import (
    BaseEstimatorV2,
    BaseSamplerV2,
    BitArray,
    DataBin,
    PrimitiveJob,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub, EstimatorPubLike
from qiskit.primitives.containers.sampler_pub import SamplerPub, SamplerPubLike

from qjax.errors import ObservableError
from qjax.frontends.qiskit_circuits import CircuitKey, PreparedCircuit, circuit_key, final_measurements, prepare
from qjax.ir.pauli import PauliSum
from qjax.sim.checks import check_dtype
from qjax.sim.compile import compile as compile_circuit

__all__ = ["Estimator", "Sampler"]

_CACHE_SIZE = 64
# Rows of one vmapped call: at most _MAX_ROWS, and at most _MAX_AMPLITUDES amplitudes of
# statevector in all; larger batches run in several calls of that size.
_MAX_ROWS = 64
_MAX_AMPLITUDES = 2**15


def _bucket(rows: int, num_wires: int) -> int:
    """Rows per call: the next power of two (few shapes, so few traces), capped."""
    cap = max(1, min(_MAX_ROWS, _MAX_AMPLITUDES >> num_wires))
    return min(1 << max(0, math.ceil(math.log2(max(rows, 1)))), 1 << int(math.log2(cap)))


def _evaluate(fn: Callable, rows: np.ndarray, num_wires: int, real_dtype) -> np.ndarray:
    """``fn`` (jit of vmap) over ``rows (N, P)`` in padded chunks; the stacked outputs, N first."""
    size = _bucket(rows.shape[0], num_wires)
    outs = []
    for start in range(0, max(rows.shape[0], 1), size):  # an empty batch still runs one padded row: the output shape
        chunk = rows[start : start + size]
        padded = np.zeros((size, rows.shape[1]), dtype=real_dtype)
        padded[: chunk.shape[0]] = chunk
        outs.append(np.asarray(fn(jnp.asarray(padded)))[: chunk.shape[0]])
    return np.concatenate(outs, axis=0)


class _Cache:
    """A small LRU dict (Qiskit programs reuse a handful of circuits; memory stays bounded)."""

    def __init__(self, size: int = _CACHE_SIZE):
        self._size = size
        self._items: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = build()
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return value


class _Simulator:
    """What both primitives share: dtype, seed, the x64 mode of the caller, the caches."""

    def __init__(self, seed, dtype):
        self._seed = seed
        self._dtype = check_dtype(dtype)  # complex128 without x64: qjax.compile's PrecisionError
        self._dtype_name = self._dtype.name
        self._real = np.float64 if self._dtype == np.complex128 else np.float32
        self._prepared = _Cache()
        self._functions = _Cache()

    @property
    def seed(self) -> np.random.Generator | int | None:
        """The seed or Generator for the random numbers (noise, shots); None: a fresh seed."""
        return self._seed

    @property
    def dtype(self) -> np.dtype:
        """The statevector's dtype: complex64 (default) or complex128."""
        return self._dtype

    def _submit(self, run: Callable, pubs: list) -> PrimitiveJob:
        # The job runs in a worker thread; JAX's x64 mode may be set thread-locally
        # (jax.enable_x64), so it is checked here and replayed there.
        check_dtype(self._dtype)
        x64 = bool(jax.config.read("jax_enable_x64"))

        def in_mode(pubs):
            with jax.enable_x64(x64):
                return run(pubs)

        job = PrimitiveJob(in_mode, pubs)
        job._submit()
        return job

    def _circuit(self, qc, seen: dict) -> PreparedCircuit:
        # Within one job a circuit object cannot change: it is looked up once per object.
        prepared = seen.get(id(qc))
        if prepared is None:
            key = circuit_key(qc)
            prepared = seen[id(qc)] = self._prepared.get(key, lambda: prepare(qc, key))
        return prepared

    def _metadata(self, pub) -> dict:
        return {"circuit_metadata": pub.circuit.metadata, "simulator": "qjax", "dtype": self._dtype_name}


def _values(prepared: PreparedCircuit, bindings) -> np.ndarray:
    """A PUB's ``BindingsArray`` as ``(*shape, P)`` in the circuit's parameter order."""
    data = bindings.data
    if len(data) == 1:
        ((names, array),) = data.items()
        if names == prepared.names:  # values given as one array in qc.parameters order: the usual case
            return array
    return bindings.as_array(prepared.parameters)


def _pauli_sum(observable: dict, num_qubits: int) -> PauliSum:
    """An ``ObservablesArray`` entry (``{label: coeff}``, little-endian labels) as a PauliSum."""
    terms = []
    for label, coeff in observable.items():
        if set(label) - set("IXYZ"):
            raise ObservableError(
                f"observable term {label!r} is not a Pauli word; the qjax Estimator takes Pauli "
                "observables (SparsePauliOp, Pauli, or labels of I, X, Y, Z)"
            )
        terms.append((float(np.real(coeff)), tuple((num_qubits - 1 - i, p) for i, p in enumerate(label) if p != "I")))
    return PauliSum(terms, num_qubits)


class Estimator(_Simulator, BaseEstimatorV2):
    """``BaseEstimatorV2`` on qjax's statevector simulator (exact expectation values).

    Args:
      default_precision: the precision of a PUB that names none. 0 (default) gives
        exact values; a precision ``p > 0`` adds Gaussian noise of standard deviation
        ``p`` to each value (as ``StatevectorEstimator`` does) and reports ``stds = p``.
      seed: an int or ``numpy.random.Generator`` for that noise (None: fresh entropy).
      dtype: ``jnp.complex64`` (default) or ``jnp.complex128`` (needs JAX's x64 mode).

    Observables must be Pauli sums with real coefficients (``SparsePauliOp``, ``Pauli``,
    label strings or dicts). Results: ``PrimitiveResult`` of ``PubResult`` s whose
    ``data`` holds ``evs`` and ``stds`` of the PUB's broadcast shape; metadata
    ``target_precision``, ``circuit_metadata``, ``simulator`` and ``dtype``.

    Example::

        from qjax.primitives import Estimator
        job = Estimator().run([(circuit, SparsePauliOp("ZZ"), params)])  # params: (..., P)
        evs = job.result()[0].data.evs
    """

    def __init__(
        self, *, default_precision: float = 0.0, seed: np.random.Generator | int | None = None, dtype=jnp.complex64
    ):
        super().__init__(seed, dtype)
        self._default_precision = default_precision
        self._pauli_sums = _Cache(4096)

    @property
    def default_precision(self) -> float:
        """The precision of PUBs that name none (0: exact)."""
        return self._default_precision

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> PrimitiveJob:
        """Estimate the expectation values of ``pubs``: ``(circuit, observables[, parameter_values[, precision]])``."""
        if precision is None:
            precision = self._default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        return self._submit(self._run, coerced)

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult:
        rng = np.random.default_rng(self._seed)
        seen: dict = {}
        groups: dict[CircuitKey, list[int]] = {}
        for i, pub in enumerate(pubs):
            groups.setdefault(self._circuit(pub.circuit, seen).key, []).append(i)
        evs: list = [None] * len(pubs)
        for members in groups.values():
            for i, values in zip(members, self._run_group([pubs[i] for i in members], seen)):
                evs[i] = values
        results = []
        for pub, values in zip(pubs, evs):
            stds = np.zeros_like(values)
            if pub.precision != 0:
                values = np.asarray(rng.normal(values, pub.precision))
                stds = np.full_like(values, pub.precision)
            metadata = {"target_precision": pub.precision, **self._metadata(pub)}
            results.append(PubResult(DataBin(evs=values, stds=stds, shape=values.shape), metadata=metadata))
        return PrimitiveResult(results, metadata={"version": 2})

    def _run_group(self, pubs: list[EstimatorPub], seen: dict) -> list[np.ndarray]:
        """Expectation values of PUBs that share one circuit, all parameter sets in one batch."""
        prepared = self._circuit(pubs[0].circuit, seen)
        n = prepared.circuit.num_wires
        observables: dict[PauliSum, int] = {}
        obs_index, row_blocks, row_index, offset = [], [], [], 0
        for pub in pubs:
            index = np.empty(pub.observables.shape, dtype=np.int64)
            for pos in np.ndindex(*pub.observables.shape):
                entry = pub.observables[pos]
                key = tuple(sorted(entry.items()))
                obs = self._pauli_sums.get((key, n), functools.partial(_pauli_sum, entry, n))
                index[pos] = observables.setdefault(obs, len(observables))
            obs_index.append(index)
            values = _values(prepared, pub.parameter_values)
            shape = values.shape[:-1]
            rows = prepared.parameter_matrix(values)
            row_blocks.append(rows)
            row_index.append(offset + np.arange(rows.shape[0]).reshape(shape))
            offset += rows.shape[0]
        rows = np.concatenate(row_blocks, axis=0)
        if rows.shape[1]:
            # Repeated parameter sets (one PUB per observable of a QNN) are simulated once.
            rows, inverse = np.unique(rows, axis=0, return_inverse=True)
        else:
            rows, inverse = rows[:1], np.zeros(rows.shape[0], dtype=np.int64)
        inverse = inverse.reshape(-1)
        obs = tuple(observables)
        fn = self._functions.get((prepared.key, obs, self._dtype.name), lambda: self._expval_function(prepared, obs))
        table = _evaluate(fn, rows, n, self._real).astype(np.float64)  # (unique rows, observables)
        out = []
        for ri, oi in zip(row_index, obs_index):
            r, o = np.broadcast_arrays(inverse[ri], oi)
            out.append(np.asarray(table[r, o], dtype=np.float64))
        return out

    def _expval_function(self, prepared: PreparedCircuit, obs: tuple[PauliSum, ...]) -> Callable:
        compiled = compile_circuit(prepared.circuit, list(obs), dtype=self._dtype, gradient="backprop")
        return jax.jit(jax.vmap(compiled.expval))


class Sampler(_Simulator, BaseSamplerV2):
    """``BaseSamplerV2`` on qjax's statevector simulator.

    Args:
      default_shots: the shots of a PUB that names none (1024, as ``StatevectorSampler``).
      seed: an int or ``numpy.random.Generator`` for the shots (None: fresh entropy).
      dtype: ``jnp.complex64`` (default) or ``jnp.complex128`` (needs JAX's x64 mode).

    Circuits are measured by their final measurements (mid-circuit measurements,
    resets and control flow are refused). The result's ``data`` holds one ``BitArray``
    per classical register, named as the register, of the PUB's shape with ``shots``
    shots each; a bit no measurement writes reads 0. Metadata: ``shots``,
    ``circuit_metadata``, ``simulator``, ``dtype``.

    Example::

        from qjax.primitives import Sampler
        result = Sampler(seed=7).run([(circuit, params)], shots=1000).result()[0]
        counts = result.data.meas.get_counts()
    """

    def __init__(
        self, *, default_shots: int = 1024, seed: np.random.Generator | int | None = None, dtype=jnp.complex64
    ):
        super().__init__(seed, dtype)
        self._default_shots = default_shots

    @property
    def default_shots(self) -> int:
        """The shots of PUBs that name none."""
        return self._default_shots

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> PrimitiveJob:
        """Sample ``pubs``: ``(circuit[, parameter_values[, shots]])``."""
        if shots is None:
            shots = self._default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        if any(len(pub.circuit.cregs) == 0 for pub in coerced):
            warnings.warn(
                "One of your circuits has no output classical registers and so the result "
                "will be empty. Did you mean to add measurement instructions?",
                UserWarning,
                stacklevel=2,
            )
        return self._submit(self._run, coerced)

    def _run(self, pubs: list[SamplerPub]) -> PrimitiveResult:
        rng = np.random.default_rng(self._seed)
        seen: dict = {}
        return PrimitiveResult([self._run_pub(pub, rng, seen) for pub in pubs], metadata={"version": 2})

    def _run_pub(self, pub: SamplerPub, rng: np.random.Generator, seen: dict) -> SamplerPubResult:
        registers = final_measurements(pub.circuit)
        prepared = self._circuit(pub.circuit, seen)
        measured = tuple(sorted({q for bits in registers.values() for q in bits if q is not None}))
        values = _values(prepared, pub.parameter_values)
        shape, shots = values.shape[:-1], pub.shots
        bits = np.zeros((math.prod(shape), shots, len(measured)), dtype=bool)
        if measured:
            fn = self._functions.get(
                (prepared.key, measured, self._dtype.name), lambda: self._probs_function(prepared, measured)
            )
            probs = _evaluate(fn, prepared.parameter_matrix(values), prepared.circuit.num_wires, self._real)
            shifts = np.arange(len(measured) - 1, -1, -1)
            for b, p in enumerate(probs.astype(np.float64)):
                outcomes = rng.choice(p.size, size=shots, p=p / p.sum())
                bits[b] = (outcomes[:, None] >> shifts) & 1  # column j: qubit measured[j]
        column = {q: j for j, q in enumerate(measured)}
        data = {}
        for name, sources in registers.items():
            reg = np.zeros((bits.shape[0], shots, len(sources)), dtype=bool)
            for i, q in enumerate(sources):
                if q is not None:
                    reg[..., i] = bits[..., column[q]]
            data[name] = BitArray.from_bool_array(reg.reshape(shape + (shots, len(sources))), order="little")
        metadata = {"shots": shots, **self._metadata(pub)}
        return SamplerPubResult(DataBin(**data, shape=shape), metadata=metadata)

    def _probs_function(self, prepared: PreparedCircuit, measured: tuple[int, ...]) -> Callable:
        """``params (B, P) -> (B, 2**len(measured))``: the marginal over ``measured`` (first = most significant)."""
        compiled = compile_circuit(prepared.circuit, dtype=self._dtype)
        n = prepared.circuit.num_wires
        others = tuple(w for w in range(n) if w not in measured)

        def marginal(params):
            p = compiled.probs(params).reshape((2,) * n)
            # The axes left are the measured wires, in increasing order (``measured`` is sorted).
            return (jnp.sum(p, axis=others) if others else p).reshape(-1)

        return jax.jit(jax.vmap(marginal))
