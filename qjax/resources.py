"""What a run will need, estimated before anything is built: qubits, gates and memory.

Three checks, from cheapest to most machine-specific:

- :func:`check_sizes` (from :func:`qjax.config.validate`): the problem's width against
  ``backend.max_qubits`` and a lower bound of the circuit's gate count against
  ``backend.max_operations``, from the config alone. It depends on nothing but the
  config, so a config that validates here validates everywhere.
- :func:`check_circuit` (from every backend's ``check``): the built circuit's exact width
  and gate count (with ZNE's folding), before it is compiled, transpiled or sent.
- :func:`preflight` (at the start of ``python -m qjax.train`` / ``qjax.evaluate``): the
  memory the run will hold at its peak, :func:`estimate_memory`, against what this
  machine has free (:func:`available_memory`).

Every refusal names the config key, the estimate, the limit and what to change.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Optional

from qjax.errors import BackendError, ConfigError
from qjax.schemas import DENSITY_MATRIX_MAX_QUBITS

__all__ = [
    "MemoryEstimate",
    "check_sizes",
    "check_circuit",
    "operations_lower_bound",
    "params_lower_bound",
    "estimate_memory",
    "available_memory",
    "preflight",
    "format_bytes",
]

GiB = 2**30

# State-sized arrays held at the peak of one value_and_grad call of the statevector simulator,
# measured with VmHWM after compiling (hardware-efficient ansatz, Ising chain; 2-core EPYC,
# complex64 and complex128 alike): adjoint 8.5 (n = 22 and 24, 2 layers) and 6.0 (n = 24,
# 8 layers); backprop 16.8 (n = 20, 2 layers) and 83 (n = 20, 8 layers: one state per fused
# block, so it grows with depth); parameter shift 5.5 at n = 24 plus its batch of shifted states
# (qjax.sim.gradients: 2**24 elements at once), 17.6 at n = 22.
_STATES = {"adjoint": 9, "auto": 9, "backprop": 17, "parameter_shift": 6, "spsa": 6}
# Parameter shift and trajectories evaluate batches of this many amplitudes at once (qjax.sim.gradients,
# qjax.noise.density), each batch element with a few working copies.
_BATCH_ELEMENTS = 2**24
_BATCH_COPIES = 3
# Density matrices held by backprop through the noisy simulator: about 0.6 per operation (noise
# channels included), measured at n = 10 (2 and 4 layers) and n = 11, plus a few working copies.
_DENSITY_PER_OPERATION = 0.6
_DENSITY_COPIES = 4
# Aer's statevector working copies for a fake device (it simulates only the qubits the circuit uses).
_AER_COPIES = 3
# What the process holds before the first state exists: Python, JAX's CPU client, Qiskit and
# PennyLane imports, and XLA compiling the step (measured 0.40-0.51 GiB).
_RUNTIME_BYTES = GiB // 2


class MemoryEstimate(NamedTuple):
    """Bytes a run holds at its peak: ``total`` (with the runtime itself), ``state`` (one ``unit``: a
    state or a density matrix), what dominates it (``what``) and the config key that sizes it."""

    total: int
    state: int
    unit: str
    what: str
    key: str
    value: Any


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it ≥ 1 (``2.1 GiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


# --- widths and gate counts, from the config -----------------------------------------


def _width_key(run) -> tuple[str, Any]:
    """The config key that sets the problem's width, and its value, for messages."""
    p, a = run.problem, run.ansatz
    if getattr(a, "wires", None) is not None:
        return "ansatz.wires", a.wires
    if p.name == "h2":
        return "problem.basis", p.basis
    if p.name == "lih":
        return "problem.active_orbitals", p.active_orbitals
    if p.name == "maxcut" and p.edges is not None:
        return "problem.edges", f"<{len(p.edges)} edges>"
    if getattr(p, "dataset", False):  # the key that sizes it: components, columns, or generated samples
        name = next(k for k in ("pca", "features", "n_samples") if hasattr(p, k))
        return f"problem.{name}", getattr(p, name)
    return "problem.n", getattr(p, "n", None)


def qubits(run) -> Optional[int]:
    """Wires the run's circuit acts on, from its config (None when only the built problem knows)."""
    n = run.problem.qubits()
    wires = getattr(run.ansatz, "wires", None)
    return n if wires is None or n is None else max(n, wires)


def operations_lower_bound(run) -> int:
    """Fewest gates the configured ansatz expands to: each layer puts at least ``len(rotations)`` gates
    (QAOA: a mixer gate) on every wire. 0 when the ansatz's size is known only once built (UCC)."""
    n, a = qubits(run), run.ansatz
    if n is None:
        return 0
    if a.name in ("hea", "reupload"):
        return a.layers * n * len(a.rotations)
    if a.name == "qaoa":
        return a.p * n
    return 0


def params_lower_bound(run) -> int:
    """Fewest trainable parameters the configured ansatz has (0 when only the built circuit knows)."""
    n, a = qubits(run), run.ansatz
    if n is None:
        return 0
    if a.name in ("hea", "reupload"):
        return a.layers * n * len(a.rotations)
    if a.name == "qaoa":
        return 2 * a.p
    return 0


def _angle_map_bytes(run) -> int:
    """The compiled program's map from parameters to gate angles is a dense (angles × parameters) array of
    reals, baked into the executable: it grows with the square of depth (3.6 GB at 30,000 angles)."""
    return operations_lower_bound(run) * params_lower_bound(run) * _itemsize(run) // 2


def _zne_factor(mitigation) -> float:
    """How many times each gate runs per evaluation under ZNE: folding repeats the circuit's gates up to
    each noise factor (their sum in all), scaling the noise runs it once per factor; 1 without ZNE."""
    zne = getattr(mitigation, "zne", None)
    if zne is None or "zne" not in getattr(mitigation, "techniques", ("zne",)):
        return 1.0
    if zne.amplifier in ("gate_folding", "global_folding"):
        return float(sum(zne.noise_factors))
    return float(len(zne.noise_factors))


def check_sizes(run) -> None:
    """Refuse a config whose problem is wider than ``backend.max_qubits`` or whose ansatz expands past
    ``backend.max_operations``, before anything is built (:class:`ConfigError` naming the key)."""
    n, backend = qubits(run), run.backend
    if n is not None and n > backend.max_qubits:
        key, value = _width_key(run)
        hint = "" if backend.hardware else f" if the machine has the memory: 2**{n} amplitudes per state"
        raise ConfigError(
            f"{key}={value} needs {n} qubits, more than backend.max_qubits={backend.max_qubits} "
            f"allows on backend={backend.name}; lower {key} (or raise backend.max_qubits{hint})"
        )
    gates = operations_lower_bound(run) * _zne_factor(run.mitigation)
    if gates > backend.max_operations:
        key = "ansatz.p" if run.ansatz.name == "qaoa" else "ansatz.layers"
        layers = getattr(run.ansatz, key.split(".")[1])
        folded = " with ZNE's repetitions" if _zne_factor(run.mitigation) > 1 else ""
        fit = max(1, int(layers * backend.max_operations / gates))
        raise ConfigError(
            f"{key}={layers} expands to at least {gates:,.0f} gates on {n} qubits{folded}, more than "
            f"backend.max_operations={backend.max_operations} allows; lower {key} (at most {fit} "
            f"fit here) or raise backend.max_operations"
        )


def check_circuit(circuit, observable, *, backend: str, max_qubits: int, max_operations: int, mitigation=None) -> None:
    """Refuse a built circuit wider than ``max_qubits`` or with more than ``max_operations`` gates (ZNE's
    gate folding counted), before it is compiled, transpiled or sent (:class:`BackendError`)."""
    n = max(circuit.num_wires, observable.num_wires)
    if n > max_qubits:
        raise BackendError(
            f"the circuit needs {n} qubits but backend={backend} is limited to {max_qubits} "
            "(backend.max_qubits); reduce the problem size or raise the limit"
        )
    factor = _zne_factor(mitigation)
    gates = len(circuit.operations) * factor
    if gates > max_operations:
        folded = f" ({len(circuit.operations):,} run {factor:g}× by ZNE)" if factor > 1 else ""
        raise BackendError(
            f"the circuit expands to {gates:,.0f} gates{folded}, more than backend.max_operations="
            f"{max_operations} allows on backend={backend}; use fewer layers (ansatz.layers / "
            "ansatz.p) or raise backend.max_operations"
        )


# --- memory ---------------------------------------------------------------------------


def _itemsize(run) -> int:
    return 16 if run.precision == "double" else 8


def _simulator_bytes(run, n: int) -> tuple[int, int, str, str]:
    """Peak bytes of the statevector simulator's objective on ``n`` wires, one state's bytes, and the method."""
    state = 2**n * _itemsize(run)
    gradient = run.gradient
    total = _STATES.get(gradient, _STATES["auto"]) * state
    if gradient in ("parameter_shift", "spsa"):
        total += _BATCH_COPIES * _BATCH_ELEMENTS * _itemsize(run)
    samples = run.problem.num_samples() if getattr(run.problem, "dataset", False) else 1
    what = {
        "auto": "with adjoint gradients",
        "adjoint": "with adjoint gradients",
        "backprop": "with backprop gradients (at least: its tape grows with depth)",
        "parameter_shift": "with parameter-shift gradients",
        "spsa": "with SPSA",
    }.get(gradient, "")
    if samples > 1:  # the classifier's loss is vmapped over the whole data set
        total *= samples
        what += f", for each of the {samples} samples at once"
    return total, state, "state", what


def _noisy_bytes(run, n: int) -> tuple[int, int, str, str]:
    """Peak bytes of the noisy simulator on ``n`` wires (density matrix or trajectories)."""
    backend, item = run.backend, _itemsize(run)
    method = backend.method
    if method == "auto":
        method = "density_matrix" if n <= DENSITY_MATRIX_MAX_QUBITS else "trajectories"
    if method == "density_matrix":
        density = 4**n * item
        held = _DENSITY_COPIES + _DENSITY_PER_OPERATION * operations_lower_bound(run)
        return int(held * density), density, "density matrix", "with backprop (it keeps about 0.6 per gate)"
    state = 2**n * item
    total = _STATES["auto"] * max(state, _BATCH_ELEMENTS * item)
    return total, state, "state", "with batched trajectories"


def _aer_bytes(run, n: int) -> tuple[int, int, str, str]:
    """Peak bytes of Aer simulating a fake device's circuit (complex128 statevector, a few working copies)."""
    state = 2**n * 16
    return _AER_COPIES * state, state, "state", "in Aer (complex128)"


_BACKEND_SIZES = {"simulator": _simulator_bytes, "noisy_simulator": _noisy_bytes, "ibm_fake": _aer_bytes}


def estimate_memory(run) -> Optional[MemoryEstimate]:
    """Peak memory of ``run`` on this process's backend, or None where the config does not say
    (a problem whose width is known only once built, or a backend that runs elsewhere)."""
    n = qubits(run)
    sizes = _BACKEND_SIZES.get(run.backend.name)
    if n is None or sizes is None:
        return None  # ibm and remote run on another machine
    total, state, unit, what = sizes(run, n)
    angle_map = _angle_map_bytes(run)
    key, value = _width_key(run)
    if angle_map > total:  # a deep ansatz on few wires: its parameter map outweighs the states
        what += f" and {format_bytes(angle_map)} for the map from parameters to gate angles"
        key = "ansatz.p" if run.ansatz.name == "qaoa" else "ansatz.layers"
        value = getattr(run.ansatz, key.split(".")[1])
    return MemoryEstimate(total + angle_map + _RUNTIME_BYTES, state, unit, what, key, value)


def _cgroup_free() -> Optional[int]:
    """Bytes this process's cgroup (v2) may still use, when it has a limit."""
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        used = int(open("/sys/fs/cgroup/memory.current").read())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def available_memory() -> Optional[int]:
    """Bytes this machine can still give the process: ``MemAvailable`` (or free pages), capped by a cgroup
    limit; None where neither is known."""
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if free is None:
        try:
            free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            free = None
    group = _cgroup_free()
    if group is not None:
        free = group if free is None else min(free, group)
    return free


def preflight(run, available: Optional[int] = None) -> None:
    """Refuse ``run`` when its estimated peak memory is more than this machine has free (:class:`ConfigError`
    with the estimate, the limit and what to change). ``available`` overrides :func:`available_memory`."""
    estimate = estimate_memory(run)
    free = available_memory() if available is None else available
    if estimate is None or free is None or estimate.total <= free:
        return
    raise ConfigError(
        f"{estimate.key}={estimate.value} ({qubits(run)} qubits) needs about {format_bytes(estimate.state)} for the "
        f"{estimate.unit} "
        f"and {format_bytes(estimate.total)} {estimate.what}, more than the {format_bytes(free)} this machine has "
        f"free; lower {estimate.key}{_advice(run)}"
    )


def _advice(run) -> str:
    """What else lowers the estimate, for the message."""
    if run.backend.name == "noisy_simulator":
        return " or use backend.method=trajectories, or fewer ansatz layers"
    if run.gradient in ("backprop", "parameter_shift"):
        return " or use gradient=adjoint (memory O(state))"
    if run.precision == "double":
        return " or use precision=single (half the memory)"
    return ""
