"""Device-aware layouts for ``ansatz.entangler=device``: which physical qubits, and which pairs to entangle.

:func:`choose_layout` picks ``n`` connected physical qubits of a device by its
calibration and a spanning tree of couplings among them. Greedy growth from every
qubit: start with its readout error, then repeatedly add the neighbour whose
coupling gate error plus readout error is lowest; keep the cheapest set
(readout errors of the qubits + two-qubit gate errors of the tree's couplings).
The ansatz then entangles exactly the tree's pairs, and the backend transpiles with
these qubits as the initial layout, so every two-qubit gate already sits on a
coupler: the transpiled circuit has no SWAPs, and ``n - 1`` two-qubit gates per layer.

:func:`device_layout` does this for a validated ``backend.*`` config, before the
backend runs anything; a backend without a coupling map is refused in one line.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from qjax.config import no_coupling_map
from qjax.errors import BackendError

__all__ = ["DeviceLayout", "choose_layout", "device_layout", "qubit_costs", "coupler_costs", "no_coupling_map"]


class DeviceLayout(NamedTuple):
    """``qubits[k]``: the physical qubit of wire ``k``; ``pairs``: the wire pairs to entangle (each a coupler,
    ordered from the first qubit outwards); ``device``: the device object; ``cost``: Σ readout + tree gate errors."""

    device: Any
    qubits: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    cost: float
    reason: str

    def describe(self) -> dict:
        """For the manifest: the device, the qubits, the coupled pairs (physical) and why they were chosen."""
        return {
            "device": self.device.name,
            "qubits": list(self.qubits),
            "couplers": [[self.qubits[a], self.qubits[b]] for a, b in self.pairs],
            "cost": self.cost,
            "reason": self.reason,
        }


def _error(props) -> float | None:
    error = getattr(props, "error", None)
    return None if error is None or not math.isfinite(error) else float(error)


def qubit_costs(device) -> dict[int, float]:
    """Readout error of each physical qubit (0 where the device does not say)."""
    target = device.target
    measure = target["measure"] if "measure" in target else {}
    costs = {}
    for q in range(device.num_qubits):
        costs[q] = _error(measure.get((q,))) or 0.0
    return costs


def coupler_costs(device) -> dict[frozenset, float]:
    """The lowest two-qubit gate error of each coupled pair ``{a, b}`` (either direction; 0 when unknown)."""
    target = device.target
    costs: dict[frozenset, float] = {}
    for gate in target.operation_names:
        if target.operation_from_name(gate).num_qubits != 2:
            continue
        for pair, props in target[gate].items():
            if pair is None or pair[0] == pair[1]:
                continue
            key = frozenset(int(q) for q in pair)
            error = _error(props)
            error = 0.0 if error is None else error
            costs[key] = min(costs.get(key, error), error)
    return costs


def choose_layout(device, num_wires: int) -> DeviceLayout:
    """``num_wires`` connected physical qubits of ``device`` with the lowest calibrated error (see the module)."""
    n = int(num_wires)
    if n > device.num_qubits:
        raise BackendError(
            f"the circuit needs {n} qubits but {device.name} has {device.num_qubits}; "
            "pick a larger device (backend.device=...) or a smaller problem"
        )
    readout, couplers = qubit_costs(device), coupler_costs(device)
    neighbours: dict[int, list[int]] = {q: [] for q in readout}
    for pair in couplers:
        a, b = sorted(pair)
        neighbours[a].append(b)
        neighbours[b].append(a)
    best: tuple[float, tuple[int, ...], tuple[tuple[int, int], ...]] | None = None
    for start in sorted(readout):
        chosen, tree, cost = [start], [], readout[start]
        while len(chosen) < n:
            options = [
                (couplers[frozenset((u, v))] + readout[v], v, u)
                for u in chosen
                for v in neighbours[u]
                if v not in chosen
            ]
            if not options:
                break  # this qubit's connected component is too small
            step, v, u = min(options)
            chosen.append(v)
            tree.append((u, v))
            cost += step
        if len(chosen) == n and (best is None or cost < best[0] - 1e-15):
            best = (cost, tuple(chosen), tuple(tree))
    if best is None:
        raise BackendError(f"{device.name} has no {n} connected qubits; use a smaller problem or a larger device")
    cost, qubits, edges = best
    wire = {q: k for k, q in enumerate(qubits)}
    pairs = tuple((wire[u], wire[v]) for u, v in edges)
    reason = (
        f"lowest readout + two-qubit gate error of {n} connected qubits on {device.name} "
        f"(greedy from every qubit; Σ errors {cost:.4g})"
    )
    return DeviceLayout(device, qubits, pairs, float(cost), reason)


def device_layout(backend_cfg, num_wires: int) -> DeviceLayout:
    """:func:`choose_layout` on the device a validated ``backend.*`` config names (looked up now)."""
    refusal = no_coupling_map(backend_cfg.name, getattr(backend_cfg, "device", None))
    if refusal is not None:
        raise BackendError(refusal)
    if backend_cfg.name == "ibm":
        from qjax.backends.ibm import IBMBackend

        ibm = IBMBackend(
            device=backend_cfg.device,
            channel=backend_cfg.channel,
            instance=backend_cfg.instance,
            min_qubits=backend_cfg.min_qubits,
            max_pending_jobs=backend_cfg.max_pending_jobs,
        )
        device = ibm.device(num_wires)
    else:
        from qjax.backends.ibm_fake import IBMFakeBackend

        device = IBMFakeBackend(device=backend_cfg.device, min_qubits=getattr(backend_cfg, "min_qubits", None)).device(
            num_wires
        )
    return choose_layout(device, num_wires)
