"""The typed schema of qjax's Hydra config: one frozen dataclass per config option.

Each group (``backend``, ``optimizer``, ...) maps an option ``name`` to the
dataclass that describes its keys; :func:`register` adds one. Every field
carries what it accepts (``expected``), a range check (``ok``) and an example
value, which :mod:`qjax.config` turns into one-line error messages. Adding an
option is one dataclass with ``@register(group, name)`` and its YAML file under
``conf/<group>/``.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Optional

__all__ = [
    "EXECUTION_MODES",
    "BackendConfig",
    "OptimizerConfig",
    "AdamConfig",
    "AdamWConfig",
    "SGDConfig",
    "RMSPropConfig",
    "ScheduleConfig",
    "CosineScheduleConfig",
    "ExponentialScheduleConfig",
    "WarmupCosineScheduleConfig",
    "ProblemConfig",
    "H2Config",
    "LiHConfig",
    "TFIMConfig",
    "MaxCutConfig",
    "AnsatzConfig",
    "UCCConfig",
    "HEAConfig",
    "QAOAConfig",
    "DatasetConfig",
    "IrisConfig",
    "MoonsConfig",
    "BreastCancerConfig",
    "ReuploadConfig",
    "IBMFakeConfig",
    "IBMConfig",
    "JobControlConfig",
    "RemoteConfig",
    "REMOTE_TARGETS",
    "NoisySimulatorConfig",
    "NoiseSettings",
    "MitigationConfig",
    "ReadoutMitigationConfig",
    "ZNEMitigationConfig",
    "DDMitigationConfig",
    "TwirlingMitigationConfig",
    "BestMitigationConfig",
    "ZNESettings",
    "DDSettings",
    "TwirlingSettings",
    "TrainerConfig",
    "CheckpointConfig",
    "BudgetConfig",
    "RunConfig",
    "CSVLoggerConfig",
    "TensorBoardLoggerConfig",
    "MLflowLoggerConfig",
    "Globals",
    "GROUPS",
    "FIXED_GROUPS",
    "SCHEMAS",
    "register",
]

GRADIENTS = ("auto", "backprop", "adjoint", "parameter_shift", "spsa")
PRECISIONS = ("single", "double")

# --- limits every size and seed is checked against ---------------------------------
# Each bound is far beyond what a run uses but below what breaks a library underneath.

#: Largest seed: numpy's ``RandomState`` (scikit-learn's splits) takes seeds < 2**32, and JAX's
#: ``PRNGKey`` and Aer's ``seed_simulator`` take at least that much.
SEED_MAX = 2**32 - 1
#: Largest count of steps (``trainer.steps``, schedules, checkpoint periods): Optax keeps its step
#: counter in int32 and stops it there (``optax.safe_increment``), so schedules and Adam's bias
#: correction would freeze past it, and a schedule length beyond it fails converting to int32.
COUNT_MAX = 2**31 - 1
#: Most shots per circuit evaluation. IBM's job validation allows 5-10 million executions (circuits ×
#: shots) per job; at 10**7 shots the shot noise of a ±1 observable (3e-4) is already far below chemical
#: accuracy (1.6e-3 Ha), and the local Aer path spends minutes per evaluation.
MAX_SHOTS = 10_000_000
#: Widest register a backend may be configured for: IBM's largest devices have 156 qubits. Simulators
#: never get near it: the memory estimate at start-up refuses what the machine cannot hold (2**34
#: amplitudes are already 128 GiB in complex64).
QUBITS_MAX = 156
#: Default of ``backend.max_operations``, the most gates one circuit may expand to (ZNE's folding
#: counted), the same as the service's ``Limits.max_operations``. Measured with
#: scripts/measure_limits.py (hardware-efficient ansatz on 5 wires, ``value_and_grad``, cold
#: compile, this project's 2-core EPYC while loaded): circuit build + compile + first step takes
#: 3.1 s at 1,400 gates, 3.7 s at 4,200, 10.9 s at 8,400, 21 s at 14,000 and 26.8 s at 19,600; at
#: 42,000 JAX captured 3.6 GB of constants (the dense map from parameters to gate angles grows
#: with the square of depth) and the process ended without a result. Transpiling for ibm_fake
#: (FakeManilaV2, level 1) took 1.0-1.6 s at 14,000-19,600 gates.
MAX_OPERATIONS = 20_000
#: ``backend=noisy_simulator method=auto`` simulates the density matrix up to this width, trajectories
#: beyond (:mod:`qjax.noise.density`); here so the size checks (:mod:`qjax.resources`) stay below noise.
DENSITY_MATRIX_MAX_QUBITS = 12
#: Bond lengths (Å) a molecule is built at: from 0.2 Å (nuclei closer than this give
#: meaningless energies in a minimal basis: H2 at 1e-12 Å has +5e11 Ha) to 5 Å (far past
#: dissociation of H2 and LiH; the docs use 0.5-3.0 Å).
BOND_LENGTH_RANGE = (0.2, 5.0)
#: Largest coupling, angle scale or learning rate magnitude: float32 resolves about 7 digits, so
#: ratios beyond 1e6 vanish and magnitudes beyond it only overflow sooner.
MAGNITUDE_MAX = 1e6

#: group -> option name -> schema dataclass; filled by :func:`register`.
SCHEMAS: dict[str, dict[str, type]] = {}


def register(group: str, name: str) -> Callable[[type], type]:
    """Class decorator: validate ``<group>`` configs whose ``name`` is ``name`` with this dataclass."""

    def add(cls: type) -> type:
        SCHEMAS.setdefault(group, {})[name] = cls
        return cls

    return add


def _opt(default: Any, expected: str, ok: Optional[Callable[[Any], bool]] = None, example: Any = None) -> Any:
    """A dataclass field that knows what it accepts: ``expected`` words it, ``ok`` checks the range."""
    metadata = {"expected": expected, "ok": ok, "example": default if example is None else example}
    return field(default=default, metadata=metadata)


def _finite(v: Any) -> bool:
    """Not NaN and not ±inf (Python ints of any size count as finite)."""
    return v == v and -math.inf < v < math.inf


def _ge(lo: float) -> Callable[[Any], bool]:
    return lambda v: _finite(v) and v >= lo


def _gt(lo: float) -> Callable[[Any], bool]:
    return lambda v: _finite(v) and v > lo


def _within(lo: float, hi: float) -> Callable[[Any], bool]:
    """``lo ≤ v ≤ hi``; NaN fails every comparison, so it is refused too."""
    return lambda v: lo <= v <= hi


def _magnitude(v: float) -> bool:
    return -MAGNITUDE_MAX <= v <= MAGNITUDE_MAX


_SEED = f"an integer in 0..{SEED_MAX}"
_seed = _within(0, SEED_MAX)


def _count(lo: int) -> Callable[[Any], bool]:
    """An integer count from ``lo`` to :data:`COUNT_MAX`."""
    return _within(lo, COUNT_MAX)


def _unit(v: float) -> bool:
    return 0 <= v < 1


def _or_null(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda v: v in choices


_BOOL = "true or false"
_ROTATION_NAMES = {"RX", "RY", "RZ"}


# --- backend -----------------------------------------------------------------

#: ``backend.execution_mode``: how the jobs of a run meet IBM's queue (job: each waits its turn; batch:
#: queued together; session: the device is held between steps). Other backends run every mode as job.
EXECUTION_MODES = ("job", "batch", "session")


#: ``backend.final_precision: auto`` with hardware defaults: the target standard error (Ha) of a molecule's
#: reported energy, a fifth of chemical accuracy (1.6 mHa), so shot noise stays well inside it.
HARDWARE_PRECISION = 0.0003


def _precision(v: Any) -> bool:
    return v == "auto" or v is None or (not isinstance(v, (bool, str)) and math.isfinite(v) and v > 0)


@dataclass(frozen=True)
class BackendConfig:
    """JAX statevector simulator; other backends subclass this and add their keys."""

    name: str
    device: Optional[str] = _opt(None, "a device name or null", example="FakeManilaV2")
    shots: Optional[int] = _opt(
        None, f"null (exact) or an integer in 1..{MAX_SHOTS}", _or_null(_within(1, MAX_SHOTS)), example=1024
    )
    seed_simulator: Optional[int] = _opt(None, f"null or {_SEED}", _or_null(_seed), example=0)
    max_qubits: int = _opt(26, f"an integer in 1..{QUBITS_MAX}", _within(1, QUBITS_MAX))
    max_operations: int = _opt(
        MAX_OPERATIONS,
        f"an integer in 1..{10 * MAX_OPERATIONS} (gates in the expanded circuit)",
        _within(1, 10 * MAX_OPERATIONS),
    )
    #: Target standard error (Ha) of a molecule's final energy; validate() resolves auto (see HARDWARE_PRECISION)
    final_precision: Any = _opt(
        "auto",
        f"auto ({HARDWARE_PRECISION} Ha with hardware defaults), null (the training shots) or a float > 0 (Ha)",
        _precision,
        example=HARDWARE_PRECISION,
    )
    execution_mode: str = _opt(
        "job",
        "one of " + ", ".join(EXECUTION_MODES) + " (on backend=ibm; every other backend runs them as job)",
        _one_of(*EXECUTION_MODES),
        example="session",
    )

    #: Runs on hardware (or a stand-in for it): sampled, parameter-shift gradients, jobs.
    hardware: ClassVar[bool] = False


def _devices(v: Any) -> bool:
    return v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096 and not v & (v - 1))


@register("backend", "simulator")
@dataclass(frozen=True)
class SimulatorConfig(BackendConfig):
    """The JAX statevector simulator: ``devices`` > 1 splits one state over that many devices (qjax.sim.sharded)."""

    devices: Any = _opt(1, "1, auto, or a power of two such as 2, 4, 8 (devices to shard the state over)", _devices)


#: Backends a fallback chain may name.
FALLBACK_BACKENDS = ("ibm_fake", "simulator")


def _shots(v: Any) -> bool:
    return v is not None and 1 <= v <= MAX_SHOTS


#: Longest wait for one job (s): IBM queues can take days; threading waits overflow far beyond.
_WEEK = 7 * 24 * 3600
#: Most retries: the delay doubles each time, so 20 retries of 2 s already wait 12 days.
_RETRIES_MAX = 20


@dataclass(frozen=True)
class JobControlConfig(BackendConfig):
    """Keys of every backend that runs jobs: waiting, retrying and falling back (not a backend itself)."""

    hardware: ClassVar[bool] = True
    timeout_s: float = _opt(
        600.0, f"a float in (0, {_WEEK}] (seconds to wait for one job)", lambda v: 0 < v <= _WEEK, example=600
    )
    retries: int = _opt(3, f"an integer in 0..{_RETRIES_MAX}", _within(0, _RETRIES_MAX))
    backoff_s: float = _opt(2.0, "a float in [0, 3600] (first retry delay; doubles each retry)", _within(0, 3600))
    poll_s: float = _opt(0.2, "a float in (0, 3600] (seconds between job status checks)", lambda v: 0 < v <= 3600)
    fallback: tuple[str, ...] = _opt(
        (),
        "a list of " + ", ".join(FALLBACK_BACKENDS),
        lambda v: set(v) <= set(FALLBACK_BACKENDS),
        example="[simulator]",
    )


@register("backend", "ibm_fake")
@dataclass(frozen=True)
class IBMFakeConfig(JobControlConfig):
    """A qiskit-ibm-runtime fake device, run locally on Aer with the device's noise."""

    device: str = _opt("FakeManilaV2", "a fake device name or least_busy", example="FakeManilaV2")
    shots: int = _opt(4096, f"an integer in 1..{MAX_SHOTS} (this backend samples)", _shots)
    optimization_level: int = _opt(1, "an integer 0..3", _one_of(0, 1, 2, 3))
    min_qubits: Optional[int] = _opt(
        None, f"null or an integer in 1..{QUBITS_MAX} (least_busy filter)", _or_null(_within(1, QUBITS_MAX)), 5
    )
    max_pending_jobs: Optional[int] = _opt(
        None, f"null or an integer in 0..{COUNT_MAX} (least_busy filter)", _or_null(_count(0)), 10
    )


#: What ``backend=remote`` may ask the service to run on.
REMOTE_TARGETS = ("simulator", "noisy_simulator", "ibm_fake", "ibm")


def _url(v: Any) -> bool:
    return isinstance(v, str) and v.startswith(("http://", "https://")) and len(v) > len("http://")


@register("backend", "remote")
@dataclass(frozen=True)
class RemoteConfig(JobControlConfig):
    """A qjax execution service (``python -m qjax.serve``); the API key comes from ``QJAX_API_KEY`` only."""

    url: str = _opt("http://127.0.0.1:8765", "an http:// or https:// URL of a qjax service", _url)
    target: str = _opt("simulator", "one of " + ", ".join(REMOTE_TARGETS), _one_of(*REMOTE_TARGETS), example="ibm_fake")
    shots: Optional[int] = _opt(
        None,
        f"null (exact on simulators, 4096 on ibm_fake/ibm) or an integer in 1..{MAX_SHOTS}",
        _or_null(_within(1, MAX_SHOTS)),
        example=4096,
    )
    backoff_s: float = _opt(1.0, "a float in [0, 3600] (first retry delay; doubles each retry)", _within(0, 3600))


@register("backend", "ibm")
@dataclass(frozen=True)
class IBMConfig(IBMFakeConfig):
    """IBM Quantum through ``QiskitRuntimeService``; the token comes from the environment only."""

    device: str = _opt("least_busy", "an IBM backend name or least_busy", example="ibm_brisbane")
    channel: Optional[str] = _opt(
        None,
        "null (saved account) or ibm_quantum_platform / ibm_cloud",
        _or_null(_one_of("ibm_quantum_platform", "ibm_cloud", "ibm_quantum")),
        example="ibm_quantum_platform",
    )
    instance: Optional[str] = _opt(None, "null or an instance CRN / hub/group/project", example="my-instance")


def _probability(v: float) -> bool:
    return 0 <= v <= 1


@dataclass(frozen=True)
class NoiseSettings:
    """Explicit noise of ``backend=noisy_simulator`` (used when ``backend.device`` is null); times in µs.

    After every gate: depolarizing on its wires, then amplitude damping, phase
    damping and thermal relaxation (T1, T2, the gate's time) on each wire.
    """

    depolarizing_1q: float = _opt(0.0, "a probability in [0, 1]", _probability, example=0.001)
    depolarizing_2q: float = _opt(0.0, "a probability in [0, 1]", _probability, example=0.01)
    amplitude_damping: float = _opt(0.0, "a probability in [0, 1]", _probability, example=0.001)
    phase_damping: float = _opt(0.0, "a probability in [0, 1]", _probability, example=0.001)
    t1: Optional[float] = _opt(None, "null (no relaxation) or a finite float > 0 (µs)", _or_null(_gt(0)), example=100.0)
    t2: Optional[float] = _opt(
        None, "null (= 2·t1) or a finite float > 0 (µs), at most 2·t1", _or_null(_gt(0)), example=80.0
    )
    gate_time_1q: float = _opt(0.035, "a finite float ≥ 0 (µs)", _ge(0))
    gate_time_2q: float = _opt(0.3, "a finite float ≥ 0 (µs)", _ge(0))
    readout_error: float = _opt(
        0.0, "a probability in [0, 1] (symmetric bit flip at readout)", _probability, example=0.02
    )

    def __post_init__(self):
        t1, t2 = self.t1, self.t2
        if isinstance(t1, (int, float)) and isinstance(t2, (int, float)) and t1 > 0 and t2 > 2 * t1:
            from qjax.errors import ConfigError

            raise ConfigError(
                f"backend.noise.t2={t2!r} is invalid: must be at most 2·backend.noise.t1 = {2 * t1!r} "
                f"(T2 > 2·T1 is unphysical) (e.g. backend.noise.t2={2 * t1!r})"
            )


#: Most trajectories per evaluation: their keys are held at once (and 10**6 trajectories of a
#: 12-qubit state already take minutes per evaluation); 256 (the default) resolves ~6e-2.
_TRAJECTORIES_MAX = 1_000_000


@register("backend", "noisy_simulator")
@dataclass(frozen=True)
class NoisySimulatorConfig(BackendConfig):
    """JAX density-matrix / trajectory simulator with explicit noise or a fake device's calibration."""

    device: Optional[str] = _opt(None, "null (explicit backend.noise.*) or a fake device name", example="FakeManilaV2")
    method: str = _opt(
        "auto", "one of auto, density_matrix, trajectories", _one_of("auto", "density_matrix", "trajectories")
    )
    trajectories: int = _opt(256, f"an integer in 1..{_TRAJECTORIES_MAX}", _within(1, _TRAJECTORIES_MAX))
    optimization_level: int = _opt(1, "an integer 0..3", _one_of(0, 1, 2, 3))
    max_qubits: int = _opt(20, f"an integer in 1..{QUBITS_MAX}", _within(1, QUBITS_MAX))
    noise: NoiseSettings = field(default_factory=NoiseSettings)


# --- optimizer: keys other than name/lr are optax.<name>'s keyword arguments ---

#: Largest learning rate: parameters are angles (period 2π), so a step of 100 rad per unit of
#: gradient already lands anywhere on the circle.
_LR_MAX = 100.0


def _lr(v: float) -> bool:
    return 0 < v <= _LR_MAX


@dataclass(frozen=True)
class OptimizerConfig:
    """An Optax optimiser: ``optax.<name>(learning_rate=<schedule of lr>, **other fields)``."""

    name: str
    lr: float = _opt(0.1, f"a float in (0, {_LR_MAX:g}]", _lr)


@register("optimizer", "adam")
@dataclass(frozen=True)
class AdamConfig(OptimizerConfig):
    b1: float = _opt(0.9, "a float in [0, 1)", _unit)
    b2: float = _opt(0.999, "a float in [0, 1)", _unit)
    eps: float = _opt(1e-8, "a finite float ≥ 0", _ge(0))
    eps_root: float = _opt(0.0, "a finite float ≥ 0", _ge(0))
    nesterov: bool = _opt(False, _BOOL)


@register("optimizer", "adamw")
@dataclass(frozen=True)
class AdamWConfig(AdamConfig):
    weight_decay: float = _opt(1e-4, "a finite float ≥ 0", _ge(0))


@register("optimizer", "sgd")
@dataclass(frozen=True)
class SGDConfig(OptimizerConfig):
    momentum: Optional[float] = _opt(None, "null or a float in [0, 1)", _or_null(_unit), example=0.9)
    nesterov: bool = _opt(False, _BOOL)


@register("optimizer", "rmsprop")
@dataclass(frozen=True)
class RMSPropConfig(OptimizerConfig):
    lr: float = _opt(0.01, f"a float in (0, {_LR_MAX:g}]", _lr)
    decay: float = _opt(0.9, "a float in [0, 1)", _unit)
    eps: float = _opt(1e-8, "a finite float ≥ 0", _ge(0))
    initial_scale: float = _opt(0.0, "a finite float ≥ 0", _ge(0))
    eps_in_sqrt: bool = _opt(True, _BOOL)
    centered: bool = _opt(False, _BOOL)
    momentum: Optional[float] = _opt(None, "null or a float in [0, 1)", _or_null(_unit), example=0.9)
    nesterov: bool = _opt(False, _BOOL)
    bias_correction: bool = _opt(False, _BOOL)


# --- schedule: wraps optimizer.lr as its initial/peak value ---------------------


@register("schedule", "constant")
@dataclass(frozen=True)
class ScheduleConfig:
    """A learning-rate schedule; ``constant`` keeps ``optimizer.lr``."""

    name: str

    def for_run(self, steps: int) -> "ScheduleConfig":
        """This schedule with its run-length defaults filled in for a ``steps``-step run.

        A null ``decay_steps`` is the whole run; a null ``warmup_steps`` a tenth of
        ``decay_steps``.
        """
        out: Any = self
        if getattr(out, "decay_steps", 0) is None:
            out = dataclasses.replace(out, decay_steps=steps)
        if getattr(out, "warmup_steps", 0) is None:
            out = dataclasses.replace(out, warmup_steps=out.decay_steps // 10)
        return out


@register("schedule", "cosine")
@dataclass(frozen=True)
class CosineScheduleConfig(ScheduleConfig):
    """``optax.cosine_decay_schedule``; ``decay_steps`` null becomes ``trainer.steps`` (:meth:`for_run`)."""

    decay_steps: Optional[int] = _opt(
        None, f"null (= trainer.steps) or an integer in 1..{COUNT_MAX}", _or_null(_count(1)), 100
    )
    alpha: float = _opt(0.0, "a float in [0, 1]", lambda v: 0 <= v <= 1)
    exponent: float = _opt(1.0, "a finite float > 0", _gt(0))


@register("schedule", "exponential")
@dataclass(frozen=True)
class ExponentialScheduleConfig(ScheduleConfig):
    """``optax.exponential_decay``: lr · decay_rate ** (step / transition_steps)."""

    transition_steps: int = _opt(10, f"an integer in 1..{COUNT_MAX}", _count(1))
    decay_rate: float = _opt(0.9, "a finite float > 0", _gt(0))
    transition_begin: int = _opt(0, f"an integer in 0..{COUNT_MAX}", _count(0))
    staircase: bool = _opt(False, _BOOL)
    end_value: Optional[float] = _opt(None, "null or a finite float ≥ 0", _or_null(_ge(0)), example=0.001)


@register("schedule", "warmup_cosine")
@dataclass(frozen=True)
class WarmupCosineScheduleConfig(ScheduleConfig):
    """``optax.warmup_cosine_decay_schedule`` with ``peak_value = optimizer.lr``."""

    init_value: float = _opt(0.0, "a finite float ≥ 0", _ge(0))
    warmup_steps: Optional[int] = _opt(
        None, f"null (= decay_steps // 10) or an integer in 0..{COUNT_MAX}", _or_null(_count(0)), 10
    )
    decay_steps: Optional[int] = _opt(
        None, f"null (= trainer.steps) or an integer in 1..{COUNT_MAX}", _or_null(_count(1)), 100
    )
    end_value: float = _opt(0.0, "a finite float ≥ 0", _ge(0))
    exponent: float = _opt(1.0, "a finite float > 0", _gt(0))


# --- problem and ansatz -------------------------------------------------------


def _taper(v: Any) -> bool:
    return v == "auto" or isinstance(v, bool)


@dataclass(frozen=True)
class ProblemConfig:
    """A problem to train on; ``molecular`` problems have electrons (UCC needs them)."""

    name: str
    molecular: ClassVar[bool] = False
    #: auto (on with hardware defaults, molecules only), true or false; validate() resolves auto to a bool
    taper: Any = _opt("auto", "auto, true or false (Z2-symmetry qubit tapering of a molecule)", _taper, example=False)

    def qubits(self) -> Optional[int]:
        """Wires the problem's observable acts on, known from the config alone (None: only once built)."""
        return None


_BOND = f"a float in {BOND_LENGTH_RANGE[0]}..{BOND_LENGTH_RANGE[1]} (ångström)"


def _bond_length(v: float) -> bool:
    return BOND_LENGTH_RANGE[0] <= v <= BOND_LENGTH_RANGE[1]


#: Qubits of H2 (Jordan-Wigner, 2 per spatial orbital) in each basis ``problem.basis`` accepts.
H2_QUBITS = {"sto-3g": 4, "6-31g": 8, "6-311g": 12, "cc-pvdz": 20}


@register("problem", "h2")
@dataclass(frozen=True)
class H2Config(ProblemConfig):
    molecular: ClassVar[bool] = True
    bond_length: float = _opt(0.7414, _BOND, _bond_length)
    basis: str = _opt("sto-3g", "one of " + ", ".join(H2_QUBITS), _one_of(*H2_QUBITS))

    def qubits(self) -> int:
        return H2_QUBITS[self.basis]


@register("problem", "lih")
@dataclass(frozen=True)
class LiHConfig(ProblemConfig):
    molecular: ClassVar[bool] = True
    bond_length: float = _opt(1.5949, _BOND, _bond_length)
    basis: str = _opt(
        "sto-3g", "sto-3g (larger bases need a larger active space than this experiment ships)", _one_of("sto-3g")
    )
    active_electrons: int = _opt(2, "2 or 4 (a closed shell of LiH's 4 electrons)", _one_of(2, 4))
    active_orbitals: int = _opt(3, "an integer in 1..6 (qubits = 2·active_orbitals)", lambda v: 1 <= v <= 6)

    def qubits(self) -> int:
        return 2 * self.active_orbitals


def lih_active_orbitals(active_electrons: int) -> range:
    """The ``active_orbitals`` LiH (4 electrons, 6 STO-3G orbitals) allows with ``active_electrons``: more than the
    occupied ``active_electrons / 2`` (a virtual orbital to excite into), at most the 6 minus the core orbitals."""
    core = (4 - active_electrons) // 2
    return range(active_electrons // 2 + 1, 6 - core + 1)


#: Most nodes of a MaxCut graph (= qubits), as for ``problem.n``.
MAXCUT_NODES_MAX = 26


def _node(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAXCUT_NODES_MAX


def _weight(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and _magnitude(v)


def _edge(e: Any) -> bool:
    return (
        isinstance(e, (list, tuple))
        and len(e) in (2, 3)
        and _node(e[0])
        and _node(e[1])
        and e[0] != e[1]
        and (len(e) == 2 or _weight(e[2]))
    )


def _edge_list(v: Any) -> bool:
    """null, or 1..325 distinct edges ``[i, j]`` / ``[i, j, w]`` of nodes in 0..25 with a finite weight."""
    if v is None:
        return True
    if not isinstance(v, (list, tuple)) or not 0 < len(v) <= MAXCUT_NODES_MAX * (MAXCUT_NODES_MAX - 1) // 2:
        return False
    if not all(_edge(e) for e in v):
        return False
    return len({(min(e[:2]), max(e[:2])) for e in v}) == len(v)


#: Most samples drawn from a trained QAOA state: they are held at once, ``samples × n`` bits
#: (10**6 × 26 × 4 B ≈ 100 MB), and 10**6 already finds any cut with probability ≥ 1e-5.
_SAMPLES_MAX = 1_000_000


@register("problem", "maxcut")
@dataclass(frozen=True)
class MaxCutConfig(ProblemConfig):
    """A random regular graph (``n``, ``degree``, ``graph_seed``) unless ``edges`` lists the graph (whose nodes
    are then ``0..largest node``, and ``n``, ``degree``, ``graph_seed`` are unused)."""

    n: int = _opt(10, f"an integer in 2..{MAXCUT_NODES_MAX}", _within(2, MAXCUT_NODES_MAX))
    degree: int = _opt(3, f"an integer in 1..{MAXCUT_NODES_MAX - 1}", _within(1, MAXCUT_NODES_MAX - 1))
    graph_seed: int = _opt(0, _SEED, _seed)
    edges: Optional[Any] = _opt(
        None,
        f"null or a list of distinct [i, j] or [i, j, weight] edges, nodes i ≠ j in "
        f"0..{MAXCUT_NODES_MAX - 1}, |weight| ≤ {MAGNITUDE_MAX:g}",
        _edge_list,
        "[[0,1],[1,2],[2,0]]",
    )
    samples: int = _opt(
        1024,
        f"an integer in 1..{_SAMPLES_MAX} (shots drawn from the trained state to find the best cut)",
        _within(1, _SAMPLES_MAX),
    )

    def qubits(self) -> int:
        if _edge_list(self.edges) and self.edges is not None:  # the nodes are those the edges use
            return max(max(e[0], e[1]) for e in self.edges) + 1
        return self.n


@register("problem", "tfim")
@dataclass(frozen=True)
class TFIMConfig(ProblemConfig):
    n: int = _opt(6, f"an integer in 2..{QUBITS_MAX} (at most backend.max_qubits)", _within(2, QUBITS_MAX))
    J: float = _opt(1.0, f"a float in -{MAGNITUDE_MAX:g}..{MAGNITUDE_MAX:g}", _magnitude)
    h: float = _opt(1.0, f"a float in -{MAGNITUDE_MAX:g}..{MAGNITUDE_MAX:g}", _magnitude)
    periodic: bool = _opt(False, _BOOL)

    def qubits(self) -> int:
        return self.n


def _test_size(v: float) -> bool:
    return 0 < v < 1


@dataclass(frozen=True)
class DatasetConfig(ProblemConfig):
    """A scikit-learn data set for ``+experiment=classifier``: stratified split (``test_size``, ``seed``)."""

    dataset: ClassVar[bool] = True
    #: Classes and samples of the data set (generated sets override :meth:`num_samples`).
    classes: ClassVar[int] = 2
    samples: ClassVar[int] = 0
    test_size: float = _opt(0.2, "a float in (0, 1) (fraction of samples held out for testing)", _test_size, 0.25)
    seed: int = _opt(0, f"{_SEED} (seeds the train/test split, and the samples of generated data)", _seed)

    def num_samples(self) -> int:
        return self.samples

    def num_features(self) -> int:
        """Features fed to the classifier (one encoding wire each)."""
        raise NotImplementedError

    def qubits(self) -> int:
        """The fewest wires the classifier needs (``ansatz.wires`` may ask for more): one per feature and class."""
        return max(self.num_features(), self.classes)


def _iris_features(v: Any) -> bool:
    return v is None or (len(v) > 0 and len(set(v)) == len(v) and all(0 <= f <= 3 for f in v))


@register("problem", "iris")
@dataclass(frozen=True)
class IrisConfig(DatasetConfig):
    """Fisher's iris (150 flowers, 3 classes, 4 features); ``features`` picks columns (null = all 4)."""

    classes: ClassVar[int] = 3
    samples: ClassVar[int] = 150
    features: Optional[tuple[int, ...]] = _opt(
        None, "null (all four) or a list of distinct column indices in 0..3", _iris_features, "[2,3]"
    )

    def num_features(self) -> int:
        return 4 if self.features is None else len(self.features)


#: Most generated samples: the loss is vmapped over the whole training split at once (a state per
#: sample), and 10**5 points of two half circles leave nothing more to learn.
_N_SAMPLES_MAX = 100_000


@register("problem", "moons")
@dataclass(frozen=True)
class MoonsConfig(DatasetConfig):
    """``sklearn.datasets.make_moons``: two interleaved half circles (2 features, 2 classes)."""

    test_size: float = _opt(0.25, "a float in (0, 1) (fraction of samples held out for testing)", _test_size)
    n_samples: int = _opt(200, f"an integer in 10..{_N_SAMPLES_MAX}", _within(10, _N_SAMPLES_MAX))
    noise: float = _opt(0.2, "a float in [0, 1000] (std of the Gaussian noise added to the points)", _within(0, 1000))

    def num_samples(self) -> int:
        return self.n_samples

    def num_features(self) -> int:
        return 2


@register("problem", "breast_cancer")
@dataclass(frozen=True)
class BreastCancerConfig(DatasetConfig):
    """Wisconsin breast cancer (569 samples, 2 classes, 30 features) reduced to ``pca`` principal components."""

    samples: ClassVar[int] = 569
    pca: int = _opt(4, "an integer in 1..30 (principal components kept; = qubits)", lambda v: 1 <= v <= 30)

    def num_features(self) -> int:
        return self.pca


#: Most layers (``ansatz.layers``, ``ansatz.p``): every layer puts at least one gate on each wire, so
#: more layers than ``backend.max_operations`` allows (at most 10 × its default) can never run;
#: the circuit's expanded size is checked against ``backend.max_operations`` once it is built.
LAYERS_MAX = 10 * MAX_OPERATIONS
_LAYERS = f"an integer in 1..{LAYERS_MAX} (the circuit must fit backend.max_operations)"
#: Largest initial-angle scale: angles have period 2π, so a scale of 100 is already uniform on the circle.
_INIT_SCALE_MAX = 100.0
_INIT_SCALE = f"a float in [0, {_INIT_SCALE_MAX:g}] (radians)"
_init_scale = _within(0, _INIT_SCALE_MAX)
_ANGLE = f"a float in -{MAGNITUDE_MAX:g}..{MAGNITUDE_MAX:g} (radians)"
#: Most rotation gates per wire and layer (duplicates allowed, e.g. [RY, RZ, RY]).
_ROTATIONS_MAX = 16


@dataclass(frozen=True)
class AnsatzConfig:
    """A circuit template."""

    name: str


@register("ansatz", "ucc")
@dataclass(frozen=True)
class UCCConfig(AnsatzConfig):
    init: str = _opt("zeros", "zeros or random", _one_of("zeros", "random"))
    init_scale: float = _opt(0.1, _INIT_SCALE, _init_scale)
    #: validate() resolves auto (qjax.hardware_defaults): real_amplitudes for a tapered molecule with hardware
    #: defaults, excitations elsewhere
    form: str = _opt(
        "auto",
        "auto, excitations (the UCC singles and doubles) or real_amplitudes (RY layers and a CNOT chain on the "
        "tapered wires, Hartree-Fock at 0; needs problem.taper=true)",
        _one_of("auto", "excitations", "real_amplitudes"),
    )
    reps: int = _opt(2, _LAYERS + " (CNOT layers of ansatz.form=real_amplitudes)", _within(1, LAYERS_MAX))


def _rotations(v: Any) -> bool:
    return 0 < len(v) <= _ROTATIONS_MAX and set(v) <= _ROTATION_NAMES


@register("ansatz", "hea")
@dataclass(frozen=True)
class HEAConfig(AnsatzConfig):
    layers: int = _opt(2, _LAYERS, _within(1, LAYERS_MAX))
    rotations: tuple[str, ...] = _opt(
        ("RY", "RZ"), f"a list of 1..{_ROTATIONS_MAX} of RX, RY, RZ", _rotations, example="[RY,RZ]"
    )
    entangler: str = _opt(
        "chain",
        "chain, ring or device (CNOTs on the couplers of calibration-chosen device qubits: no SWAPs)",
        _one_of("chain", "ring", "device"),
    )
    init: str = _opt("random", "random or zeros", _one_of("random", "zeros"))
    init_scale: float = _opt(0.1, _INIT_SCALE, _init_scale)


@register("ansatz", "qaoa")
@dataclass(frozen=True)
class QAOAConfig(AnsatzConfig):
    """``p`` cost+mixer layers; ``init: ramp`` starts on a linear ramp (γ growing towards ``ramp_gamma``, β
    shrinking from ``ramp_beta``), an annealing-like path from which one run reaches a good optimum. The cost
    layer is ``exp(-iγ Σ w Z_i Z_j) ∝ exp(2iγ C)``, so the textbook ``exp(-iγ' C)`` is ``γ = -γ'/2``: hence
    the negative default."""

    p: int = _opt(3, _LAYERS, _within(1, LAYERS_MAX))
    init: str = _opt("ramp", "ramp, random or zeros", _one_of("ramp", "random", "zeros"))
    ramp_gamma: float = _opt(-0.6, _ANGLE, _magnitude)
    ramp_beta: float = _opt(0.6, _ANGLE, _magnitude)
    init_scale: float = _opt(0.1, _INIT_SCALE, _init_scale)


@register("ansatz", "reupload")
@dataclass(frozen=True)
class ReuploadConfig(AnsatzConfig):
    """The data re-uploading classifier (:mod:`qjax.experiments.classifier`): ``layers`` × (encode the features, trainable
    ``rotations``, CNOT ``entangler``); ``reupload: false`` encodes once (angle encoding). ``wires`` null = max(features,
    classes); class c's logit is ``scale·<Z_c>`` with ``scale`` trainable from ``logit_scale``."""

    layers: int = _opt(3, _LAYERS, _within(1, LAYERS_MAX))
    reupload: bool = _opt(True, _BOOL)
    encoding: str = _opt("RY", "one of RX, RY, RZ", _one_of(*sorted(_ROTATION_NAMES)))
    rotations: tuple[str, ...] = _opt(
        ("RY", "RZ"), f"a list of 1..{_ROTATIONS_MAX} of RX, RY, RZ", _rotations, example="[RY,RZ]"
    )
    entangler: str = _opt("ring", "chain or ring", _one_of("chain", "ring"))
    wires: Optional[int] = _opt(
        None, f"null (= max(features, classes)) or an integer in 1..{QUBITS_MAX}", _or_null(_within(1, QUBITS_MAX)), 4
    )
    init: str = _opt("random", "random or zeros", _one_of("random", "zeros"))
    init_scale: float = _opt(0.5, _INIT_SCALE, _init_scale)
    logit_scale: float = _opt(
        2.0, f"a float in (0, {_LR_MAX:g}] (initial value of the trainable logit scale)", lambda v: 0 < v <= _LR_MAX
    )


# --- mitigation, trainer, checkpoint ------------------------------------------

ZNE_AMPLIFIERS = ("gate_folding", "global_folding", "noise_scaling", "pea")
_EXTRAPOLATORS = ("exponential", "double_exponential", "linear", "richardson", "fallback")
#: Fewest noise factors each extrapolator can fit (polynomial_degree_k: k + 1; richardson: any ≥ 2).
ZNE_MIN_FACTORS = {"linear": 2, "richardson": 2, "exponential": 3, "double_exponential": 5, "fallback": 2}


def _extrapolator(v: str) -> bool:
    if v in _EXTRAPOLATORS:
        return True
    degree = v.removeprefix("polynomial_degree_")
    return v.startswith("polynomial_degree_") and degree.isdigit() and 1 <= int(degree) <= 7


#: Most noise factors: the highest extrapolator (polynomial_degree_7) fits 8; each factor is one
#: more evaluation of every circuit.
ZNE_FACTORS_MAX = 8
#: Largest noise factor: gate folding repeats each gate up to that many times (IBM counts the folded
#: two-qubit gates against its per-job limit), and at 15× the signal of any useful circuit is
#: already buried in noise, which extrapolation cannot undo.
ZNE_FACTOR_MAX = 15


def _noise_factors(v: Any) -> bool:
    return (
        2 <= len(v) <= ZNE_FACTORS_MAX
        and v[0] == 1
        and list(v) == sorted(set(v))
        and all(f <= ZNE_FACTOR_MAX for f in v)
    )


@dataclass(frozen=True)
class ZNESettings:
    """Zero-noise extrapolation: run at each noise factor, extrapolate to zero noise."""

    noise_factors: tuple[float, ...] = _opt(
        (1.0, 3.0, 5.0),
        f"a list of 2..{ZNE_FACTORS_MAX} increasing floats starting at 1, each at most {ZNE_FACTOR_MAX}",
        _noise_factors,
        example="[1,3,5]",
    )
    amplifier: str = _opt("gate_folding", "one of " + ", ".join(ZNE_AMPLIFIERS), _one_of(*ZNE_AMPLIFIERS))
    extrapolator: str = _opt(
        "exponential", "one of " + ", ".join(_EXTRAPOLATORS) + ", polynomial_degree_<1..7>", _extrapolator
    )


@dataclass(frozen=True)
class DDSettings:
    """Dynamical decoupling: pulses in idle windows."""

    sequence_type: str = _opt("XpXm", "one of XX, XpXm, XY4", _one_of("XX", "XpXm", "XY4"))


#: Most twirled copies of a circuit: each is its own randomised circuit in the job (the runtime's
#: default is 32); beyond 10**4 the job is mostly copies.
_TWIRLS_MAX = 10_000


@dataclass(frozen=True)
class TwirlingSettings:
    """Pauli twirling; null counts leave the runtime's defaults."""

    enable_gates: bool = _opt(True, _BOOL)
    enable_measure: bool = _opt(True, _BOOL)
    num_randomizations: Optional[int] = _opt(
        None, f"null (runtime default) or an integer in 1..{_TWIRLS_MAX}", _or_null(_within(1, _TWIRLS_MAX)), 8
    )
    shots_per_randomization: Optional[int] = _opt(
        None, f"null (runtime default) or an integer in 1..{MAX_SHOTS}", _or_null(_within(1, MAX_SHOTS)), 128
    )


@register("mitigation", "none")
@dataclass(frozen=True)
class MitigationConfig:
    """No mitigation; techniques subclass this and register under their name.

    ``techniques`` lists what an option switches on: ``readout``, ``zne``, ``dd``,
    ``twirling``; a backend refuses a technique (or a setting of one) it cannot run.
    """

    name: str
    techniques: ClassVar[tuple[str, ...]] = ()


@register("mitigation", "readout")
@dataclass(frozen=True)
class ReadoutMitigationConfig(MitigationConfig):
    """Readout-error mitigation: TREX on IBM backends."""

    techniques: ClassVar[tuple[str, ...]] = ("readout",)


@register("mitigation", "zne")
@dataclass(frozen=True)
class ZNEMitigationConfig(MitigationConfig):
    techniques: ClassVar[tuple[str, ...]] = ("zne",)
    zne: ZNESettings = field(default_factory=ZNESettings)


@register("mitigation", "dd")
@dataclass(frozen=True)
class DDMitigationConfig(MitigationConfig):
    techniques: ClassVar[tuple[str, ...]] = ("dd",)
    dd: DDSettings = field(default_factory=DDSettings)


@register("mitigation", "twirling")
@dataclass(frozen=True)
class TwirlingMitigationConfig(MitigationConfig):
    techniques: ClassVar[tuple[str, ...]] = ("twirling",)
    twirling: TwirlingSettings = field(default_factory=TwirlingSettings)


@register("mitigation", "best")
@dataclass(frozen=True)
class BestMitigationConfig(MitigationConfig):
    """All a backend supports: readout + ZNE, on IBM also DD and gate twirling, and REM where there is a reference."""

    techniques: ClassVar[tuple[str, ...]] = ("readout", "zne", "dd", "twirling", "rem")
    zne: ZNESettings = field(default_factory=ZNESettings)
    dd: DDSettings = field(default_factory=DDSettings)
    twirling: TwirlingSettings = field(default_factory=TwirlingSettings)
    rem: bool = _opt(True, _BOOL + " (reference-state mitigation where the problem has a reference)")


_REM_MODEL = (
    "shift (subtract the reference's measured error) or scale (also undo a global-depolarising contraction, "
    "measured on the reference)"
)


@register("mitigation", "rem")
@dataclass(frozen=True)
class REMMitigationConfig(MitigationConfig):
    """Reference-state error mitigation (Lolur et al., JCTC 2023): the Hartree–Fock state's measured error is
    subtracted (the same circuit at the parameters that give it, in the same job)."""

    techniques: ClassVar[tuple[str, ...]] = ("rem",)
    rem_model: str = _opt("shift", _REM_MODEL, _one_of("shift", "scale"))


@register("mitigation", "readout_rem")
@dataclass(frozen=True)
class ReadoutREMMitigationConfig(MitigationConfig):
    """Readout mitigation (TREX on IBM, the calibration inverse in JAX) and then REM."""

    techniques: ClassVar[tuple[str, ...]] = ("readout", "rem")
    rem_model: str = _opt("shift", _REM_MODEL, _one_of("shift", "scale"))


@register("mitigation", "auto")
@dataclass(frozen=True)
class AutoMitigationConfig(MitigationConfig):
    """The default: :func:`qjax.config.validate` replaces it by :data:`HARDWARE_MITIGATION` (with hardware
    defaults, where the run has a reference state) or by ``none``."""


#: ``mitigation=auto`` with hardware defaults on a problem with a reference state (a molecule with UCC):
#: the cheapest option that reached chemical accuracy in docs/hardware-answers.md's measurements.
HARDWARE_MITIGATION = "readout_rem"


@dataclass(frozen=True)
class TrainerConfig:
    steps: int = _opt(100, f"an integer in 1..{COUNT_MAX}", _count(1))
    tol: float = _opt(0.0, "a finite float ≥ 0 (0 = no early stop)", _ge(0))
    patience: int = _opt(5, f"an integer in 1..{COUNT_MAX}", _count(1))
    log_every: int = _opt(10, f"an integer in 1..{COUNT_MAX}", _count(1))


@dataclass(frozen=True)
class CheckpointConfig:
    """After :func:`validate`, ``dir`` and ``root`` are absolute paths and ``every`` an integer, never null."""

    dir: Optional[str] = _opt(None, "null (default dir) or a path", example="/abs/path/ck")
    every: Optional[int] = _opt(
        None, f"null (10 on simulators, 1 on hardware) or an integer in 1..{COUNT_MAX}", _or_null(_count(1)), 10
    )
    resume: str = _opt("auto", "one of auto, never, must", _one_of("auto", "never", "must"))
    keep: int = _opt(3, f"an integer in 2..{COUNT_MAX}", _count(2))
    root: Optional[str] = _opt(None, "null (<launch dir>/checkpoints) or a path", example="/abs/path")


# --- loggers (optional section ``logger``; implementations in qjax.training.loggers) ---


@register("logger", "csv")
@dataclass(frozen=True)
class CSVLoggerConfig:
    """``metrics.csv`` in the run directory (one row per step)."""

    name: str


@register("logger", "tensorboard")
@dataclass(frozen=True)
class TensorBoardLoggerConfig:
    """TensorBoard event files (tensorboardX); ``log_dir`` null = ``<run dir>/tensorboard``."""

    name: str
    log_dir: Optional[str] = _opt(None, "null or a directory", example="tb")


@register("logger", "mlflow")
@dataclass(frozen=True)
class MLflowLoggerConfig:
    """MLflow; ``tracking_uri`` null = the local file store ``<launch dir>/mlruns``."""

    name: str
    tracking_uri: Optional[str] = _opt(None, "null or an MLflow tracking URI", example="file:/abs/mlruns")
    experiment_name: str = _opt("qjax", "an MLflow experiment name")
    run_name: Optional[str] = _opt(None, "null (experiment-problem-hash) or a run name", example="h2-sweep")


#: Largest budget count: spent shots and jobs are summed as floats in places (JSON), exact below 2**53.
_BUDGET_MAX = 2**53


@dataclass(frozen=True)
class BudgetConfig:
    """Limits on what a run may spend; a run stops with a checkpoint before the job that would cross one."""

    max_shots: Optional[int] = _opt(
        None, f"null (no limit) or an integer in 1..{_BUDGET_MAX}", _or_null(_within(1, _BUDGET_MAX)), 1000000
    )
    max_jobs: Optional[int] = _opt(
        None, f"null (no limit) or an integer in 1..{_BUDGET_MAX}", _or_null(_within(1, _BUDGET_MAX)), 100
    )
    max_qpu_seconds: Optional[float] = _opt(None, "null (no limit) or a finite float > 0", _or_null(_gt(0)), 600)


@dataclass(frozen=True)
class Globals:
    """The top-level keys: ``experiment``, ``seed``, ``precision``, ``gradient``."""

    experiment: Optional[str] = _opt(None, "the name of an experiment overlay", example="vqe")
    seed: int = _opt(0, _SEED, _seed)
    precision: str = _opt("single", "single or double", _one_of(*PRECISIONS))
    gradient: str = _opt("auto", "one of " + ", ".join(GRADIENTS), _one_of(*GRADIENTS))


@dataclass(frozen=True)
class RunConfig:
    """The validated configuration of one run (see DESIGN.md, "Config keys")."""

    experiment: str
    seed: int
    precision: str
    gradient: str
    backend: BackendConfig
    optimizer: OptimizerConfig
    schedule: ScheduleConfig
    problem: ProblemConfig
    ansatz: AnsatzConfig
    mitigation: MitigationConfig
    trainer: TrainerConfig
    checkpoint: CheckpointConfig
    budget: BudgetConfig
    extras: Mapping[str, Any] = field(default_factory=dict, hash=False)


#: Groups with one schema each (no ``name`` key).
FIXED_GROUPS = {"trainer": TrainerConfig, "checkpoint": CheckpointConfig, "budget": BudgetConfig}
GROUPS = ("backend", "optimizer", "schedule", "problem", "ansatz", "mitigation", "trainer", "checkpoint", "budget")
