"""IBM devices through qiskit-ibm-runtime: shared by ``backend=ibm_fake`` and ``backend=ibm``.

:class:`RuntimeBackend` transpiles the circuit once per run to the device's ISA
(preset pass manager at ``backend.optimization_level``), maps the observable
through the layout and builds a :class:`RuntimeExecutor`. Each submit is ONE
client-side ``executor_estimator.Estimator`` job holding ONE PUB whose parameter
array has a row per parameter set, so every shifted circuit of a step runs in
one job. That Estimator (qiskit-ibm-runtime ≥ 0.51) applies TREX, ZNE, dynamical
decoupling and twirling on the client, so they act on fake devices too (the
legacy ``EstimatorV2`` ignores them locally).

Subclasses say how to find a device (:meth:`RuntimeBackend.resolve_device`) and
whether job ids can be re-attached after a restart.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import logging
import warnings
import weakref
from typing import Any

import numpy as np

from qjax.backends.base import Capabilities, JobBackend, Objective
from qjax.backends.executor import Evaluation, angle_circuit, runtime_job_state
from qjax.backends.jobs import SECONDS_PER_SHOT, JobRunner
from qjax.backends.modes import check_execution_mode, close_mode, open_execution_mode
from qjax.backends.sampled import chained_objective
from qjax.errors import BackendError
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.schemas import MAX_OPERATIONS
from qjax.sim.gradients import SAMPLED_GRADIENTS

__all__ = [
    "RuntimeBackend",
    "RuntimeExecutor",
    "estimator_options",
    "job_seed",
    "calibration_snapshot",
    "coupling_map",
    "device_label",
    "native_gates",
]

log = logging.getLogger("qjax")

# qiskit-mitigation warns once per Pauli term when shot-noise errors are all zero (it then fits unweighted)
warnings.filterwarnings("ignore", message="No positive, finite standard errors", category=UserWarning)


def estimator_options(mitigation, *, shots: int, seed: int | None, mitigate: bool = True) -> dict:
    """The ``EstimatorOptions`` (as a dict) for a ``mitigation`` config; refuses what the runtime cannot do.

    ``readout`` → TREX (``measure_mitigation``); ``zne`` → ``zne_mitigation`` with
    the configured noise factors, amplifier and extrapolator; ``dd`` → dynamical
    decoupling; ``twirling`` → gate and measurement twirling. ``mitigate=False``:
    none of them (resilience level 0).
    """
    techniques = mitigation.techniques if (mitigate and mitigation is not None) else ()
    options: dict[str, Any] = {
        "resilience_level": 0,
        "default_shots": int(shots),
        "resilience": {"measure_mitigation": "readout" in techniques, "zne_mitigation": "zne" in techniques},
        "twirling": {"enable_gates": False, "enable_measure": False},
    }
    if seed is not None:
        options["simulator"] = {"seed_simulator": int(seed)}
    if "zne" in techniques:
        zne = mitigation.zne
        if zne.amplifier == "global_folding":
            raise BackendError(
                "mitigation.zne.amplifier=global_folding exists only in JAX (backend=noisy_simulator); "
                "IBM's runtime folds two-qubit gates: use mitigation.zne.amplifier=gate_folding"
            )
        if zne.amplifier == "noise_scaling":
            raise BackendError(
                "mitigation.zne.amplifier=noise_scaling scales the noise model's channels, which only "
                "the JAX noisy simulator has; on IBM use mitigation.zne.amplifier=gate_folding"
            )
        if zne.amplifier == "pea":
            raise BackendError(
                "mitigation.zne.amplifier=pea needs a learned layer noise model (NoiseLearnerV3), which "
                "qjax does not run yet; use mitigation.zne.amplifier=gate_folding"
            )
        # exponential is sent as the runtime's own default pair: each Pauli term keeps the better of an
        # exponential and a linear fit, so a term whose exponential fit diverges (inf/NaN) stays finite
        extrapolator = ["exponential", "linear"] if zne.extrapolator == "exponential" else zne.extrapolator
        if zne.extrapolator == "richardson":  # the polynomial through every point: the runtime's highest degree
            extrapolator = f"polynomial_degree_{len(zne.noise_factors) - 1}"
        options["resilience"]["zne"] = {
            "amplifier": zne.amplifier,
            "noise_factors": list(zne.noise_factors),
            "extrapolator": extrapolator,
        }
    if "dd" in techniques:
        options["dynamical_decoupling"] = {"enable": True, "sequence_type": mitigation.dd.sequence_type}
    if "twirling" in techniques:
        tw = mitigation.twirling
        options["twirling"] = {"enable_gates": tw.enable_gates, "enable_measure": tw.enable_measure}
        for key in ("num_randomizations", "shots_per_randomization"):
            if getattr(tw, key) is not None:
                options["twirling"][key] = getattr(tw, key)
    if "readout" in techniques:
        options["twirling"]["enable_measure"] = True  # TREX twirls the readout; say so rather than be overridden
    try:
        from qiskit_ibm_runtime.options_models import EstimatorOptions

        EstimatorOptions(**options)
    except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError; name the first problem
        first = str(exc).splitlines()[1:3]
        raise BackendError(
            f"mitigation={mitigation.name}: the runtime refuses these settings ({' '.join(first)}); "
            "fix the mitigation.* value it names"
        ) from None
    return options


#: Bytes a job on a fake device holds on this machine per shot, per parameter set and measurement basis: the
#: raw bits of every randomization and their post-processing (measured 110-120 B with qiskit-ibm-runtime 0.51
#: on FakeManilaV2: LiH's 13 M-shot final job peaked at 18 GiB before this bound).
LOCAL_BYTES_PER_SHOT = 160
#: The most memory a fake device's job may take: a final evaluation sized for ``backend.final_precision`` is
#: capped to fit (a run on a 16 GiB laptop must not be killed for memory at its last job).
LOCAL_JOB_BYTES = 6 << 30


def job_seed(options: dict, params: np.ndarray, mitigate: bool) -> int:
    """The simulator seed of one job on a fake device: the run's seed (``backend.seed_simulator``, else ``seed``)
    mixed with the batch's parameters. One seed for every job would replay the same shot-noise stream at every
    step, and parameter-shift gradients would then carry the same error step after step, so training drifts
    (measured: LiH at 3.0 Å on FakeManilaV2 climbed to +19 mHa). A batch sent again (a retry, a resumed run)
    gets the same seed, so results stay reproducible."""
    base = int(options["simulator"]["seed_simulator"])
    digest = hashlib.sha256(np.ascontiguousarray(params, np.float64).tobytes() + bytes([mitigate])).digest()
    return (base * 1_000_003 + int.from_bytes(digest[:6], "little")) % 2**31


class _RuntimeJob:
    """A qiskit-ibm-runtime job seen through the :class:`~qjax.backends.executor.Job` protocol."""

    def __init__(self, job, executor: "RuntimeExecutor", batch: int, mitigate: bool):
        self._job, self._executor, self._batch, self._mitigate = job, executor, batch, mitigate
        self.job_id = str(job.job_id())

    def status(self) -> str:
        return runtime_job_state(self._job.status())

    def result(self) -> Evaluation:
        from qjax.backends.runtime_results import read_job

        # TREX: the same shots are read twice, rescaled and raw (the unmitigated value costs no second job)
        result, raw = read_job(self._job, raw=self._mitigate and self._executor.reads_raw)
        data = result[0].data
        k = self._executor.num_observables
        values = np.asarray(data.evs, dtype=float).reshape(-1, k)
        stds = np.asarray(data.stds, dtype=float).reshape(-1, k)
        unmitigated = None
        if "evs_noise_factors" in data:  # ZNE: noise factor 1 (the first) is the unamplified circuit
            unmitigated = np.asarray(data.evs_noise_factors, dtype=float)[..., 0].reshape(-1, k)
        elif raw is not None:
            unmitigated = raw[0].reshape(-1, k)
        shots, qpu = self._executor.planned_cost(len(values), mitigate=self._mitigate)
        usage = getattr(self._job, "usage", None)
        if callable(usage):
            try:
                qpu = float(usage()) or qpu  # local jobs report 0: keep the estimate
            except Exception:  # noqa: BLE001 - no usage known yet; keep the estimate
                pass
        return Evaluation(values, stds, unmitigated, shots, qpu)

    def cancel(self) -> None:
        self._job.cancel()


class RuntimeExecutor:
    """One transpiled circuit and observable list on one IBM (or fake) device."""

    def __init__(
        self,
        name: str,
        device,
        circuit: Circuit,
        observables: list[PauliSum],
        *,
        shots: int,
        mitigation,
        optimization_level: int,
        seed: int | None,
        persistent_ids: bool,
        service=None,
        execution_mode: str = "job",
        opens_modes: bool = False,
        openers=None,
        initial_layout: tuple[int, ...] | None = None,
    ):
        from qiskit.transpiler import generate_preset_pass_manager

        from qjax.interop.qiskit import to_qiskit

        self.name, self.device, self.shots, self.mitigation = name, device, int(shots), mitigation
        self.persistent_ids, self._service, self._seed = persistent_ids, service, seed
        # backend.execution_mode: opened at the first submit, where the device has a queue (backend=ibm)
        self.execution_mode = check_execution_mode(execution_mode, name)
        self.mode_in_effect: str | None = None if opens_modes else "job"
        self._mode_object = None if opens_modes else device
        self._openers = openers
        self.num_observables, self.num_wires = len(observables), circuit.num_wires
        logical = to_qiskit(angle_circuit(circuit))
        self.num_params = len(logical.parameters)
        pm = generate_preset_pass_manager(
            optimization_level=optimization_level,
            backend=device,
            seed_transpiler=0 if seed is None else int(seed),
            initial_layout=None if initial_layout is None else list(initial_layout),
        )
        self.isa = pm.run(logical)
        # a parameter whose gate the transpiler removed is no longer bound: keep the surviving columns
        position = {p: i for i, p in enumerate(logical.parameters)}
        self._columns = np.array([position[p] for p in self.isa.parameters], dtype=int)
        self.observables = [o.to_qiskit(circuit.num_wires).apply_layout(self.isa.layout) for o in observables]
        self._groups = max(len(o.group_commuting(qubit_wise=True)) for o in self.observables)
        self._options = {m: estimator_options(mitigation, shots=shots, seed=seed, mitigate=m) for m in (True, False)}
        self._factors = len(mitigation.zne.noise_factors) if "zne" in mitigation.techniques else 1
        self._fingerprint: str | None = None
        self._capped: set[int] = set()  # final shot counts local_shot_cap capped, warned about

    def local_shot_cap(self) -> int | None:
        """The most shots per parameter set a job on a fake device may ask for, so that the raw shots it holds on
        this machine stay within :data:`LOCAL_JOB_BYTES` with two rows (the parameters and REM's reference), every
        measurement basis and noise factor; ``None`` on IBM (its shots are held on IBM's side)."""
        if self.persistent_ids:
            return None
        per_shot = LOCAL_BYTES_PER_SHOT * 2 * self._groups * self._factors
        return max(1, LOCAL_JOB_BYTES // per_shot)

    def set_shots(self, shots: int) -> None:
        """Shots per PUB of later jobs (the final evaluation's ``backend.final_precision``), at most
        :meth:`local_shot_cap` on a fake device (one warning line when it caps them); the fingerprint, hence
        the cache key, and :meth:`planned_cost` follow."""
        shots, cap = int(shots), self.local_shot_cap()
        if cap is not None and shots > cap:
            if shots not in self._capped:  # once: the loss at the end and the report share the final job
                self._capped.add(shots)
                log.warning(
                    "%s: the final evaluation wants %d shots per parameter set, which the fake device would hold "
                    "in about %.0f GiB on this machine; it uses %d (about %.0f GiB), so its standard error is about "
                    "%.1fx what backend.final_precision asks (set backend.final_precision higher to silence this)",
                    self.name,
                    shots,
                    shots / cap * LOCAL_JOB_BYTES / 2**30,
                    cap,
                    LOCAL_JOB_BYTES / 2**30,
                    (shots / cap) ** 0.5,
                )
            shots = cap
        self.shots = shots
        self._options = {
            m: estimator_options(self.mitigation, shots=self.shots, seed=self._seed, mitigate=m) for m in (True, False)
        }
        self._fingerprint = None

    @property
    def reads_raw(self) -> bool:
        """A mitigated job's result also gives the unmitigated values of its shots (TREX is post-processing)."""
        techniques = self.mitigation.techniques
        return "readout" in techniques and "zne" not in techniques

    def unmitigated_gap(self) -> str:
        """Why a mitigated job gave no unmitigated value alongside (the final evaluation then sends one more)."""
        from qjax.backends.runtime_results import raw_reading_gap

        if "readout" not in self.mitigation.techniques and "zne" not in self.mitigation.techniques:
            return (
                f"mitigation={self.mitigation.name} changes the circuits that run (dynamical decoupling, twirling), "
                "so only a job without it measures the unmitigated value"
            )
        return raw_reading_gap() or "the final evaluation came from a result cache written without it"

    @property
    def service(self):
        """The ``QiskitRuntimeService`` that re-attaches jobs, or ``None`` (fake devices)."""
        return self._service

    @property
    def columns(self) -> np.ndarray:
        """The gate-angle columns the transpiled circuit still binds (its parameters, in order)."""
        return self._columns

    def primitive_mode(self):
        """What the primitives run in: the device (job mode), or the session / batch opened for this run."""
        if self._mode_object is None:
            self._mode_object, self.mode_in_effect = open_execution_mode(
                self.execution_mode, self.device, backend=self.name, openers=self._openers
            )
            if self.mode_in_effect != "job":  # close it when the run ends: running jobs finish, the slot is freed
                weakref.finalize(self, close_mode, self._mode_object)
        return self._mode_object

    def _estimator(self, mitigate: bool, params: np.ndarray):
        from qiskit_ibm_runtime.executor_estimator import Estimator

        options = self._options[mitigate]
        if "simulator" in options:  # a simulated device: a seed of its own for each batch (see job_seed)
            options = {**options, "simulator": {"seed_simulator": job_seed(options, params, mitigate)}}
        return Estimator(mode=self.primitive_mode(), options=options)

    def submit(self, params, *, mitigate: bool = True) -> _RuntimeJob:
        params = np.asarray(params, dtype=float)
        bound = params[:, self._columns][:, None, :]  # (B, 1, G): broadcasts against (1, k) observables
        observables = np.empty((1, self.num_observables), dtype=object)
        observables[0, :] = self.observables
        pubs = [(self.isa, observables, bound)]
        try:
            job = self._estimator(mitigate, params).run(pubs)
        except Exception as exc:  # noqa: BLE001 - a session that expired (idle > its TTL) takes no more jobs
            if self.mode_in_effect in (None, "job"):
                raise
            log.warning("%s: the %s refused the job (%s); continuing in job mode", self.name, self.mode_in_effect, exc)
            close_mode(self._mode_object)
            self._mode_object, self.mode_in_effect = self.device, "job"
            job = self._estimator(mitigate, params).run(pubs)
        return _RuntimeJob(job, self, len(params), mitigate)

    def attach(self, job_id: str):
        if self._service is None:
            return None
        try:
            return _RuntimeJob(self._service.job(job_id), self, 0, True)
        except Exception as exc:  # noqa: BLE001 - an unknown or expired id: submit again
            log.warning("%s: cannot re-attach job %s (%s)", self.name, job_id, exc)
            return None

    def planned_cost(self, batch_size: int, *, mitigate: bool = True) -> tuple[int, float]:
        factors = self._factors if mitigate else 1
        shots = batch_size * self.num_observables * self.shots * factors
        return shots, shots * self._groups * SECONDS_PER_SHOT

    def fingerprint(self) -> str:
        if self._fingerprint is None:  # asked for every batch; the transpiled circuit never changes
            self._fingerprint = self._digest()
        return self._fingerprint

    def _digest(self) -> str:
        from qiskit import qasm3

        blob = repr(
            (
                self.name,
                self.device.name,
                qasm3.dumps(self.isa),
                [o.to_list() for o in self.observables],
                self.shots,
                dataclasses.asdict(self.mitigation),
                self._seed,
            )
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        counts = {name: int(n) for name, n in self.isa.count_ops().items()}
        two_qubit = sum(1 for inst in self.isa.data if inst.operation.num_qubits == 2)
        layout = [int(q) for q in self.isa.layout.final_index_layout()]
        return {
            "name": self.name,
            "device": self.device.name,
            "num_device_qubits": int(self.device.num_qubits),
            "shots": self.shots,
            "execution_mode": self.execution_mode,
            # null until the first job opened it; differs from execution_mode where IBM refused a session
            "execution_mode_in_effect": self.mode_in_effect,
            "transpiled": {
                "depth": int(self.isa.depth()),
                "two_qubit_gates": two_qubit,
                "gate_counts": counts,
                "layout": layout,
            },
            "calibration": calibration_snapshot(self.device, layout),
        }


def device_label(device) -> str:
    """The name a user gives ``backend.device`` for ``device``: a fake device's class (``FakeManilaV2``), else
    IBM's backend name (``ibm_brisbane``)."""
    if type(device).__module__.startswith("qiskit_ibm_runtime.fake_provider"):
        return type(device).__name__
    return str(device.name)


def coupling_map(device) -> tuple[tuple[int, int], ...] | None:
    """The directed qubit pairs ``((a, b), ...)`` of a Qiskit ``device``, sorted; ``None``: no device, or all-to-all."""
    edges = None if device is None else device.coupling_map
    return None if edges is None else tuple(sorted((int(a), int(b)) for a, b in edges.get_edges()))


def device_capabilities(
    device, *, gradients: tuple[str, ...], max_qubits: int, max_operations: int, persistent_job_ids: bool
) -> Capabilities:
    """What a backend running on the Qiskit ``device`` (or ``None``: not chosen yet) can do: its width is
    capped at the device's, and its coupling map and native gates are the device's."""
    if device is not None:
        max_qubits = min(max_qubits, int(device.num_qubits))
    return Capabilities(
        gradients=gradients,
        max_qubits=max_qubits,
        max_operations=max_operations,
        shots=True,
        coupling_map=coupling_map(device),
        native_gates=native_gates(device),
        persistent_job_ids=persistent_job_ids,
    )


def native_gates(device) -> tuple[str, ...] | None:
    """The gates (unitary operations) a Qiskit ``device``'s target runs, sorted; ``None``: no device.

    Measure, reset, delay and control flow are left out: they are not gates a circuit is transpiled into.
    """
    if device is None:
        return None
    from qiskit.circuit import Gate

    target = device.target
    return tuple(sorted(n for n in target.operation_names if isinstance(target.operation_from_name(n), Gate)))


def calibration_snapshot(device, qubits: list[int]) -> dict:
    """T1, T2 (s), readout error and gate errors of the physical ``qubits``, from the device's target."""
    target = device.target
    out: dict[str, Any] = {"qubits": {}, "two_qubit_gates": {}}
    for q in qubits:
        props = target.qubit_properties[q] if target.qubit_properties else None
        row = {"t1": getattr(props, "t1", None), "t2": getattr(props, "t2", None)}
        for gate in ("measure", "sx", "x"):
            if gate in target and (q,) in target[gate] and target[gate][(q,)] is not None:
                row["readout_error" if gate == "measure" else f"{gate}_error"] = target[gate][(q,)].error
        out["qubits"][str(q)] = row
    used = set(qubits)
    for gate in target.operation_names:
        if target.operation_from_name(gate).num_qubits != 2:
            continue
        for pair, props in target[gate].items():
            if pair is not None and set(pair) <= used and props is not None:
                out["two_qubit_gates"][f"{gate}{list(pair)}"] = props.error
    return out


class RuntimeBackend(JobBackend):
    """The :class:`~qjax.backends.base.Backend` of qiskit-ibm-runtime devices (see the module docstring)."""

    name = "runtime"
    persistent_ids = False
    default_device = "least_busy"
    default_backoff_s = 2.0
    #: The device has a queue, so ``backend.execution_mode`` batch / session mean something (IBM only).
    opens_modes = False

    def __init__(
        self,
        *,
        device: str | None = None,
        shots: int = 4096,
        seed_simulator: int | None = None,
        optimization_level: int = 1,
        min_qubits: int | None = None,
        max_pending_jobs: int | None = None,
        max_qubits: int = 26,
        max_operations: int = MAX_OPERATIONS,
        mitigation=None,
        seed: int = 0,
        execution_mode: str = "job",
        **options,  # the job settings of JobBackend: fallback, state_dir, budget, timeouts and retries
    ):
        # the device computes, not JAX: make_backend drops the run's dtype
        if shots is None or shots < 1:
            raise BackendError(
                f"backend.shots={shots} is invalid: backend={self.name} samples; "
                "use an integer ≥ 1 (e.g. backend.shots=4096)"
            )
        from qjax.schemas import MitigationConfig

        self.mitigation = mitigation if mitigation is not None else MitigationConfig("none")
        estimator_options(self.mitigation, shots=shots, seed=None)  # refuse what the runtime cannot do, now
        self.device_name = device if device is not None else self.default_device
        self.shots, self.optimization_level = int(shots), int(optimization_level)
        self.seed = seed_simulator if seed_simulator is not None else seed
        self.min_qubits, self.max_pending_jobs = min_qubits, max_pending_jobs
        self.max_qubits, self.max_operations = int(max_qubits), int(max_operations)
        self.execution_mode = check_execution_mode(execution_mode, self.name)
        super().__init__(**options)
        self._device = None
        self.layout = None
        self.runner: JobRunner | None = None
        self._executor_description: dict | None = None

    # -- what subclasses provide ---------------------------------------------------------

    @abc.abstractmethod
    def resolve_device(self, num_qubits: int):
        """The device object for ``backend.device`` (``least_busy``: one that fits ``num_qubits``)."""

    def service(self):
        """The ``QiskitRuntimeService`` that can re-attach jobs, or ``None``."""
        return None

    def use_layout(self, layout) -> None:
        """Run on ``layout.device`` with ``layout.qubits`` as the initial layout
        (a :class:`~qjax.backends.layout.DeviceLayout`, ``ansatz.entangler=device``)."""
        self._device, self.layout = layout.device, layout

    # -- the Backend protocol ---------------------------------------------------------------

    def device(self, num_qubits: int = 1):
        if self._device is None:
            self._device = self.resolve_device(num_qubits)
        return self._device

    def check(self, circuit: Circuit, observable: PauliSum) -> None:
        self.check_limits(circuit, observable)  # before the device is looked up and long before transpiling
        n = max(circuit.num_wires, observable.num_wires)
        device = self.device(n)
        if n > device.num_qubits:
            raise BackendError(
                f"the circuit needs {n} qubits but {device.name} has {device.num_qubits}; "
                f"pick a larger device (backend.device=...) or a smaller problem"
            )

    def executor(self, circuit: Circuit, observables) -> RuntimeExecutor:
        observables = list(observables)
        for obs in observables:
            self.check(circuit, obs)
        return RuntimeExecutor(
            self.name,
            self.device(circuit.num_wires),
            circuit,
            observables,
            shots=self.shots,
            mitigation=self.mitigation,
            optimization_level=self.optimization_level,
            seed=self.seed,
            persistent_ids=self.persistent_ids,
            service=self.service(),
            execution_mode=self.execution_mode,
            opens_modes=self.opens_modes,
            initial_layout=self.layout.qubits if self.layout is not None else None,
        )

    def sample(self, circuit: Circuit, params, shots: int, *, seed: int = 0):
        """``shots`` samples of ``circuit`` at ``params`` as ONE Sampler job on the device and layout the run's
        Estimator jobs used (:class:`~qjax.backends.runtime_sampler.RuntimeSampler`), through the run's
        :class:`JobRunner`: journalled, budgeted, counted. Before any job (or after a fallback off IBM): the
        base class's ideal samples, labelled ``simulator``."""
        from qjax.backends.base import Samples
        from qjax.backends.runtime_sampler import MAX_SAMPLED_WIRES, RuntimeSampler, bits_from_counts

        runner = self.runner
        if runner is None or not isinstance(runner.executor, RuntimeExecutor):
            return super().sample(circuit, params, shots, seed=seed)
        if circuit.num_wires > MAX_SAMPLED_WIRES:
            raise BackendError(
                f"sampling {circuit.num_wires} wires as a {2**circuit.num_wires}-entry count vector is too much; "
                f"sampling on {self.name} handles up to {MAX_SAMPLED_WIRES} wires"
            )
        estimator = runner.executor
        sampler = RuntimeSampler(estimator, shots=shots, seed=self.seed)
        lm = circuit.linear_map()
        angles = np.asarray(lm.A) @ np.asarray(params, dtype=np.float64) + np.asarray(lm.c)
        runner.step = "final"
        ev = runner.evaluate(angles[None], purpose="samples", mitigate=False, executor=sampler)
        bits = bits_from_counts(ev.values[0], circuit.num_wires, seed=seed)
        return Samples(bits, f"{estimator.name}:{device_label(estimator.device)}")

    def objective(self, circuit: Circuit, observable: PauliSum, *, gradient: str = "auto") -> Objective:
        def primary():
            ex = self.executor(circuit, [observable])
            self._executor_description = ex.describe()
            return ex

        return chained_objective(self, circuit, observable, primary, gradient=gradient)

    def describe(self) -> dict:
        out = {
            "name": self.name,
            "device": self.device_name,
            "shots": self.shots,
            "optimization_level": self.optimization_level,
            "seed_simulator": self.seed,
            "execution_mode": self.execution_mode,
        }
        if self._executor_description is not None:
            out.update(self._executor_description)
        running = None if self.runner is None else self.runner.executor
        if isinstance(running, RuntimeExecutor) and running.name == self.name:  # opened at the first job
            out["execution_mode_in_effect"] = running.mode_in_effect
        if self.layout is not None:
            out["layout_choice"] = self.layout.describe()
        return out

    def known_device(self):
        """The device if it is known without a network call or a circuit's width; else ``None``."""
        return self._device

    @property
    def capabilities(self) -> Capabilities:
        return device_capabilities(
            self.known_device(),
            gradients=SAMPLED_GRADIENTS,
            max_qubits=self.max_qubits,
            max_operations=self.max_operations,
            persistent_job_ids=self.persistent_ids,
        )
