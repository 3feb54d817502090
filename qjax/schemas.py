"""The typed schema of qjax's Hydra config: one frozen dataclass per config option.

Each group (``backend``, ``optimizer``, ...) maps an option ``name`` to the
dataclass that describes its keys; :func:`register` adds one. Every field
carries what it accepts (``expected``), a range check (``ok``) and an example
value, which :mod:`qjax.config` turns into one-line error messages. Adding an
option is one dataclass with ``@register(group, name)`` and its YAML file under
``conf/<group>/``.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Optional

__all__ = [
    "BackendConfig",
    "OptimizerConfig", "AdamConfig", "AdamWConfig", "SGDConfig", "RMSPropConfig",
    "ScheduleConfig", "CosineScheduleConfig", "ExponentialScheduleConfig", "WarmupCosineScheduleConfig",
    "ProblemConfig", "H2Config", "LiHConfig", "TFIMConfig", "MaxCutConfig",
    "AnsatzConfig", "UCCConfig", "HEAConfig", "QAOAConfig",
    "DatasetConfig", "IrisConfig", "MoonsConfig", "BreastCancerConfig", "ReuploadConfig",
    "IBMFakeConfig", "IBMConfig", "JobControlConfig", "RemoteConfig", "REMOTE_TARGETS",
    "NoisySimulatorConfig", "NoiseSettings",
    "MitigationConfig", "ReadoutMitigationConfig", "ZNEMitigationConfig", "DDMitigationConfig",
    "TwirlingMitigationConfig", "BestMitigationConfig", "ZNESettings", "DDSettings", "TwirlingSettings",
    "TrainerConfig", "CheckpointConfig", "BudgetConfig", "RunConfig",
    "Globals", "GROUPS", "FIXED_GROUPS", "SCHEMAS", "register",
]

GRADIENTS = ("auto", "backprop", "adjoint", "parameter_shift", "spsa")
PRECISIONS = ("single", "double")

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


def _ge(lo: float) -> Callable[[Any], bool]:
    return lambda v: v >= lo


def _gt(lo: float) -> Callable[[Any], bool]:
    return lambda v: v > lo


def _unit(v: float) -> bool:
    return 0 <= v < 1


def _or_null(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


def _one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda v: v in choices


_BOOL = "true or false"


# --- backend -----------------------------------------------------------------

@register("backend", "simulator")
@dataclass(frozen=True)
class BackendConfig:
    """JAX statevector simulator; other backends subclass this and add their keys."""

    name: str
    device: Optional[str] = _opt(None, "a device name or null", example="FakeManilaV2")
    shots: Optional[int] = _opt(None, "null (exact) or an integer ≥ 1", _or_null(_ge(1)), example=1024)
    seed_simulator: Optional[int] = _opt(None, "null or an integer ≥ 0", _or_null(_ge(0)), example=0)
    max_qubits: int = _opt(26, "an integer ≥ 1", _ge(1))

    #: Runs on hardware (or a stand-in for it): sampled, parameter-shift gradients, jobs.
    hardware: ClassVar[bool] = False


#: Backends a fallback chain may name.
FALLBACK_BACKENDS = ("ibm_fake", "simulator")


def _shots(v: Any) -> bool:
    return v is not None and v >= 1


@dataclass(frozen=True)
class JobControlConfig(BackendConfig):
    """Keys of every backend that runs jobs: waiting, retrying and falling back (not a backend itself)."""

    hardware: ClassVar[bool] = True
    timeout_s: float = _opt(600.0, "a float > 0 (seconds to wait for one job)", _gt(0))
    retries: int = _opt(3, "an integer ≥ 0", _ge(0))
    backoff_s: float = _opt(2.0, "a float ≥ 0 (first retry delay; doubles each retry)", _ge(0))
    poll_s: float = _opt(0.2, "a float > 0 (seconds between job status checks)", _gt(0))
    fallback: tuple[str, ...] = _opt((), "a list of " + ", ".join(FALLBACK_BACKENDS),
                                     lambda v: set(v) <= set(FALLBACK_BACKENDS), example="[simulator]")


@register("backend", "ibm_fake")
@dataclass(frozen=True)
class IBMFakeConfig(JobControlConfig):
    """A qiskit-ibm-runtime fake device, run locally on Aer with the device's noise."""

    device: str = _opt("FakeManilaV2", "a fake device name or least_busy", example="FakeManilaV2")
    shots: int = _opt(4096, "an integer ≥ 1 (this backend samples)", _shots)
    optimization_level: int = _opt(1, "an integer 0..3", _one_of(0, 1, 2, 3))
    min_qubits: Optional[int] = _opt(None, "null or an integer ≥ 1 (least_busy filter)", _or_null(_ge(1)), 5)
    max_pending_jobs: Optional[int] = _opt(None, "null or an integer ≥ 0 (least_busy filter)", _or_null(_ge(0)), 10)


#: What ``backend=remote`` may ask the service to run on.
REMOTE_TARGETS = ("simulator", "noisy_simulator", "ibm_fake", "ibm")


def _url(v: Any) -> bool:
    return isinstance(v, str) and v.startswith(("http://", "https://")) and len(v) > len("http://")


@register("backend", "remote")
@dataclass(frozen=True)
class RemoteConfig(JobControlConfig):
    """A qjax execution service (``python -m qjax.serve``); the API key comes from ``QJAX_API_KEY`` only."""

    url: str = _opt("http://127.0.0.1:8765", "an http:// or https:// URL of a qjax service", _url)
    target: str = _opt("simulator", "one of " + ", ".join(REMOTE_TARGETS), _one_of(*REMOTE_TARGETS),
                       example="ibm_fake")
    shots: Optional[int] = _opt(None, "null (exact on simulators, 4096 on ibm_fake/ibm) or an integer ≥ 1",
                                _or_null(_ge(1)),
                                example=4096)
    backoff_s: float = _opt(1.0, "a float ≥ 0 (first retry delay; doubles each retry)", _ge(0))


@register("backend", "ibm")
@dataclass(frozen=True)
class IBMConfig(IBMFakeConfig):
    """IBM Quantum through ``QiskitRuntimeService``; the token comes from the environment only."""

    device: str = _opt("least_busy", "an IBM backend name or least_busy", example="ibm_brisbane")
    channel: Optional[str] = _opt(None, "null (saved account) or ibm_quantum_platform / ibm_cloud",
                                  _or_null(_one_of("ibm_quantum_platform", "ibm_cloud", "ibm_quantum")),
                                  example="ibm_quantum_platform")
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
    t1: Optional[float] = _opt(None, "null (no relaxation) or a float > 0 (µs)", _or_null(_gt(0)), example=100.0)
    t2: Optional[float] = _opt(None, "null (= 2·t1) or a float > 0 (µs), at most 2·t1", _or_null(_gt(0)),
                               example=80.0)
    gate_time_1q: float = _opt(0.035, "a float ≥ 0 (µs)", _ge(0))
    gate_time_2q: float = _opt(0.3, "a float ≥ 0 (µs)", _ge(0))
    readout_error: float = _opt(0.0, "a probability in [0, 1] (symmetric bit flip at readout)", _probability,
                                example=0.02)

    def __post_init__(self):
        t1, t2 = self.t1, self.t2
        if isinstance(t1, (int, float)) and isinstance(t2, (int, float)) and t1 > 0 and t2 > 2 * t1:
            from qjax.errors import ConfigError

            raise ConfigError(f"backend.noise.t2={t2!r} is invalid: must be at most 2·backend.noise.t1 = {2 * t1!r} "
                              f"(T2 > 2·T1 is unphysical) (e.g. backend.noise.t2={2 * t1!r})")


@register("backend", "noisy_simulator")
@dataclass(frozen=True)
class NoisySimulatorConfig(BackendConfig):
    """JAX density-matrix / trajectory simulator with explicit noise or a fake device's calibration."""

    device: Optional[str] = _opt(None, "null (explicit backend.noise.*) or a fake device name",
                                 example="FakeManilaV2")
    method: str = _opt("auto", "one of auto, density_matrix, trajectories",
                       _one_of("auto", "density_matrix", "trajectories"))
    trajectories: int = _opt(256, "an integer ≥ 1", _ge(1))
    optimization_level: int = _opt(1, "an integer 0..3", _one_of(0, 1, 2, 3))
    max_qubits: int = _opt(20, "an integer ≥ 1", _ge(1))
    noise: NoiseSettings = field(default_factory=NoiseSettings)


# --- optimizer: keys other than name/lr are optax.<name>'s keyword arguments ---

@dataclass(frozen=True)
class OptimizerConfig:
    """An Optax optimiser: ``optax.<name>(learning_rate=<schedule of lr>, **other fields)``."""

    name: str
    lr: float = _opt(0.1, "a float > 0", _gt(0))


@register("optimizer", "adam")
@dataclass(frozen=True)
class AdamConfig(OptimizerConfig):
    b1: float = _opt(0.9, "a float in [0, 1)", _unit)
    b2: float = _opt(0.999, "a float in [0, 1)", _unit)
    eps: float = _opt(1e-8, "a float ≥ 0", _ge(0))
    eps_root: float = _opt(0.0, "a float ≥ 0", _ge(0))
    nesterov: bool = _opt(False, _BOOL)


@register("optimizer", "adamw")
@dataclass(frozen=True)
class AdamWConfig(AdamConfig):
    weight_decay: float = _opt(1e-4, "a float ≥ 0", _ge(0))


@register("optimizer", "sgd")
@dataclass(frozen=True)
class SGDConfig(OptimizerConfig):
    momentum: Optional[float] = _opt(None, "null or a float in [0, 1)", _or_null(_unit), example=0.9)
    nesterov: bool = _opt(False, _BOOL)


@register("optimizer", "rmsprop")
@dataclass(frozen=True)
class RMSPropConfig(OptimizerConfig):
    lr: float = _opt(0.01, "a float > 0", _gt(0))
    decay: float = _opt(0.9, "a float in [0, 1)", _unit)
    eps: float = _opt(1e-8, "a float ≥ 0", _ge(0))
    initial_scale: float = _opt(0.0, "a float ≥ 0", _ge(0))
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
        out = self
        if getattr(out, "decay_steps", 0) is None:
            out = dataclasses.replace(out, decay_steps=steps)
        if getattr(out, "warmup_steps", 0) is None:
            out = dataclasses.replace(out, warmup_steps=out.decay_steps // 10)
        return out


@register("schedule", "cosine")
@dataclass(frozen=True)
class CosineScheduleConfig(ScheduleConfig):
    """``optax.cosine_decay_schedule``; ``decay_steps`` null becomes ``trainer.steps`` (:meth:`for_run`)."""

    decay_steps: Optional[int] = _opt(None, "null (= trainer.steps) or an integer ≥ 1", _or_null(_ge(1)), 100)
    alpha: float = _opt(0.0, "a float in [0, 1]", lambda v: 0 <= v <= 1)
    exponent: float = _opt(1.0, "a float > 0", _gt(0))


@register("schedule", "exponential")
@dataclass(frozen=True)
class ExponentialScheduleConfig(ScheduleConfig):
    """``optax.exponential_decay``: lr · decay_rate ** (step / transition_steps)."""

    transition_steps: int = _opt(10, "an integer ≥ 1", _ge(1))
    decay_rate: float = _opt(0.9, "a float > 0", _gt(0))
    transition_begin: int = _opt(0, "an integer ≥ 0", _ge(0))
    staircase: bool = _opt(False, _BOOL)
    end_value: Optional[float] = _opt(None, "null or a float ≥ 0", _or_null(_ge(0)), example=0.001)


@register("schedule", "warmup_cosine")
@dataclass(frozen=True)
class WarmupCosineScheduleConfig(ScheduleConfig):
    """``optax.warmup_cosine_decay_schedule`` with ``peak_value = optimizer.lr``."""

    init_value: float = _opt(0.0, "a float ≥ 0", _ge(0))
    warmup_steps: Optional[int] = _opt(None, "null (= decay_steps // 10) or an integer ≥ 0", _or_null(_ge(0)), 10)
    decay_steps: Optional[int] = _opt(None, "null (= trainer.steps) or an integer ≥ 1", _or_null(_ge(1)), 100)
    end_value: float = _opt(0.0, "a float ≥ 0", _ge(0))
    exponent: float = _opt(1.0, "a float > 0", _gt(0))


# --- problem and ansatz -------------------------------------------------------

@dataclass(frozen=True)
class ProblemConfig:
    """A problem to train on; ``molecular`` problems have electrons (UCC needs them)."""

    name: str
    molecular: ClassVar[bool] = False


@register("problem", "h2")
@dataclass(frozen=True)
class H2Config(ProblemConfig):
    molecular: ClassVar[bool] = True
    bond_length: float = _opt(0.7414, "a float > 0 (ångström)", _gt(0))
    basis: str = _opt("sto-3g", "one of sto-3g, 6-31g, 6-311g, cc-pvdz",
                      _one_of("sto-3g", "6-31g", "6-311g", "cc-pvdz"))


@register("problem", "lih")
@dataclass(frozen=True)
class LiHConfig(ProblemConfig):
    molecular: ClassVar[bool] = True
    bond_length: float = _opt(1.5949, "a float > 0 (ångström)", _gt(0))
    basis: str = _opt("sto-3g", "sto-3g (larger bases need a larger active space than this experiment ships)",
                      _one_of("sto-3g"))
    active_electrons: int = _opt(2, "an integer in 1..4", lambda v: 1 <= v <= 4)
    active_orbitals: int = _opt(3, "an integer in 1..6 (qubits = 2·active_orbitals)", lambda v: 1 <= v <= 6)


def _edge_list(v: Any) -> bool:
    return v is None or (isinstance(v, (list, tuple)) and all(isinstance(e, (list, tuple)) for e in v))


@register("problem", "maxcut")
@dataclass(frozen=True)
class MaxCutConfig(ProblemConfig):
    """A random regular graph (``n``, ``degree``, ``graph_seed``) unless ``edges`` lists the graph (whose nodes
    are then ``0..largest node``, and ``n``, ``degree``, ``graph_seed`` are unused)."""

    n: int = _opt(10, "an integer in 2..26", lambda v: 2 <= v <= 26)
    degree: int = _opt(3, "an integer ≥ 1", _ge(1))
    graph_seed: int = _opt(0, "an integer ≥ 0", _ge(0))
    edges: Optional[Any] = _opt(None, "null or a list of [i, j] or [i, j, weight] edges", _edge_list,
                                "[[0,1],[1,2],[2,0]]")
    samples: int = _opt(1024, "an integer ≥ 1 (shots drawn from the trained state to find the best cut)", _ge(1))


@register("problem", "tfim")
@dataclass(frozen=True)
class TFIMConfig(ProblemConfig):
    n: int = _opt(6, "an integer ≥ 2", _ge(2))
    J: float = _opt(1.0, "a float")
    h: float = _opt(1.0, "a float")
    periodic: bool = _opt(False, _BOOL)


def _test_size(v: float) -> bool:
    return 0 < v < 1


@dataclass(frozen=True)
class DatasetConfig(ProblemConfig):
    """A scikit-learn data set for ``+experiment=classifier``: stratified split (``test_size``, ``seed``)."""

    dataset: ClassVar[bool] = True
    test_size: float = _opt(0.2, "a float in (0, 1) (fraction of samples held out for testing)", _test_size, 0.25)
    seed: int = _opt(0, "an integer ≥ 0 (seeds the train/test split, and the samples of generated data)", _ge(0))


def _iris_features(v: Any) -> bool:
    return v is None or (len(v) > 0 and len(set(v)) == len(v) and all(0 <= f <= 3 for f in v))


@register("problem", "iris")
@dataclass(frozen=True)
class IrisConfig(DatasetConfig):
    """Fisher's iris (150 flowers, 3 classes, 4 features); ``features`` picks columns (null = all 4)."""

    features: Optional[tuple[int, ...]] = _opt(None, "null (all four) or a list of distinct column indices in 0..3",
                                               _iris_features, "[2,3]")


@register("problem", "moons")
@dataclass(frozen=True)
class MoonsConfig(DatasetConfig):
    """``sklearn.datasets.make_moons``: two interleaved half circles (2 features, 2 classes)."""

    test_size: float = _opt(0.25, "a float in (0, 1) (fraction of samples held out for testing)", _test_size)
    n_samples: int = _opt(200, "an integer ≥ 10", _ge(10))
    noise: float = _opt(0.2, "a float ≥ 0 (std of the Gaussian noise added to the points)", _ge(0))


@register("problem", "breast_cancer")
@dataclass(frozen=True)
class BreastCancerConfig(DatasetConfig):
    """Wisconsin breast cancer (569 samples, 2 classes, 30 features) reduced to ``pca`` principal components."""

    pca: int = _opt(4, "an integer in 1..30 (principal components kept; = qubits)", lambda v: 1 <= v <= 30)


@dataclass(frozen=True)
class AnsatzConfig:
    """A circuit template."""

    name: str


@register("ansatz", "ucc")
@dataclass(frozen=True)
class UCCConfig(AnsatzConfig):
    init: str = _opt("zeros", "zeros or random", _one_of("zeros", "random"))
    init_scale: float = _opt(0.1, "a float ≥ 0", _ge(0))


@register("ansatz", "hea")
@dataclass(frozen=True)
class HEAConfig(AnsatzConfig):
    layers: int = _opt(2, "an integer ≥ 1", _ge(1))
    rotations: tuple[str, ...] = _opt(("RY", "RZ"), "a non-empty list of RX, RY, RZ",
                                      lambda v: len(v) > 0 and set(v) <= {"RX", "RY", "RZ"}, example="[RY,RZ]")
    entangler: str = _opt("chain", "chain or ring", _one_of("chain", "ring"))
    init: str = _opt("random", "random or zeros", _one_of("random", "zeros"))
    init_scale: float = _opt(0.1, "a float ≥ 0", _ge(0))


@register("ansatz", "qaoa")
@dataclass(frozen=True)
class QAOAConfig(AnsatzConfig):
    """``p`` cost+mixer layers; ``init: ramp`` starts on a linear ramp (γ growing towards ``ramp_gamma``, β
    shrinking from ``ramp_beta``), an annealing-like path from which one run reaches a good optimum. The cost
    layer is ``exp(-iγ Σ w Z_i Z_j) ∝ exp(2iγ C)``, so the textbook ``exp(-iγ' C)`` is ``γ = -γ'/2``: hence
    the negative default."""

    p: int = _opt(3, "an integer ≥ 1", _ge(1))
    init: str = _opt("ramp", "ramp, random or zeros", _one_of("ramp", "random", "zeros"))
    ramp_gamma: float = _opt(-0.6, "a float (radians)")
    ramp_beta: float = _opt(0.6, "a float (radians)")
    init_scale: float = _opt(0.1, "a float ≥ 0", _ge(0))


_ROTATION_NAMES = {"RX", "RY", "RZ"}


@register("ansatz", "reupload")
@dataclass(frozen=True)
class ReuploadConfig(AnsatzConfig):
    """The data re-uploading classifier (:mod:`qjax.experiments.classifier`): ``layers`` × (encode the features, trainable
    ``rotations``, CNOT ``entangler``); ``reupload: false`` encodes once (angle encoding). ``wires`` null = max(features,
    classes); class c's logit is ``scale·<Z_c>`` with ``scale`` trainable from ``logit_scale``."""

    layers: int = _opt(3, "an integer ≥ 1", _ge(1))
    reupload: bool = _opt(True, _BOOL)
    encoding: str = _opt("RY", "one of RX, RY, RZ", _one_of(*sorted(_ROTATION_NAMES)))
    rotations: tuple[str, ...] = _opt(("RY", "RZ"), "a non-empty list of RX, RY, RZ",
                                      lambda v: len(v) > 0 and set(v) <= _ROTATION_NAMES, example="[RY,RZ]")
    entangler: str = _opt("ring", "chain or ring", _one_of("chain", "ring"))
    wires: Optional[int] = _opt(None, "null (= max(features, classes)) or an integer ≥ 1", _or_null(_ge(1)), 4)
    init: str = _opt("random", "random or zeros", _one_of("random", "zeros"))
    init_scale: float = _opt(0.5, "a float ≥ 0", _ge(0))
    logit_scale: float = _opt(2.0, "a float > 0 (initial value of the trainable logit scale)", _gt(0))


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


@dataclass(frozen=True)
class ZNESettings:
    """Zero-noise extrapolation: run at each noise factor, extrapolate to zero noise."""

    noise_factors: tuple[float, ...] = _opt((1.0, 3.0, 5.0), "a list of ≥ 2 increasing floats ≥ 1 starting at 1",
                                            lambda v: len(v) >= 2 and v[0] == 1 and list(v) == sorted(set(v)),
                                            example="[1,3,5]")
    amplifier: str = _opt("gate_folding", "one of " + ", ".join(ZNE_AMPLIFIERS), _one_of(*ZNE_AMPLIFIERS))
    extrapolator: str = _opt("exponential", "one of " + ", ".join(_EXTRAPOLATORS) + ", polynomial_degree_<1..7>",
                             _extrapolator)


@dataclass(frozen=True)
class DDSettings:
    """Dynamical decoupling: pulses in idle windows."""

    sequence_type: str = _opt("XpXm", "one of XX, XpXm, XY4", _one_of("XX", "XpXm", "XY4"))


@dataclass(frozen=True)
class TwirlingSettings:
    """Pauli twirling; null counts leave the runtime's defaults."""

    enable_gates: bool = _opt(True, _BOOL)
    enable_measure: bool = _opt(True, _BOOL)
    num_randomizations: Optional[int] = _opt(None, "null (runtime default) or an integer ≥ 1", _or_null(_ge(1)), 8)
    shots_per_randomization: Optional[int] = _opt(None, "null (runtime default) or an integer ≥ 1",
                                                  _or_null(_ge(1)), 128)


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
    """All a backend supports: readout + ZNE, and on IBM also DD and gate twirling."""

    techniques: ClassVar[tuple[str, ...]] = ("readout", "zne", "dd", "twirling")
    zne: ZNESettings = field(default_factory=ZNESettings)
    dd: DDSettings = field(default_factory=DDSettings)
    twirling: TwirlingSettings = field(default_factory=TwirlingSettings)


@dataclass(frozen=True)
class TrainerConfig:
    steps: int = _opt(100, "an integer ≥ 1", _ge(1))
    tol: float = _opt(0.0, "a float ≥ 0 (0 = no early stop)", _ge(0))
    patience: int = _opt(5, "an integer ≥ 1", _ge(1))
    log_every: int = _opt(10, "an integer ≥ 1", _ge(1))


@dataclass(frozen=True)
class CheckpointConfig:
    """After :func:`validate`, ``dir`` and ``root`` are absolute paths and ``every`` an integer, never null."""

    dir: Optional[str] = _opt(None, "null (default dir) or a path", example="/abs/path/ck")
    every: Optional[int] = _opt(None, "null (10 on simulators, 1 on hardware) or an integer ≥ 1", _or_null(_ge(1)), 10)
    resume: str = _opt("auto", "one of auto, never, must", _one_of("auto", "never", "must"))
    keep: int = _opt(3, "an integer ≥ 2", _ge(2))
    root: Optional[str] = _opt(None, "null (<launch dir>/checkpoints) or a path", example="/abs/path")


@dataclass(frozen=True)
class BudgetConfig:
    """Limits on what a run may spend; a run stops with a checkpoint before the job that would cross one."""

    max_shots: Optional[int] = _opt(None, "null (no limit) or an integer ≥ 1", _or_null(_ge(1)), 1000000)
    max_jobs: Optional[int] = _opt(None, "null (no limit) or an integer ≥ 1", _or_null(_ge(1)), 100)
    max_qpu_seconds: Optional[float] = _opt(None, "null (no limit) or a float > 0", _or_null(_gt(0)), 600)


@dataclass(frozen=True)
class Globals:
    """The top-level keys: ``experiment``, ``seed``, ``precision``, ``gradient``."""

    experiment: Optional[str] = _opt(None, "the name of an experiment overlay", example="vqe")
    seed: int = _opt(0, "an integer ≥ 0", _ge(0))
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
