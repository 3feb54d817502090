"""``backend=noisy_simulator``: the JAX density-matrix / trajectory simulator with a noise model.

The noise comes from ``backend.noise.*`` (explicit channels) or, with
``backend.device=FakeManilaV2`` (any qiskit-ibm-runtime fake device), from the
device's calibration (:func:`qjax.noise.device_noise`, Aer's
``NoiseModel.from_backend`` rules). With a device the circuit is transpiled once
to its coupling map and basis, exactly as ``backend=ibm_fake`` does (same pass
manager, same seed), and simulated on the physical qubits it touches: the
digital twin of what ``ibm_fake`` measures.

Gradients: with ``backend.shots: null`` the objective is exact and
differentiated by ``jax.grad`` through the density matrix (parameter shift for
trajectories, whose branch sampling is not differentiable). With shots, every
evaluation samples each Pauli term from ``shots`` ±1 outcomes, and gradients are
parameter shift (or SPSA) over sampled evaluations, batched like hardware jobs:
unbiased, with the same noise as the device would give.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from qjax.backends.base import Backend, Capabilities, Objective
from qjax.backends.executor import DoneJob, Evaluation, angle_circuit
from qjax.errors import BackendError
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.noise.channels import NoiseModel, device_noise
from qjax.noise.density import DENSITY_MATRIX_MAX_QUBITS, METHODS, compile_noisy, noisy_shift_values
from qjax.noise.mitigation import check_jax_mitigation, mitigated_expval, rem_energy, rem_factor
from qjax.schemas import MAX_OPERATIONS
from qjax.sim.gradients import GRADIENT_METHODS, GRADIENTS, SAMPLED_GRADIENTS

__all__ = ["NoisySimulatorBackend", "NoisySimulatorExecutor", "Twin", "build_twin"]

# adjoint undoes gates one by one, which noise channels do not allow
_EXACT_GRADIENTS = tuple(g for g in GRADIENT_METHODS if g != "adjoint")
_MICROSECOND = 1e-6
# A density matrix of this many qubits is 2**(2n) amplitudes: 2 GiB in complex64 at 14.
_DENSITY_LIMIT = DENSITY_MATRIX_MAX_QUBITS + 2


class Twin(NamedTuple):
    """What the simulator runs for a circuit: the circuit as simulated and its noise.

    ``circuit`` takes the original circuit's gate-angle vector ``(G,)`` (see
    :func:`~qjax.backends.executor.angle_circuit`), restricted to ``columns`` when
    transpiling removed some angles; ``schedule``: channels after each operation;
    ``readout``: per-wire confusion matrices; ``observables`` on the simulated
    wires; ``qubits``: the physical qubit of each simulated wire (device twins).
    """

    circuit: Circuit
    schedule: tuple
    readout: tuple
    observables: tuple[PauliSum, ...]
    columns: np.ndarray | None
    qubits: tuple[int, ...] | None
    num_angles: int
    isa: Any = None


def build_twin(
    circuit: Circuit,
    observables,
    device,
    *,
    optimization_level: int = 1,
    seed: int | None = None,
    noise=None,
    initial_layout: tuple[int, ...] | None = None,
) -> Twin:
    """Transpile ``circuit`` for ``device`` as :class:`~qjax.backends.runtime.RuntimeExecutor` does
    and attach the device's calibrated noise to every instruction of the result."""
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    from qjax.interop.qiskit import _convert_into, to_qiskit
    from qjax.ir.circuit import Param

    noise = noise if noise is not None else device_noise(device)
    logical = to_qiskit(angle_circuit(circuit))
    pm = generate_preset_pass_manager(
        optimization_level=optimization_level,
        backend=device,
        seed_transpiler=0 if seed is None else int(seed),
        initial_layout=None if initial_layout is None else list(initial_layout),
    )
    isa = pm.run(logical)
    position = {p: i for i, p in enumerate(logical.parameters)}
    columns = np.array([position[p] for p in isa.parameters], dtype=int)
    mapped = [o.to_qiskit(circuit.num_wires).apply_layout(isa.layout) for o in observables]
    used = set()
    for inst in isa.data:
        if inst.operation.name not in ("barrier", "delay", "measure"):
            used |= {isa.find_bit(q).index for q in inst.qubits}
    for op in mapped:
        for label in op.paulis:
            used |= {q for q in range(op.num_qubits) if label[q].to_label() != "I"}
    qubits = tuple(sorted(used)) or (0,)
    wire_of = {q: w for w, q in enumerate(qubits)}
    index_of = {p: Param(i) for i, p in enumerate(isa.parameters)}
    ops: list = []
    schedule: list = []
    for k, inst in enumerate(isa.data):
        name = inst.operation.name
        if name in ("barrier", "delay"):
            continue
        if name in ("measure", "reset"):
            raise BackendError(
                f"the transpiled circuit has a {name} (instruction {k}); noisy_simulator runs "
                "unitary circuits measured at the end"
            )
        phys = tuple(isa.find_bit(q).index for q in inst.qubits)
        mini = QuantumCircuit(len(phys))
        mini.append(inst.operation, range(len(phys)))
        before = len(ops)
        _convert_into(mini, [wire_of[q] for q in phys], index_of, ops, set())
        schedule.extend(() for _ in range(len(ops) - before))
        channels = noise.gates.get((name, phys), ())
        if channels and len(ops) > before:
            schedule[-1] = tuple((c, tuple(wire_of[q] for q in sub)) for c, sub in channels)
    sim = Circuit(len(qubits), tuple(ops), num_params=len(isa.parameters))
    observables = tuple(_relabel(PauliSum.from_qiskit(o), wire_of, len(qubits)) for o in mapped)
    readout = tuple(noise.readout.get(q) for q in qubits)
    return Twin(sim, tuple(schedule), readout, observables, columns, qubits, len(logical.parameters), isa)


def _relabel(obs: PauliSum, wire_of: dict, n: int) -> PauliSum:
    return PauliSum([(c, tuple((wire_of[w], p) for w, p in word)) for c, word in obs.terms], n)


def noise_model(settings) -> NoiseModel:
    """The ``backend.noise`` block (times in µs) as a :class:`~qjax.noise.NoiseModel`."""
    s = settings if isinstance(settings, dict) else dataclasses.asdict(settings) if settings is not None else {}
    us = {k: (None if s.get(k) is None else float(s[k]) * _MICROSECOND) for k in ("t1", "t2")}
    return NoiseModel.from_settings(
        depolarizing_1q=s.get("depolarizing_1q", 0.0),
        depolarizing_2q=s.get("depolarizing_2q", 0.0),
        amplitude_damping=s.get("amplitude_damping", 0.0),
        phase_damping=s.get("phase_damping", 0.0),
        gate_time_1q=float(s.get("gate_time_1q", 0.0)) * _MICROSECOND,
        gate_time_2q=float(s.get("gate_time_2q", 0.0)) * _MICROSECOND,
        readout_error=s.get("readout_error", 0.0),
        **us,
    )


def _check_mitigation(mitigation, shots: int | None, method: str) -> tuple[str, ...]:
    """The JAX techniques to apply (:func:`qjax.noise.mitigation.check_jax_mitigation`), or why they cannot be."""
    techniques = check_jax_mitigation(mitigation)
    if set(techniques) - {"rem"} and shots is not None:  # REM alone is two sampled rows of one job
        raise BackendError(
            f"mitigation={mitigation.name} on backend=noisy_simulator works on exact expectations; "
            "set backend.shots=null (sampled mitigation runs on backend=ibm_fake)"
        )
    if techniques and method == "trajectories":
        raise BackendError(
            f"mitigation={mitigation.name} differentiates through the density matrix; use "
            "backend.method=density_matrix (or auto) on up to "
            f"{DENSITY_MATRIX_MAX_QUBITS} qubits"
        )
    return techniques


class NoisySimulatorBackend(Backend):
    """The :class:`~qjax.backends.base.Backend` of the noisy JAX simulator (see the module docstring)."""

    name = "noisy_simulator"

    def __init__(
        self,
        *,
        device: str | None = None,
        shots: int | None = None,
        seed_simulator: int | None = None,
        method: str = "auto",
        trajectories: int = 256,
        max_qubits: int = 20,
        max_operations: int = MAX_OPERATIONS,
        optimization_level: int = 1,
        noise=None,
        dtype=jnp.complex64,
        mitigation=None,
        seed: int = 0,
        state_dir: str | None = None,
    ):
        # sampled evaluations finish when submitted and never fall back: make_backend drops the run's budget and
        # fallback_options, and every execution_mode runs as job mode
        if shots is not None and (isinstance(shots, bool) or int(shots) < 1):
            raise BackendError(f"backend.shots={shots} is invalid: use null (exact) or an integer ≥ 1")
        if method not in METHODS:
            raise BackendError(f"backend.method={method} is invalid: must be one of {', '.join(METHODS)}")
        self.techniques = _check_mitigation(mitigation, shots, method)
        self.mitigation = mitigation
        self.device_name, self.shots, self.method = device, shots, method
        self.trajectories, self.max_qubits = int(trajectories), int(max_qubits)
        self.max_operations = int(max_operations)
        self.optimization_level, self.dtype = int(optimization_level), dtype
        self.seed = seed_simulator if seed_simulator is not None else seed
        self.state_dir = state_dir
        self.noise_settings = noise
        self._model = noise_model(noise)
        if device is not None and not self._model.is_noiseless:
            raise BackendError(
                f"backend.device={device} takes its noise from the device's calibration; "
                "leave backend.noise.* at 0/null, or set backend.device=null to use them"
            )
        self._device = None
        self._twin: Twin | None = None
        self.layout = None

    def use_layout(self, layout) -> None:
        """Transpile to ``layout.device`` with ``layout.qubits`` as the initial layout
        (a :class:`~qjax.backends.layout.DeviceLayout`, ``ansatz.entangler=device``)."""
        self._device, self.layout = layout.device, layout

    def device(self):
        if self._device is None and self.device_name is not None:
            from qjax.backends.ibm_fake import fake_device  # Qiskit's runtime stack, only for a device twin

            self._device = fake_device(self.device_name)
        return self._device

    def check(self, circuit: Circuit, observable: PauliSum) -> None:
        n = max(circuit.num_wires, observable.num_wires)
        device = self.device()
        if device is not None and n > device.num_qubits:
            raise BackendError(
                f"the circuit needs {n} qubits but {device.name} has {device.num_qubits}; "
                "pick a larger device (backend.device=...) or a smaller problem"
            )
        self.check_limits(circuit, observable)
        if self.method == "density_matrix" and n > _DENSITY_LIMIT:
            raise BackendError(
                f"backend.method=density_matrix on {n} qubits needs 4**{n} amplitudes; "
                "use backend.method=trajectories (or auto)"
            )

    def twin(self, circuit: Circuit, observables) -> Twin:
        """The circuit as this backend simulates it (transpiled for the device, if any), with its noise."""
        observables = tuple(observables)
        for obs in observables:
            self.check(circuit, obs)
        device = self.device()
        if device is None:
            sim = angle_circuit(circuit)
            twin = Twin(
                sim,
                self._model.schedule(sim),
                self._model.confusions(sim.num_wires),
                tuple(PauliSum(o, circuit.num_wires) for o in observables),
                None,
                None,
                sim.num_params,
            )
        else:
            twin = build_twin(
                circuit,
                observables,
                device,
                optimization_level=self.optimization_level,
                seed=self.seed,
                initial_layout=None if self.layout is None else self.layout.qubits,
            )
            width = twin.circuit.num_wires
            if width > self.max_qubits or (self.method == "density_matrix" and width > _DENSITY_LIMIT):
                raise BackendError(
                    f"transpiled for {device.name}, the circuit touches {width} qubits: more than "
                    "backend.max_qubits / the density-matrix limit allows; use a smaller problem"
                )
        self._twin = twin
        return twin

    def compile(self, twin: Twin):
        """:func:`~qjax.noise.density.compile_noisy` of a :class:`Twin` in this backend's precision and method."""
        return compile_noisy(
            twin.circuit,
            twin.schedule,
            list(twin.observables),
            readout=twin.readout,
            dtype=self.dtype,
            method=self.method,
            trajectories=self.trajectories,
            seed=self.seed,
        )

    def objective(self, circuit: Circuit, observable: PauliSum, *, gradient: str = "auto") -> Objective:
        if gradient == "adjoint":
            raise BackendError(
                "gradient=adjoint undoes gates one by one, which noise channels do not allow; "
                "use gradient=backprop (or auto) on backend=noisy_simulator"
            )
        if self.shots is not None or gradient == "spsa":
            return self._sampled_objective(circuit, observable, gradient)
        if gradient not in _EXACT_GRADIENTS:
            raise BackendError(
                f"gradient={gradient} is not available on backend=noisy_simulator; "
                f"choose one of {', '.join(self.capabilities.gradients)}"
            )
        twin = self.twin(circuit, [observable])
        lm = circuit.linear_map()
        rd = jnp.finfo(self.dtype).dtype
        A, c = jnp.asarray(lm.A, rd), jnp.asarray(lm.c, rd)
        columns = None if twin.columns is None else jnp.asarray(twin.columns)

        def simulated_params(params):  # the twin circuit's parameters: the kept gate angles of `circuit`
            angles = A @ jnp.asarray(params, rd) + c if lm.A.shape[1] else c
            return angles if columns is None else angles[columns]

        if self.techniques:  # (with shots, REM alone goes through the sampled objective above)
            return self._mitigated_objective(circuit, twin, gradient, simulated_params)
        compiled = self.compile(twin)
        values = compiled.values
        if gradient == "parameter_shift" and compiled.method == "density_matrix":
            values = noisy_shift_values(values, twin.circuit, compiled.method)
        sim_map = twin.circuit.linear_map()
        As, cs = jnp.asarray(sim_map.A, rd), jnp.asarray(sim_map.c, rd)

        def energy(params):
            sim_params = simulated_params(params)
            sim_angles = As @ sim_params + cs if sim_map.A.shape[1] else cs
            return values(sim_angles)[0]

        return Objective(
            value=jax.jit(energy),
            value_and_grad=jax.jit(jax.value_and_grad(energy)),
            values=jax.jit(jax.vmap(energy)),
            num_params=circuit.num_params,
        )

    def _mitigated_objective(self, circuit: Circuit, twin: Twin, gradient: str, simulated_params) -> Objective:
        """The mitigated energy (:func:`qjax.noise.mitigation.mitigated_expval`), differentiated by ``jax.grad``."""
        if gradient not in ("auto", "backprop"):
            raise BackendError(
                f"gradient={gradient} with mitigation={self.mitigation.name}: the mitigated energy is "
                "differentiated through the density matrix; use gradient=auto (or backprop)"
            )

        def compile_one(sim, schedule, readout):
            return compile_noisy(
                sim, schedule, list(twin.observables), readout=readout, dtype=self.dtype, method="density_matrix"
            )

        mitigated, raw = mitigated_expval(twin.circuit, twin.schedule, twin.readout, self.mitigation, compile_one)
        reference, measured_reference = self.reference if "rem" in self.techniques else None, 0.0
        if "rem" in self.techniques and reference is None:
            raise BackendError(
                f"mitigation={self.mitigation.name} needs a reference state (a molecule with ansatz=ucc: "
                "Hartree–Fock at parameters 0); use mitigation=readout"
            )
        if reference is not None:  # REM: the reference's value, measured once (a shift, or a rescaling)
            rd = jnp.finfo(self.dtype).dtype
            measured_reference = float(mitigated(simulated_params(jnp.asarray(reference.params, rd)))[0])
            shift = reference.energy - measured_reference

        def energy(params):
            value = mitigated(simulated_params(params))[0]
            return value if reference is None else rem_energy(value, measured_reference, reference)

        unmitigated = jax.jit(lambda params: raw(simulated_params(params))[0])
        value = jax.jit(energy)

        def report(params) -> dict:
            out = {"energy": float(value(params)), "energy_unmitigated": float(unmitigated(params))}
            if reference is not None:
                out["rem_shift"] = shift
                if reference.model == "scale":
                    out["rem_factor"] = rem_factor(measured_reference, reference)
            return out

        return Objective(
            value=value,
            value_and_grad=jax.jit(jax.value_and_grad(energy)),
            values=jax.jit(jax.vmap(energy)),
            num_params=circuit.num_params,
            report=report,
        )

    def _sampled_objective(self, circuit: Circuit, observable: PauliSum, gradient: str) -> Objective:
        from qjax.backends.jobs import JobRunner
        from qjax.backends.sampled import sampled_objective

        self.runner = JobRunner([(self.name, lambda: self.executor(circuit, [observable]))], state_dir=self.state_dir)
        return sampled_objective(
            circuit,
            self.runner,
            gradient=gradient,
            seed=self.seed,
            mitigated=False,
            reference=self.reference if "rem" in self.techniques else None,
            final_precision=self.final_precision,
        )

    def sample(self, circuit: Circuit, params, shots: int, *, seed: int = 0):
        """``shots`` samples of ``circuit`` at ``params`` from the noisy distribution (the device twin's
        transpiled circuit, noise and readout errors); with shots set, one job of the run's runner."""
        from qjax.backends.base import Samples

        sampler = self.sampler(circuit, shots, seed=seed)
        lm = circuit.linear_map()
        angles = (np.asarray(lm.A) @ np.asarray(params, dtype=np.float64) + np.asarray(lm.c))[None]
        if self.runner is not None:
            self.runner.step = "final"
            counts = self.runner.evaluate(angles, purpose="samples", mitigate=False, executor=sampler).values[0]
        else:
            counts = sampler.submit(angles).result().values[0]
        from qjax.backends.runtime_sampler import bits_from_counts

        where = self.name if self.device_name is None else f"{self.name}:{self.device_name}"
        return Samples(bits_from_counts(counts, circuit.num_wires, seed=seed), where)

    def sampler(self, circuit: Circuit, shots: int, *, seed: int = 0) -> "NoisySampler":
        """The :class:`NoisySampler` of ``circuit``'s gate angles: ``shots`` measurements of every wire (what
        :meth:`sample` runs, and the service's ``samples`` jobs)."""
        every_wire = PauliSum([(1.0, ((w, "Z"),)) for w in range(circuit.num_wires)], circuit.num_wires)
        twin = self.twin(circuit, [every_wire])  # every wire simulated, even one no gate touches
        return NoisySampler(twin, self.compile(twin), shots=int(shots), seed=seed, device=self.device_name)

    def executor(self, circuit: Circuit, observables) -> "NoisySimulatorExecutor":
        """This simulator as an :class:`~qjax.backends.executor.Executor` of ``circuit``'s gate angles."""
        twin = self.twin(circuit, observables)
        return NoisySimulatorExecutor(
            twin, self.compile(twin), shots=self.shots, seed=self.seed, device=self.device_name
        )

    def describe(self) -> dict:
        out = {
            "name": self.name,
            "device": self.device_name,
            "shots": self.shots,
            "method": self.method,
            "trajectories": self.trajectories,
            "seed_simulator": self.seed,
            "dtype": jnp.dtype(self.dtype).name,
        }
        if self.device_name is None:
            s = self.noise_settings
            out["noise"] = s if isinstance(s, dict) or s is None else dataclasses.asdict(s)
        twin = self._twin
        if twin is not None and twin.isa is not None:
            from qjax.backends.runtime import calibration_snapshot

            isa = twin.isa
            layout = [int(q) for q in isa.layout.final_index_layout()]
            out["transpiled"] = {
                "depth": int(isa.depth()),
                "gate_counts": dict(isa.count_ops()),
                "two_qubit_gates": sum(1 for i in isa.data if i.operation.num_qubits == 2),
                "layout": layout,
                "simulated_qubits": list(twin.qubits or ()),
            }
            out["calibration"] = calibration_snapshot(self.device(), layout)
        if self.layout is not None:
            out["layout_choice"] = self.layout.describe()
        return out

    @property
    def capabilities(self) -> Capabilities:
        gradients: tuple[str, ...]
        if self.shots is not None:
            gradients = SAMPLED_GRADIENTS
        else:  # exact: autodiff or shifts through the density matrix, or SPSA over sampled evaluations
            gradients = tuple(g for g in GRADIENTS if g in _EXACT_GRADIENTS or g in SAMPLED_GRADIENTS)
        from qjax.backends.runtime import device_capabilities

        return device_capabilities(
            self.device(),
            gradients=gradients,
            max_qubits=self.max_qubits,
            max_operations=self.max_operations,
            persistent_job_ids=False,
        )


class NoisySimulatorExecutor:
    """Noisy expectations at batches of gate-angle vectors ``(B, G)``; sampled when ``shots`` is set.

    With shots, each Pauli term is estimated from ``shots`` ±1 outcomes
    (binomial with mean ``(1 + ⟨P⟩)/2``, readout errors included), as if measured
    in its own basis; ``stds`` are the resulting standard errors.
    """

    name = "noisy_simulator"
    persistent_ids = False

    def __init__(self, twin: Twin, compiled, *, shots: int | None, seed: int = 0, device: str | None = None):
        self.twin, self.shots, self.device = twin, shots, device
        self.num_params = twin.num_angles
        self.num_observables = len(twin.observables)
        self._columns = twin.columns
        self._seed, self._jobs = int(seed), 0
        self._coeffs, self._consts = np.asarray(compiled.term_coeffs), np.asarray(compiled.constants)
        self._terms = jax.jit(jax.vmap(compiled.term_values))
        self._dtype = jnp.finfo(compiled.dtype).dtype

    def submit(self, params, *, mitigate: bool = True) -> DoneJob:
        params = np.asarray(params, dtype=float)
        sim = params if self._columns is None else params[:, self._columns]
        means = np.clip(np.asarray(self._terms(jnp.asarray(sim, self._dtype)), dtype=float), -1.0, 1.0)  # (B, T)
        if self.shots is None:
            values = means @ self._coeffs.T + self._consts
            return DoneJob(Evaluation(values, np.zeros_like(values)))
        rng = np.random.default_rng([self._seed, self._jobs])
        self._jobs += 1
        ones = rng.binomial(self.shots, (1 + means) / 2)
        sampled = 2 * ones / self.shots - 1
        values = sampled @ self._coeffs.T + self._consts
        stds = np.sqrt(((1 - sampled**2) / self.shots) @ (self._coeffs.T**2))
        shots = len(params) * self.num_observables * self.shots
        return DoneJob(Evaluation(values, stds, None, shots, 0.0))

    def set_shots(self, shots: int) -> None:
        """Shots per term of later evaluations (the final evaluation's ``backend.final_precision``); exact stays exact."""
        if self.shots is not None:
            self.shots = int(shots)

    def attach(self, job_id: str) -> None:
        return None

    def planned_cost(self, batch_size: int, *, mitigate: bool = True) -> tuple[int, float]:
        return batch_size * self.num_observables * (self.shots or 0), 0.0

    def fingerprint(self) -> str:
        blob = repr(
            (
                self.name,
                self.device,
                self.twin.circuit,
                [o.terms for o in self.twin.observables],
                self.shots,
                self._seed,
                str(self._dtype),
            )
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {"name": self.name, "device": self.device, "shots": self.shots}


class NoisySampler:
    """Measurements of every logical wire from the twin's noisy distribution, readout errors included, as an
    :class:`~qjax.backends.executor.Executor` whose values are counts ``(1, 2**n)`` (wire 0 the most significant
    bit), like :class:`~qjax.backends.runtime_sampler.RuntimeSampler` on a device."""

    name = "noisy_simulator"
    persistent_ids = False

    def __init__(self, twin: Twin, compiled, *, shots: int, seed: int = 0, device: str | None = None):
        n = compiled_wires = twin.circuit.num_wires
        if twin.qubits is not None:  # device twin: logical wire k ended on physical final[k], simulated wire of it
            final = twin.isa.layout.final_index_layout()
            n = len(final)
            self._wires = np.array([twin.qubits.index(final[k]) for k in range(n)])
        else:
            self._wires = np.arange(n)
        self.twin, self.device, self.num_wires = twin, device, n
        self.shots: int | None = int(shots)  # the Executor protocol's type; _count for arithmetic
        self._count = int(shots)
        self.num_params, self.num_observables = twin.num_angles, 2**n
        self._columns, self._seed, self._width = twin.columns, int(seed), compiled_wires
        self._probs = jax.jit(compiled.probs)
        self._dtype = jnp.finfo(compiled.dtype).dtype

    def submit(self, params, *, mitigate: bool = False) -> DoneJob:
        row = np.asarray(params, dtype=float)[0]
        sim = row if self._columns is None else row[self._columns]
        probs = np.clip(np.asarray(self._probs(jnp.asarray(sim, self._dtype)), dtype=float), 0.0, None)
        draws = np.random.default_rng(self._seed).choice(len(probs), size=self._count, p=probs / probs.sum())
        bits = (draws[:, None] >> np.arange(self._width - 1, -1, -1)) & 1
        index = bits[:, self._wires] @ (1 << np.arange(self.num_wires - 1, -1, -1))
        counts = np.bincount(index, minlength=2**self.num_wires).astype(float)[None]
        return DoneJob(Evaluation(counts, np.zeros_like(counts), None, self._count, 0.0))

    def attach(self, job_id: str) -> None:
        return None

    def planned_cost(self, batch_size: int, *, mitigate: bool = False) -> tuple[int, float]:
        return batch_size * self._count, 0.0

    def fingerprint(self) -> str:
        blob = repr(("sampler", self.device, self.twin.circuit, self.twin.schedule, self.shots, self._seed))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        return {"name": self.name, "device": self.device, "shots": self.shots}
