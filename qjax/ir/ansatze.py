"""Common ansätze and encoders as qjax circuits.

Every template is a pure function returning a :class:`Circuit` (or, for the
excitation gates, a list of :class:`Operation` s to splice into one). Parameter
indices start at ``first_param`` (data features at ``first_input``), so templates
with disjoint index ranges can be joined with ``+``. Wire 0 is the most significant
bit, as everywhere in qjax.
"""

from __future__ import annotations

import numbers
from typing import Sequence

from qjax.errors import CircuitError, WireError
from qjax.ir.circuit import Angle, Circuit, Input, Operation, Param

__all__ = [
    "hardware_efficient",
    "real_amplitudes",
    "angle_embedding",
    "single_excitation",
    "double_excitation",
    "excitations",
    "uccsd",
    "ucc",
    "qaoa",
]

_ROTATIONS = {"RX": "RX", "RY": "RY", "RZ": "RZ", "X": "RX", "Y": "RY", "Z": "RZ"}


def _positive(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, numbers.Integral) or value < minimum:
        raise CircuitError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _rotation(name) -> str:
    try:
        return _ROTATIONS[str(name).upper()]
    except KeyError:
        raise CircuitError(f"rotation {name!r} is not one of RX, RY, RZ (or X, Y, Z)") from None


def hardware_efficient(
    num_wires: int,
    layers: int,
    rotations: Sequence[str] = ("RY", "RZ"),
    entangler: str = "chain",
    first_param: int = 0,
    pairs: Sequence[Sequence[int]] | None = None,
) -> Circuit:
    """A hardware-efficient ansatz: ``layers`` × (rotation layers, then a CNOT entangler).

    Each layer applies every gate in ``rotations`` (``RX``/``RY``/``RZ``) to every
    wire, then ``CNOT(w, w+1)`` for ``w = 0..n-2`` (``"chain"``), plus ``CNOT(n-1, 0)``
    for ``"ring"`` when ``n >= 3``; ``"device"``: ``CNOT(a, b)`` for each ``(a, b)`` of
    ``pairs``, in order (the coupled wires of a device layout,
    :func:`qjax.backends.layout.choose_layout`). Parameters: ``layers * len(rotations) * num_wires``;
    rotation ``r`` of layer ``l`` on wire ``w`` uses
    ``params[first_param + (l * len(rotations) + r) * num_wires + w]``.
    """
    n = _positive("num_wires", num_wires)
    layers = _positive("layers", layers)
    gates = [_rotation(r) for r in rotations]
    if entangler not in ("chain", "ring", "device"):
        raise CircuitError(f"entangler must be 'chain', 'ring' or 'device', got {entangler!r}")
    if (entangler == "device") != (pairs is not None):
        raise CircuitError("entangler='device' takes the device's coupled wire pairs (pairs=...), and only it does")
    links: list[tuple[int, ...]]
    if entangler == "device":
        links = [_wires(p, 2, "a device pair") for p in pairs or ()]
        if any(w >= n for p in links for w in p):
            raise WireError(f"device pairs {links} name wires beyond 0..{n - 1}")
    else:
        links = [(w, w + 1) for w in range(n - 1)]
        links += [(n - 1, 0)] if entangler == "ring" and n >= 3 else []
    ops, index = [], _positive("first_param", first_param, 0)
    for _ in range(layers):
        for gate in gates:
            for w in range(n):
                ops.append(Operation(gate, (w,), (Param(index),)))
                index += 1
        ops.extend(Operation("CNOT", pair) for pair in links)
    return Circuit(n, tuple(ops), num_params=index)


def real_amplitudes(
    num_wires: int,
    layers: int,
    reference: Sequence[int],
    pairs: Sequence[Sequence[int]] | None = None,
) -> Circuit:
    """A shallow real-amplitude ansatz whose parameters 0 prepare the basis state ``reference``.

    ``RY`` on every wire, then ``layers`` × (a CNOT on each of ``pairs``, default the chain
    ``(w, w+1)``; then ``RY`` on every wire): ``(layers + 1) · num_wires`` parameters and
    ``layers · len(pairs)`` CNOTs (Qiskit's ``RealAmplitudes`` with ``reps=layers``). It is
    preceded by ``X`` on the bits of the basis state that the CNOT network maps to
    ``reference``, so parameters 0 give ``reference`` (REM's Hartree–Fock state) exactly. Its
    amplitudes stay real, as a real Hamiltonian's ground state is. On one wire it is one ``RY``.
    """
    n = _positive("num_wires", num_wires)
    layers = _positive("layers", layers, 0) if n > 1 else 0
    bits = [int(b) for b in reference]
    if len(bits) != n or set(bits) - {0, 1}:
        raise CircuitError(f"reference must be {n} bits (0 or 1), got {tuple(reference)!r}")
    links = [(w, w + 1) for w in range(n - 1)] if pairs is None else [_wires(p, 2, "a pair") for p in pairs]
    if any(w >= n for p in links for w in p):
        raise WireError(f"pairs {links} name wires beyond 0..{n - 1}")
    start = list(bits)  # the preimage of `reference` under the CNOT network (each CNOT is its own inverse)
    for control, target in reversed(links * layers):
        start[target] ^= start[control]
    ops = [Operation("X", (w,)) for w, bit in enumerate(start) if bit]
    index = 0
    for layer in range(layers + 1):
        if layer:
            ops.extend(Operation("CNOT", pair) for pair in links)
        for w in range(n):
            ops.append(Operation("RY", (w,), (Param(index),)))
            index += 1
    return Circuit(n, tuple(ops), num_params=index)


def angle_embedding(num_wires: int, rotation: str = "RY", first_input: int = 0) -> Circuit:
    """Encode features ``x`` as rotation angles: ``rotation(x[first_input + w])`` on wire ``w``.

    Uses ``num_wires`` data inputs and no trainable parameters; equals PennyLane's
    ``qml.AngleEmbedding(x, wires=range(num_wires), rotation="Y")`` for ``"RY"``.
    """
    n = _positive("num_wires", num_wires)
    gate = _rotation(rotation)
    start = _positive("first_input", first_input, 0)
    return Circuit(n, tuple(Operation(gate, (w,), (Input(start + w),)) for w in range(n)))


def _wires(wires, count: int, what: str) -> tuple[int, ...]:
    wires = tuple(int(w) for w in wires)
    if len(wires) != count or len(set(wires)) != count:
        raise WireError(f"{what} acts on {count} distinct wires, got {wires}")
    return wires


def single_excitation(theta: Angle | float, wires: Sequence[int]) -> list[Operation]:
    """PennyLane's ``qml.SingleExcitation(theta, wires)`` (a Givens rotation) as 6 table gates.

    Exact, global phase included: ``|01> -> cos(θ/2)|01> + sin(θ/2)|10>``,
    ``|10> -> cos(θ/2)|10> - sin(θ/2)|01>``. Decomposition taken from
    ``qml.SingleExcitation.compute_decomposition``.
    """
    a, b = _wires(wires, 2, "single_excitation")
    half = -0.5 * Angle.of(theta)
    return [
        Operation("H", (a,)),
        Operation("CNOT", (a, b)),
        Operation("RY", (a,), (half,)),
        Operation("RY", (b,), (half,)),
        Operation("CNOT", (a, b)),
        Operation("H", (a,)),
    ]


# qml.DoubleExcitation.compute_decomposition (Yordanov et al., PRA 102, 062612): gate,
# positions into ``wires``, and the sign of θ/8 for the RY gates. 14 CNOTs, exact.
_DOUBLE = (
    ("CNOT", (2, 3), 0), ("CNOT", (0, 2), 0), ("H", (3,), 0), ("H", (0,), 0),
    ("CNOT", (2, 3), 0), ("CNOT", (0, 1), 0), ("RY", (1,), 1), ("RY", (0,), -1),
    ("CNOT", (0, 3), 0), ("H", (3,), 0), ("CNOT", (3, 1), 0), ("RY", (1,), 1),
    ("RY", (0,), -1), ("CNOT", (2, 1), 0), ("CNOT", (2, 0), 0), ("RY", (1,), -1),
    ("RY", (0,), 1), ("CNOT", (3, 1), 0), ("H", (3,), 0), ("CNOT", (0, 3), 0),
    ("RY", (1,), -1), ("RY", (0,), 1), ("CNOT", (0, 1), 0), ("CNOT", (2, 0), 0),
    ("H", (0,), 0), ("H", (3,), 0), ("CNOT", (0, 2), 0), ("CNOT", (2, 3), 0),
)  # fmt: skip


def double_excitation(theta: Angle | float, wires: Sequence[int]) -> list[Operation]:
    """PennyLane's ``qml.DoubleExcitation(theta, wires)`` as 28 table gates (8 RY(±θ/8)).

    Exact, global phase included: rotates ``|1100>`` and ``|0011>`` (in ``wires``
    order) by ``θ/2`` as a Givens rotation and leaves every other basis state alone.
    """
    w = _wires(wires, 4, "double_excitation")
    eighth = Angle.of(theta) / 8.0
    return [Operation(gate, tuple(w[k] for k in pos), (sign * eighth,) if sign else ()) for gate, pos, sign in _DOUBLE]


def excitations(electrons: int, orbitals: int) -> tuple[list[list[int]], list[list[int]]]:
    """Spin-conserving ``(singles, doubles)`` from the Hartree–Fock state, as in
    ``qml.qchem.excitations(electrons, orbitals)``: even wires are spin-up, odd
    spin-down; singles ``[r, p]``, doubles ``[s, r, q, p]`` with occupied ``s < r``
    and virtual ``q < p``, in PennyLane's order.
    """
    electrons = _positive("electrons", electrons)
    if orbitals <= electrons:
        raise CircuitError(f"need more spin orbitals ({orbitals}) than electrons ({electrons})")
    spin = [1 if i % 2 == 0 else -1 for i in range(orbitals)]  # 2 * sz, so sums are exact
    occupied, virtual = range(electrons), range(electrons, orbitals)
    singles = [[r, p] for r in occupied for p in virtual if spin[p] == spin[r]]
    doubles = [
        [s, r, q, p]
        for s in occupied
        for r in occupied
        if r > s
        for q in virtual
        for p in virtual
        if p > q and spin[p] + spin[q] == spin[r] + spin[s]
    ]
    return singles, doubles


def uccsd(
    num_wires: int,
    electrons: int,
    singles: Sequence[Sequence[int]] | None = None,
    doubles: Sequence[Sequence[int]] | None = None,
    first_param: int = 0,
) -> Circuit:
    """UCCSD-style ansatz of Givens rotations, equal to PennyLane's
    ``qml.AllSinglesDoubles(params, wires, hf_state, singles, doubles)``.

    Gates: X on wires ``0..electrons-1`` (the Hartree–Fock state of
    ``qml.qchem.hf_state``), then one :func:`double_excitation` per entry of
    ``doubles``, then one :func:`single_excitation` per entry of ``singles``.
    ``singles``/``doubles`` default to :func:`excitations` (pass ``[]`` to omit a kind).
    Parameters: ``len(singles) + len(doubles)``, laid out as in PennyLane:
    ``params[first_param + j]`` drives ``singles[j]`` and
    ``params[first_param + len(singles) + i]`` drives ``doubles[i]``. For H2
    (4 wires, 2 electrons): singles ``[[0, 2], [1, 3]]``, doubles ``[[0, 1, 2, 3]]``.
    """
    n = _positive("num_wires", num_wires)
    electrons = _positive("electrons", electrons)
    if electrons >= n:
        raise CircuitError(f"electrons={electrons} must be smaller than num_wires={n} (spin orbitals)")
    default_singles, default_doubles = excitations(electrons, n)
    singles = [list(s) for s in (default_singles if singles is None else singles)]
    doubles = [list(d) for d in (default_doubles if doubles is None else doubles)]
    start = _positive("first_param", first_param, 0)
    ops = [Operation("X", (w,)) for w in range(electrons)]
    for i, d in enumerate(doubles):
        ops.extend(double_excitation(Param(start + len(singles) + i), d))
    for j, s in enumerate(singles):
        ops.extend(single_excitation(Param(start + j), s))
    return Circuit(n, tuple(ops), num_params=start + len(singles) + len(doubles))


ucc = uccsd


def qaoa(
    edges: Sequence[Sequence[int]],
    num_wires: int,
    p: int,
    weights: Sequence[float] | None = None,
    first_param: int = 0,
) -> Circuit:
    """QAOA for MaxCut: ``H`` on every wire, then ``p`` layers of cost and mixer.

    Layer ``l`` applies ``RZZ(2 γ_l w_ij)`` on every edge ``(i, j)``, i.e.
    ``exp(-i γ_l H_P)`` with ``H_P = Σ w_ij Z_i Z_j``, then ``RX(2 β_l)`` on every
    wire, i.e. ``exp(-i β_l Σ X_w)``. With the cut value
    ``C = Σ w_ij (1 - Z_i Z_j) / 2`` we have ``H_P = Σ w_ij - 2 C``, so minimising
    ``<H_P>`` maximises the expected cut, and the cost layer equals ``exp(2i γ_l C)``
    up to global phase. Parameters ``(2p,)``: ``[γ_1..γ_p, β_1..β_p]`` from
    ``first_param``. ``weights`` (one per edge) default to 1.
    """
    n = _positive("num_wires", num_wires)
    p = _positive("p", p)
    edges = [tuple(int(v) for v in e) for e in edges]
    for e in edges:
        if len(e) != 2 or e[0] == e[1] or not all(0 <= v < n for v in e):
            raise WireError(f"edge {e} must join two different wires in 0..{n - 1}")
    weights = [1.0] * len(edges) if weights is None else [float(w) for w in weights]
    if len(weights) != len(edges):
        raise CircuitError(f"got {len(weights)} weights for {len(edges)} edges; give one weight per edge")
    start = _positive("first_param", first_param, 0)
    ops = [Operation("H", (w,)) for w in range(n)]
    for layer in range(p):
        gamma, beta = Param(start + layer), Param(start + p + layer)
        ops.extend(Operation("RZZ", tuple(e), (2.0 * w * gamma,)) for e, w in zip(edges, weights) if w != 0.0)
        ops.extend(Operation("RX", (w,), (2.0 * beta,)) for w in range(n))
    return Circuit(n, tuple(ops), num_params=start + 2 * p)
