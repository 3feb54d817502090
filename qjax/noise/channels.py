"""Noise channels and noise models for the noisy simulator (pure Python + NumPy, no tracing).

A :class:`Channel` is a CPTP map on k qubits given by Kraus operators (first
qubit = most significant, as for gates). Builders follow Qiskit Aer's
definitions, so a qjax model and the same ``qiskit_aer.noise`` model simulate the
same physics: :func:`depolarizing`, :func:`amplitude_damping`,
:func:`phase_damping`, :func:`thermal_relaxation`; readout errors are classical
2x2 confusion matrices (:func:`readout_confusion`).

A :class:`NoiseModel` says which channels follow which gate (by gate name, by
arity, or on given wires) and which confusion matrix each wire's readout has;
:meth:`NoiseModel.schedule` resolves it against a circuit once, at compile time.
:func:`device_noise` reads a qiskit-ibm-runtime device's calibration the way
Aer's ``NoiseModel.from_backend`` does.

Times are in seconds inside this module (the config speaks microseconds).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from qjax.errors import ConfigError
from qjax.ir.gates import canonical_name
from qjax.ir.pauli import PAULI_MATRICES

__all__ = [
    "Channel",
    "GateNoise",
    "NoiseModel",
    "depolarizing",
    "amplitude_damping",
    "phase_damping",
    "thermal_relaxation",
    "readout_confusion",
    "average_gate_fidelity",
    "device_depolarizing",
    "DeviceNoise",
    "device_noise",
    "Schedule",
]

_PAULIS = tuple(PAULI_MATRICES[p] for p in "IXYZ")


def _probability(value: float, what: str, hi: float = 1.0) -> float:
    value = float(value)
    if not (0.0 <= value <= hi) or math.isnan(value):
        raise ConfigError(f"{what}={value!r} is invalid: must be a probability in [0, {hi:g}]")
    return value


@dataclass(frozen=True, eq=False)
class Channel:
    """A k-qubit CPTP map ``ρ → Σ_i K_i ρ K_i†``; ``kraus`` is ``(r, 2**k, 2**k)`` complex128."""

    kraus: np.ndarray
    name: str = "channel"

    def __post_init__(self):
        k = np.asarray(self.kraus, dtype=np.complex128)
        if k.ndim == 2:
            k = k[None]
        d = k.shape[-1]
        if k.ndim != 3 or k.shape[1] != d or d < 2 or d & (d - 1):
            raise ConfigError(f"channel {self.name}: Kraus operators must be (r, 2**k, 2**k), got {k.shape}")
        if not np.allclose(np.einsum("rji,rjk->ik", k.conj(), k), np.eye(d), atol=1e-8):
            raise ConfigError(f"channel {self.name} is not trace preserving (Σ K†K ≠ I)")
        object.__setattr__(self, "kraus", k)

    @property
    def num_qubits(self) -> int:
        return int(self.kraus.shape[-1]).bit_length() - 1

    def superop(self) -> np.ndarray:
        """``(4**k, 4**k)`` matrix S with ``vec(ρ') = S vec(ρ)``, ``vec`` = row-major ``ρ[i, j] → i·d + j``."""
        return np.einsum("rij,rkl->ikjl", self.kraus, self.kraus.conj()).reshape(self.kraus.shape[-1] ** 2, -1)

    def then(self, other: "Channel") -> "Channel":
        """This channel followed by ``other`` (same width)."""
        return Channel(
            np.einsum("aij,bjk->abik", other.kraus, self.kraus).reshape(-1, *self.kraus.shape[1:]),
            f"{self.name}+{other.name}",
        ).minimal()

    def tensor(self, other: "Channel") -> "Channel":
        """``self ⊗ other``: ``self`` on the leading (more significant) qubits."""
        kraus = np.einsum("aij,bkl->abikjl", self.kraus, other.kraus)
        d = self.kraus.shape[-1] * other.kraus.shape[-1]
        return Channel(kraus.reshape(-1, d, d), f"{self.name}⊗{other.name}").minimal()

    def minimal(self, tol: float = 1e-14) -> "Channel":
        """The same map with the fewest Kraus operators (eigenvectors of its Choi matrix)."""
        d = self.kraus.shape[-1]
        vecs = self.kraus.reshape(len(self.kraus), -1)
        if len(vecs) <= 1:
            return self
        choi = vecs.T @ vecs.conj()  # Σ vec(K) vec(K)†
        w, v = np.linalg.eigh(choi)
        keep = w > tol * max(w.max(), 1.0)
        kraus = (v[:, keep] * np.sqrt(w[keep])).T.reshape(-1, d, d)
        return Channel(kraus, self.name)

    def is_identity(self, tol: float = 1e-15) -> bool:
        s = self.superop()
        return bool(np.allclose(s, np.eye(len(s)), atol=tol, rtol=0))


def depolarizing(p: float, num_qubits: int = 1) -> Channel:
    """Aer's ``depolarizing_error(p, n)``: ``ρ → (1 − p) ρ + p Tr(ρ) I / 2**n``.

    ``p`` may reach ``4**n / (4**n − 1)`` (the uniform Pauli channel), as in Aer.
    """
    n = int(num_qubits)
    p = _probability(p, f"depolarizing_{n}q", 4**n / (4**n - 1))
    paulis = [_kron_all(ps) for ps in itertools.product(_PAULIS, repeat=n)]
    probs = np.full(4**n, p / 4**n)
    probs[0] = 1 - p * (4**n - 1) / 4**n
    return Channel(np.stack([math.sqrt(q) * P for q, P in zip(probs, paulis) if q > 0]), f"depolarizing({p:g})")


def _kron_all(mats: Sequence[np.ndarray]) -> np.ndarray:
    out = np.eye(1)
    for m in mats:
        out = np.kron(out, m)
    return out


def amplitude_damping(gamma: float) -> Channel:
    """Aer's ``amplitude_damping_error(γ)``: |1⟩ decays to |0⟩ with probability γ."""
    g = _probability(gamma, "amplitude_damping")
    return Channel(
        np.stack([np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, math.sqrt(g)], [0, 0]])]),
        f"amplitude_damping({g:g})",
    )


def phase_damping(lam: float) -> Channel:
    """Aer's ``phase_damping_error(λ)``: coherences shrink by ``sqrt(1 − λ)``, populations stay."""
    g = _probability(lam, "phase_damping")
    return Channel(
        np.stack([np.array([[1, 0], [0, math.sqrt(1 - g)]]), np.array([[0, 0], [0, math.sqrt(g)]])]),
        f"phase_damping({g:g})",
    )


_AMPLITUDE_DAMPING, _PHASE_DAMPING = amplitude_damping, phase_damping  # shadowed by from_settings' keywords


def thermal_relaxation(t1: float, t2: float, time: float, excited_population: float = 0.0) -> Channel:
    """Aer's ``thermal_relaxation_error(T1, T2, t, p1)`` on one qubit.

    Populations relax towards ``(1 − p1, p1)`` with rate 1/T1 and coherences decay as
    ``exp(−t/T2)``. Needs ``T2 ≤ 2·T1`` (clip first; see :func:`device_noise`);
    ``inf`` means no relaxation of that kind.
    """
    if t1 <= 0 or t2 <= 0 or time < 0:
        raise ConfigError(
            f"thermal relaxation needs T1 > 0, T2 > 0 and a gate time ≥ 0; got T1={t1}, T2={t2}, t={time}"
        )
    if t2 > 2 * t1 * (1 + 1e-12):
        raise ConfigError(f"T2={t2} > 2·T1={2 * t1} is unphysical; use T2 ≤ 2·T1")
    p1 = _probability(excited_population, "excited_population")
    p0 = 1 - p1
    reset = 1 - math.exp(-time / t1) if math.isfinite(t1) else 0.0
    coh = math.exp(-time / t2) if math.isfinite(t2) else 1.0
    s = np.zeros((4, 4))  # rows/cols: (00, 01, 10, 11) of ρ
    s[0, 0], s[0, 3] = 1 - p1 * reset, p0 * reset
    s[3, 0], s[3, 3] = p1 * reset, 1 - p0 * reset
    s[1, 1] = s[2, 2] = coh
    return from_superop(s, f"thermal_relaxation(t={time:g})")


def from_superop(s: np.ndarray, name: str) -> Channel:
    """Kraus operators of the CPTP map with superoperator ``s`` (row-major vec convention)."""
    d = int(round(math.sqrt(len(s))))
    choi = s.reshape(d, d, d, d).transpose(0, 2, 1, 3).reshape(d * d, d * d)  # C[(i,k),(j,l)] = S[(i,j),(k,l)]
    w, v = np.linalg.eigh((choi + choi.conj().T) / 2)
    if w.min() < -1e-10:
        raise ConfigError(f"{name} is not completely positive (Choi eigenvalue {w.min():.3g})")
    keep = w > 1e-15
    return Channel((v[:, keep] * np.sqrt(w[keep])).T.reshape(-1, d, d), name)


def readout_confusion(p01: float, p10: float | None = None) -> np.ndarray:
    """``(2, 2)`` matrix ``M[prepared, measured]``: ``p01`` = P(read 1 | was 0), ``p10`` = P(read 0 | was 1).

    The layout of Aer's ``ReadoutError`` probabilities; ``p10`` defaults to ``p01``.
    """
    p01 = _probability(p01, "readout_error")
    p10 = p01 if p10 is None else _probability(p10, "readout_error")
    return np.array([[1 - p01, p01], [p10, 1 - p10]])


def average_gate_fidelity(channel: Channel) -> float:
    """Average gate fidelity with the identity, ``(d F_pro + 1)/(d + 1)``, ``F_pro = Σ|Tr K|²/d²``."""
    d = channel.kraus.shape[-1]
    f_pro = float(np.sum(np.abs(np.trace(channel.kraus, axis1=1, axis2=2)) ** 2)) / d**2
    return (d * f_pro + 1) / (d + 1)


def device_depolarizing(error: float, num_qubits: int, relax: Channel | None) -> Channel | None:
    """The depolarizing channel that, followed by ``relax``, has average gate error ``error``.

    Aer's rule: with ``F_r`` the relaxation's average fidelity, ``p = d (e − (1 − F_r)) / (d F_r − 1)``,
    clipped to the physical range; None when relaxation already explains the error.
    """
    f_relax = 1.0 if relax is None else average_gate_fidelity(relax)
    if error is None or error <= 1 - f_relax:
        return None
    d = 2**num_qubits
    error = min(error, d / (d + 1))
    p = d * (error - (1 - f_relax)) / (d * f_relax - 1)
    return depolarizing(min(p, 4**num_qubits / (4**num_qubits - 1)), num_qubits)


# -- noise models --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GateNoise:
    """A channel applied after matching gates.

    ``gates``: canonical qjax names (None = every gate); ``arity``: only gates on that
    many wires (None = any); ``wires``: only the gate on exactly these wires (None = any).
    A channel as wide as the gate acts on its wires; a one-qubit channel on a wider
    gate acts on each of its wires.
    """

    channel: Channel
    gates: frozenset[str] | None = None
    arity: int | None = None
    wires: tuple[int, ...] | None = None

    def matches(self, gate: str, wires: tuple[int, ...]) -> bool:
        return (
            (self.gates is None or gate in self.gates)
            and (self.arity is None or self.arity == len(wires))
            and (self.wires is None or self.wires == wires)
        )


#: What follows each operation of a circuit: ``((channel, wires), ...)`` per operation.
Schedule = tuple[tuple[tuple[Channel, tuple[int, ...]], ...], ...]


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """Gate noise rules and per-wire readout confusion; immutable (``with_*`` return new models).

    After an operation, the rules that name its exact wires apply if there are any
    (a device's calibrated errors); otherwise every rule without ``wires`` that
    matches, in the order they were added. ``readout`` maps wire → confusion matrix
    (:func:`readout_confusion`); ``default_readout`` covers the other wires.
    """

    rules: tuple[GateNoise, ...] = ()
    readout: Mapping[int, np.ndarray] = field(default_factory=dict)
    default_readout: np.ndarray | None = None

    def with_gate_error(
        self,
        channel: Channel,
        gates: Iterable[str] | str | None = None,
        *,
        arity: int | None = None,
        wires: Sequence[int] | None = None,
    ) -> "NoiseModel":
        if isinstance(gates, str):
            gates = [gates]
        names = None if gates is None else frozenset(canonical_name(g) for g in gates)
        rule = GateNoise(channel, names, arity, None if wires is None else tuple(int(w) for w in wires))
        return NoiseModel(self.rules + (rule,), self.readout, self.default_readout)

    def with_readout_error(self, confusion: np.ndarray, wires: Sequence[int] | None = None) -> "NoiseModel":
        m = np.asarray(confusion, dtype=float)
        if m.shape != (2, 2) or (m < 0).any() or not np.allclose(m.sum(axis=1), 1):
            raise ConfigError("a readout confusion matrix is 2x2 with rows P(measured | prepared) summing to 1")
        if wires is None:
            return NoiseModel(self.rules, self.readout, m)
        return NoiseModel(self.rules, {**self.readout, **{int(w): m for w in wires}}, self.default_readout)

    @classmethod
    def from_settings(
        cls,
        *,
        depolarizing_1q: float = 0.0,
        depolarizing_2q: float = 0.0,
        amplitude_damping: float = 0.0,
        phase_damping: float = 0.0,
        t1: float | None = None,
        t2: float | None = None,
        gate_time_1q: float = 0.0,
        gate_time_2q: float = 0.0,
        readout_error: float = 0.0,
    ) -> "NoiseModel":
        """The ``backend.noise`` block as a model (times in seconds here).

        After every gate, on its wires and in this order: n-qubit depolarizing
        (1q gates: ``depolarizing_1q``; 2q gates: ``depolarizing_2q``), then on each
        wire amplitude damping, phase damping and thermal relaxation for the gate's
        time (T2 null = 2·T1: no pure dephasing). Readout: a symmetric bit flip.
        """
        model = cls()
        if depolarizing_1q:
            model = model.with_gate_error(depolarizing(depolarizing_1q, 1), arity=1)
        if depolarizing_2q:
            model = model.with_gate_error(depolarizing(depolarizing_2q, 2), arity=2)
        if amplitude_damping:
            model = model.with_gate_error(_AMPLITUDE_DAMPING(amplitude_damping))
        if phase_damping:
            model = model.with_gate_error(_PHASE_DAMPING(phase_damping))
        if t1 is not None or t2 is not None:
            t1_ = math.inf if t1 is None else t1
            t2_ = 2 * t1_ if t2 is None else t2
            for arity, time in ((1, gate_time_1q), (2, gate_time_2q)):
                if time:
                    model = model.with_gate_error(thermal_relaxation(t1_, t2_, time), arity=arity)
        if readout_error:
            model = model.with_readout_error(readout_confusion(readout_error))
        return model

    def channels_after(self, gate: str, wires: tuple[int, ...]) -> tuple[tuple[Channel, tuple[int, ...]], ...]:
        """``(channel, wires)`` pairs that follow ``gate`` on ``wires``, in application order."""
        exact = [r for r in self.rules if r.wires is not None and r.matches(gate, wires)]
        rules = exact or [r for r in self.rules if r.wires is None and r.matches(gate, wires)]
        out = []
        for rule in rules:
            k = rule.channel.num_qubits
            if k == len(wires):
                out.append((rule.channel, wires))
            elif k == 1:
                out.extend((rule.channel, (w,)) for w in wires)
            else:
                raise ConfigError(f"a {k}-qubit channel cannot follow {gate} on {len(wires)} wire(s)")
        return tuple(out)

    def schedule(self, circuit) -> Schedule:
        """The channels after each operation of ``circuit`` (a :class:`~qjax.ir.circuit.Circuit`)."""
        return tuple(self.channels_after(op.gate, op.wires) for op in circuit.operations)

    def confusions(self, num_wires: int) -> tuple[np.ndarray | None, ...]:
        """Per wire: its readout confusion matrix, or None when its readout is perfect."""
        return tuple(self.readout.get(w, self.default_readout) for w in range(num_wires))

    @property
    def is_noiseless(self) -> bool:
        return not self.rules and not self.readout and self.default_readout is None


# -- device calibration ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DeviceNoise:
    """A device's calibrated noise on its physical qubits.

    ``gates``: ``(qiskit gate name, qubits) → ((channel, qubits), ...)``;
    ``readout``: qubit → confusion matrix; ``clipped``: qubits whose T2 was cut to 2·T1.
    """

    name: str
    gates: Mapping[tuple[str, tuple[int, ...]], tuple[tuple[Channel, tuple[int, ...]], ...]]
    readout: Mapping[int, np.ndarray]
    clipped: tuple[int, ...] = ()


def device_noise(device) -> DeviceNoise:
    """Noise of a qiskit ``BackendV2`` (e.g. a qiskit-ibm-runtime fake device) from its calibration.

    Mirrors Aer's ``NoiseModel.from_backend`` (temperature 0): every gate with a
    duration gets thermal relaxation on each of its qubits (T2 > 2·T1 is clipped to
    2·T1 with a warning; a missing T1/T2 means none of that kind), preceded by the
    depolarizing channel that makes the total average gate error equal the reported
    one (:func:`device_depolarizing`). Readout: the target's symmetric ``measure``
    error, as Aer's ``from_backend`` uses it. (A fake device's properties also hold
    asymmetric ``prob_meas1_prep0``/``prob_meas0_prep1`` whose mean is that error;
    ``ibm_fake``'s estimator results match the symmetric form, measured within
    shot noise: see ``tests/test_noisy_backend.py``.)
    """
    from qiskit.circuit import Gate, Measure

    target = device.target
    props = list(target.qubit_properties or [])
    t1s, t2s, clipped = {}, {}, []
    for q, p in enumerate(props):
        t1 = getattr(p, "t1", None)
        t2 = getattr(p, "t2", None)
        if t1 is not None and t2 is not None and t2 > 2 * t1:
            clipped.append(q)
            t2 = 2 * t1
        elif t1 is not None and t2 is None:
            t2 = 2 * t1
        t1s[q] = math.inf if t1 is None else float(t1)
        t2s[q] = math.inf if t2 is None else float(t2)
    if clipped:
        warnings.warn(f"{device.name}: T2 > 2·T1 on qubit(s) {clipped}; clipped to 2·T1 as Aer does", stacklevel=2)
    gates = {}
    for name, by_qubits in target.items():
        op = target.operation_from_name(name)
        if isinstance(op, Measure) or by_qubits is None:
            continue
        for qubits, prop in by_qubits.items():
            if prop is None or qubits is None:
                continue
            relax = None
            if prop.duration and props:
                chans = [
                    thermal_relaxation(t1s[q], t2s[q], prop.duration)
                    if math.isfinite(t1s[q]) or math.isfinite(t2s[q])
                    else Channel(np.eye(2))
                    for q in qubits
                ]
                relax = chans
            depol = None
            if prop.error and isinstance(op, Gate):
                joint = None
                if relax is not None:
                    joint = relax[0]  # Aer: relax[0].expand(relax[1]) puts qubits[1] first (more significant)
                    for c in relax[1:]:
                        joint = c.tensor(joint)
                depol = device_depolarizing(prop.error, len(qubits), joint)
            seq = []
            if depol is not None:
                seq.append((depol, tuple(qubits)))
            if relax is not None:
                seq.extend((c, (q,)) for c, q in zip(relax, qubits) if not c.is_identity())
            if seq:
                gates[(name, tuple(qubits))] = tuple(seq)
    readout = {}
    for q in range(device.num_qubits):
        prop = target["measure"].get((q,)) if "measure" in target else None
        if prop is not None and prop.error:
            readout[q] = readout_confusion(prop.error)
    return DeviceNoise(device.name, gates, readout, tuple(clipped))
