"""Pauli sums with real coefficients: data, algebra, parsing and conversion; the Pauli matrices.

A :class:`PauliSum` names wires explicitly (``"0.5 Z0 Z1 - 1.2 X2 + 0.3"``), never
by position, so it means the same thing in qjax, Qiskit and PennyLane:
``SparsePauliOp("ZI")`` (Z on Qiskit qubit 1) is ``PauliSum.from_string("Z1")``.

The simulator's fast kernels for evaluating a PauliSum on a state live in
:mod:`qjax.sim.pauli`; :meth:`PauliSum.expval` here is the plain gather-and-phase
formula, for checking a state by hand.
"""

from __future__ import annotations

import functools
import numbers
import re
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from qjax.errors import ObservableError

__all__ = ["PauliSum", "as_pauli_sums", "PAULI_MATRICES"]

#: The Pauli matrices (defined once: gates, Clifford conjugation and noise channels use these).
PAULI_MATRICES = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.diag([1, -1]).astype(complex),
}
for _m in PAULI_MATRICES.values():
    _m.setflags(write=False)

Word = tuple[tuple[int, str], ...]
"""A Pauli word: ``((wire, "X"|"Y"|"Z"), ...)`` sorted by wire, identities dropped."""

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<pauli>[IXYZixyz])(?P<wire>\d+)"
    r"|(?P<sign>[+-])|(?P<op>[*@]))"
)


def _real(coeff: Any, where: str) -> float:
    """``coeff`` as a float; complex values must have a negligible imaginary part."""
    try:
        z = complex(coeff)
    except (TypeError, ValueError):
        raise ObservableError(f"coefficient {coeff!r} of {where} is not a number") from None
    if not (np.isfinite(z.real) and np.isfinite(z.imag)):
        raise ObservableError(f"coefficient {coeff!r} of {where} is not finite")
    # Round-off from chemistry packages leaves ~1e-16 imaginary parts; anything
    # larger means the operator is not Hermitian, and its expectation is not real.
    if abs(z.imag) > 1e-10 * max(1.0, abs(z.real)):
        raise ObservableError(
            f"coefficient {z} of {where} is complex; qjax observables must be Hermitian "
            "(real coefficients). Fix the operator or drop its imaginary part."
        )
    return float(z.real)


def _wire(w: Any, where: str) -> int:
    if isinstance(w, bool) or not isinstance(w, numbers.Integral) or int(w) < 0:
        raise ObservableError(f"wire {w!r} in {where} is not a non-negative integer; qjax wires are 0, 1, 2, ...")
    return int(w)


def _word(spec: Any, where: str) -> tuple[Word, int]:
    """Parse one Pauli word; returns it and the largest wire named (identities included)."""
    if isinstance(spec, str):
        pairs = []
        for tok in re.split(r"[\s*@]+", spec.strip()):
            if not tok:
                continue
            m = re.fullmatch(r"([IXYZixyz])(\d+)", tok)
            if not m:
                raise ObservableError(f"cannot read {tok!r} in Pauli word {spec!r}; write words like 'Z0 X3'")
            pairs.append((int(m.group(2)), m.group(1)))
    elif isinstance(spec, dict):
        pairs = list(spec.items())
    else:
        try:
            pairs = [tuple(p) for p in spec]
        except TypeError:
            raise ObservableError(
                f"{where}: a Pauli word is a string 'Z0 X1', a dict {{wire: 'Z'}} or (wire, 'Z') pairs, got {spec!r}"
            ) from None
    word, max_wire, seen = [], -1, set()
    for w, p in pairs:
        w = _wire(w, where)
        p = str(p).upper()
        if p not in ("I", "X", "Y", "Z"):
            raise ObservableError(f"{where}: unknown Pauli {p!r} on wire {w}; use I, X, Y or Z")
        if w in seen:
            raise ObservableError(f"{where}: wire {w} appears twice in one Pauli word; multiply the factors out first")
        seen.add(w)
        max_wire = max(max_wire, w)
        if p != "I":
            word.append((w, p))
    return tuple(sorted(word)), max_wire


def _parse(text: str) -> list[tuple[float, Word | str]]:
    """``"0.5 Z0 Z1 - 1.2 X2 + 0.3"`` → ``[(0.5, "Z0 Z1"), (-1.2, "X2"), (0.3, "")]``."""
    terms: list[tuple[float, Word | str]] = []
    pos = 0
    sign: float = 1.0
    coeff: float | None = None
    factors: list = []

    def finish():
        if coeff is None and not factors:
            raise ObservableError(f"Pauli string {text!r} has a '+' or '-' with no term after it")
        terms.append((sign * (1.0 if coeff is None else coeff), " ".join(factors)))

    text = text.strip()
    if not text:
        raise ObservableError("empty Pauli string; write e.g. '0.5 Z0 Z1 - 1.2 X2 + 0.3' (or '0' for zero)")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ObservableError(
                f"cannot read Pauli string {text!r} at {text[pos:].strip()!r}; "
                "write terms like '0.5 Z0 Z1 - 1.2 X2 + 0.3' (Pauli letter then wire number)"
            )
        pos = m.end()
        if m.group("sign"):
            if coeff is not None or factors:
                finish()
                sign, coeff, factors = 1.0, None, []
            sign *= -1.0 if m.group("sign") == "-" else 1.0
        elif m.group("num"):
            if coeff is not None or factors:
                raise ObservableError(f"Pauli string {text!r}: missing '+' or '-' before {m.group('num')!r}")
            coeff = float(m.group("num"))
        elif m.group("pauli"):
            factors.append(m.group("pauli") + m.group("wire"))
    finish()
    return terms


class PauliSum:
    """An immutable, hashable sum ``Σ c_t P_t`` of Pauli words with real coefficients.

    ``PauliSum(terms, num_wires=None)`` takes a string (see :meth:`from_string`), a
    dict ``{word: coeff}`` or a list of ``(coeff, word)`` pairs, where a word is a
    string ``"Z0 Z1"``, a dict ``{wire: "X"}`` or ``(wire, "X")`` pairs. Equal words
    are merged and zero coefficients dropped. ``num_wires`` defaults to the largest
    wire named (identities included) plus one.

    ``terms`` is a tuple of ``(coeff, word)`` with ``word = ((wire, "X"|"Y"|"Z"), ...)``
    sorted by wire; the empty word is the identity (constant term).
    """

    __slots__ = ("_terms", "_num_wires", "_hash")

    def __init__(self, terms: Any = (), num_wires: int | None = None):
        if isinstance(terms, PauliSum):
            items, given_max = [(c, w) for c, w in terms.terms], terms.num_wires - 1
        else:
            if isinstance(terms, str):
                terms = _parse(terms)
            elif isinstance(terms, dict):
                terms = [(c, w) for w, c in terms.items()]
            items, given_max = list(terms), -1
        acc: dict[Word, float] = {}
        max_wire = given_max
        for k, item in enumerate(items):
            try:
                coeff, spec = item
            except (TypeError, ValueError):
                raise ObservableError(f"term {k} is {item!r}; a term is a (coeff, word) pair") from None
            where = f"term {k} ({spec!r})"
            word, mw = _word(spec, where)
            acc[word] = acc.get(word, 0.0) + _real(coeff, where)
            max_wire = max(max_wire, mw)
        if num_wires is None:
            num_wires = max_wire + 1
        elif isinstance(num_wires, bool) or not isinstance(num_wires, numbers.Integral) or num_wires < max_wire + 1:
            raise ObservableError(
                f"num_wires={num_wires!r} but the Pauli sum names wire {max_wire}; pass num_wires >= {max_wire + 1}"
            )
        kept = [(c, w) for w, c in acc.items() if c != 0.0]
        self._terms = tuple(sorted(kept, key=lambda t: (len(t[1]), t[1])))
        self._num_wires = int(num_wires)
        self._hash = hash((self._terms, self._num_wires))

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_string(cls, text: str, num_wires: int | None = None) -> "PauliSum":
        """Parse ``"0.5 Z0 Z1 - 1.2 X2 + 0.3"`` (``*``/``@`` between factors are allowed)."""
        return cls(_parse(text), num_wires)

    @classmethod
    def from_qiskit(cls, op: Any) -> "PauliSum":
        """From a ``SparsePauliOp`` (or ``Pauli``): Qiskit qubit k becomes wire k.

        Qiskit labels are little-endian, so ``SparsePauliOp("ZI")`` is Z on wire 1.
        """
        from qiskit.quantum_info import SparsePauliOp

        try:
            op = op if isinstance(op, SparsePauliOp) else SparsePauliOp(op)
        except Exception as exc:  # qiskit raises its own QiskitError types
            raise ObservableError(f"cannot read {op!r} as a qiskit SparsePauliOp: {exc}") from None
        if op.coeffs.dtype == object:
            raise ObservableError("SparsePauliOp has symbolic (Parameter) coefficients; bind them to numbers first")
        n = op.num_qubits
        terms = []
        for label, coeff in op.to_list():
            word = tuple((n - 1 - i, p) for i, p in enumerate(label) if p != "I")
            terms.append((_real(coeff, f"SparsePauliOp term {label!r}"), word))
        return cls(terms, n)

    @classmethod
    def from_pennylane(cls, op: Any) -> "PauliSum":
        """From a PennyLane operator with a Pauli representation (Hamiltonian, Sum, Prod, PauliZ, ...).

        PennyLane wires must be integers; wire w becomes qjax wire w.
        """
        import pennylane as qml
        from pennylane.pauli import PauliSentence, PauliWord

        if isinstance(op, PauliWord):
            op = PauliSentence({op: 1.0})
        if isinstance(op, PauliSentence):
            sentence, wires = op, list(op.wires)
        elif isinstance(op, qml.operation.Operator):
            sentence, wires = op.pauli_rep, list(op.wires)
            if sentence is None:
                raise ObservableError(
                    f"PennyLane operator {op!r} is not a sum of Pauli words; express it with "
                    "PauliX/Y/Z, Identity, products and sums (e.g. qml.pauli_decompose(matrix))"
                )
        else:
            raise ObservableError(f"expected a PennyLane operator or PauliSentence, got {type(op).__name__}")
        for w in wires:
            if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 0:
                raise ObservableError(
                    f"PennyLane wire {w!r} is not a non-negative integer; qjax wires are integers. "
                    "Relabel with qml.map_wires(op, {old: new_int, ...}) first."
                )
        terms = [(_real(c, f"PennyLane term {dict(word)}"), dict(word)) for word, c in sentence.items()]
        return cls(terms, max((int(w) for w in wires), default=-1) + 1)

    # -- inspection -----------------------------------------------------------

    @property
    def terms(self) -> tuple[tuple[float, Word], ...]:
        return self._terms

    @property
    def num_wires(self) -> int:
        return self._num_wires

    @property
    def wires(self) -> tuple[int, ...]:
        """Wires some term acts on non-trivially, sorted."""
        return tuple(sorted({w for _, word in self._terms for w, _ in word}))

    @property
    def is_diagonal(self) -> bool:
        """True when every term is a product of Z's (diagonal in the computational basis)."""
        return all(p == "Z" for _, word in self._terms for _, p in word)

    def __len__(self) -> int:
        return len(self._terms)

    def __eq__(self, other):
        if not isinstance(other, PauliSum):
            return NotImplemented
        return self._terms == other._terms and self._num_wires == other._num_wires

    def __hash__(self):
        return self._hash

    def __setattr__(self, name, value):
        if hasattr(self, "_hash"):
            raise AttributeError("PauliSum is immutable; build a new one with +, - or *")
        object.__setattr__(self, name, value)

    def __str__(self):
        parts = []
        for k, (c, word) in enumerate(self._terms):
            mag = repr(abs(c))
            mag = mag[:-2] if mag.endswith(".0") else mag
            body = " ".join([mag] + [f"{p}{w}" for w, p in word])
            parts.append(("-" if c < 0 else "") + body if k == 0 else ("- " if c < 0 else "+ ") + body)
        return " ".join(parts) if parts else "0"

    def __repr__(self):
        return f"PauliSum({str(self)!r}, num_wires={self._num_wires})"

    # -- arithmetic -------------------------------------------------------------

    def _coerce(self, other) -> "PauliSum | None":
        if isinstance(other, PauliSum):
            return other
        if isinstance(other, numbers.Real):
            return PauliSum([(float(other), ())])
        return None

    def __add__(self, other):
        other = self._coerce(other)
        if other is None:
            return NotImplemented
        return PauliSum(list(self._terms) + list(other._terms), max(self._num_wires, other._num_wires))

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        other = self._coerce(other)
        return NotImplemented if other is None else self + (-other)

    def __rsub__(self, other):
        other = self._coerce(other)
        return NotImplemented if other is None else other + (-self)

    def __mul__(self, k):
        if isinstance(k, numbers.Real):
            return PauliSum([(c * float(k), w) for c, w in self._terms], self._num_wires)
        if isinstance(k, numbers.Complex):
            raise ObservableError(f"cannot scale a PauliSum by complex {k}: coefficients must stay real")
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, k):
        return self * (1.0 / k) if isinstance(k, numbers.Real) else NotImplemented

    # -- conversion and dense linear algebra ------------------------------------

    def _width(self, num_qubits: int | None) -> int:
        n = max(self._num_wires, 1) if num_qubits is None else int(num_qubits)
        if n < max(self._num_wires, 1):
            raise ObservableError(f"num_qubits={num_qubits} is smaller than the Pauli sum's {self._num_wires} wires")
        return n

    def _labels(self, n: int, *, wire0_left: bool) -> list[tuple[str, float]]:
        out = []
        for c, word in self._terms:
            chars = ["I"] * n
            for w, p in word:
                chars[w if wire0_left else n - 1 - w] = p
            out.append(("".join(chars), c))
        return out or [("I" * n, 0.0)]

    def to_qiskit(self, num_qubits: int | None = None):
        """A ``SparsePauliOp`` on ``num_qubits`` (default ``num_wires``) qubits; wire k → qubit k."""
        from qiskit.quantum_info import SparsePauliOp

        n = self._width(num_qubits)
        return SparsePauliOp.from_list(self._labels(n, wire0_left=False), num_qubits=n)

    def to_pennylane(self):
        """A PennyLane ``LinearCombination`` (``qml.Hamiltonian``) with integer wires."""
        import pennylane as qml

        paulis = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
        coeffs, ops = [], []
        for c, word in self._terms or ((0.0, ()),):
            factors = [paulis[p](w) for w, p in word]
            ops.append(qml.Identity(0) if not factors else factors[0] if len(factors) == 1 else qml.prod(*factors))
            coeffs.append(c)
        return qml.Hamiltonian(coeffs, ops)

    def to_matrix(self, sparse: bool = True, num_qubits: int | None = None):
        """The ``(2**n, 2**n)`` matrix in qjax's order (wire 0 = most significant bit).

        Returns a ``scipy.sparse.csr_matrix`` when ``sparse`` else a dense ndarray.
        """
        from qiskit.quantum_info import SparsePauliOp

        n = self._width(num_qubits)
        # A Qiskit label's leftmost character is its most significant qubit, so
        # putting wire 0 leftmost gives qjax's (big-endian) ordering directly.
        op = SparsePauliOp.from_list(self._labels(n, wire0_left=True), num_qubits=n)
        return op.to_matrix(sparse=sparse)

    def diagonal(self, num_qubits: int | None = None) -> np.ndarray:
        """``(2**n,)`` float64 diagonal of a Z-only sum (e.g. a QAOA cost)."""
        if not self.is_diagonal:
            raise ObservableError("diagonal() needs a Z-only Pauli sum; this one has X or Y terms")
        return _z_diagonal(self._terms, self._width(num_qubits))

    def ground_energy(self, num_qubits: int | None = None) -> float:
        """Smallest eigenvalue by exact diagonalisation (dense ≤ 10 qubits, else Lanczos)."""
        n = self._width(num_qubits)
        if self.is_diagonal:
            return float(self.diagonal(n).min())
        if n <= 10:
            return float(np.linalg.eigvalsh(self.to_matrix(sparse=False, num_qubits=n)).min())
        from scipy.sparse.linalg import eigsh

        return float(eigsh(self.to_matrix(sparse=True, num_qubits=n), k=1, which="SA")[0][0])

    def expval(self, state) -> jnp.ndarray:
        """``<state|H|state>`` for a ``(2**n,)`` state vector (n ≥ num_wires); real scalar."""
        state = jnp.asarray(state)
        n = int(np.log2(state.shape[-1]))
        if state.ndim != 1 or 2**n != state.shape[0]:
            raise ObservableError(f"expval needs a (2**n,) state vector, got shape {state.shape}")
        return _jitted_expval(self, n)(state)


@functools.lru_cache(maxsize=64)
def _jitted_expval(obs: PauliSum, n: int):
    # P|b> = i**ny (-1)**popcount(b & z) |b ^ f>, so <ψ|P|ψ> = Σ_b conj(ψ[b ^ f]) phase(b) ψ[b];
    # the flips and phases are numpy constants, the state the only traced input.
    index = np.arange(2**n, dtype=np.int64)
    flips, phases = [], []
    for c, word in obs.terms:
        f = sum(1 << (n - 1 - w) for w, p in word if p in "XY")
        z = np.int64(sum(1 << (n - 1 - w) for w, p in word if p in "YZ"))
        ny = sum(p == "Y" for _, p in word)
        flips.append(index ^ f)
        phases.append(c * 1j**ny * (1.0 - 2.0 * (np.bitwise_count(index & z) & 1)))

    def value(state):
        if not flips:
            return jnp.zeros((), jnp.real(state).dtype)
        flipped = state[jnp.asarray(np.stack(flips))]  # (T, 2**n)
        weights = jnp.asarray(np.stack(phases), state.dtype)
        return jnp.real(jnp.sum(jnp.conj(flipped) * weights * state))

    return jax.jit(value)


def _z_diagonal(terms, n: int) -> np.ndarray:
    index = np.arange(2**n, dtype=np.uint64)
    diag = np.zeros(2**n)
    for c, word in terms:
        mask = sum(1 << (n - 1 - w) for w, _ in word)
        diag += c * (1.0 - 2.0 * (np.bitwise_count(index & np.uint64(mask)) & 1))
    return diag


def as_pauli_sums(observables: Iterable[Any]) -> tuple[PauliSum, ...]:
    """Each of ``observables`` as a PauliSum (PauliSum, str, SparsePauliOp or PennyLane op)."""
    out = []
    for obs in observables:
        if isinstance(obs, PauliSum):
            out.append(obs)
        elif isinstance(obs, str):
            out.append(PauliSum.from_string(obs))
        elif type(obs).__module__.startswith("qiskit"):
            out.append(PauliSum.from_qiskit(obs))
        elif type(obs).__module__.startswith("pennylane"):
            out.append(PauliSum.from_pennylane(obs))
        else:
            raise ObservableError(
                f"observable {obs!r} of type {type(obs).__name__} is not supported; pass a qjax.PauliSum, "
                "a Pauli string like '0.5 Z0 Z1', a qiskit SparsePauliOp or a PennyLane operator"
            )
    return tuple(out)
