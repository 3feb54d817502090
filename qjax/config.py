"""Typed validation of the Hydra config, run once at start-up before anything runs.

Hydra composes ``conf/`` into a ``DictConfig``; :func:`validate` turns it into a
frozen :class:`RunConfig`. Each group (``backend``, ``optimizer``, ...) is checked
against the dataclass registered for its ``name``: OmegaConf checks types and
rejects unknown keys, then each field's own range check runs. Every failure is a
:class:`~qjax.errors.ConfigError` with one line that names the key, the bad
value, what is allowed and the fix, e.g.
``trainer.steps=-3 is invalid: must be an integer ≥ 1 (e.g. trainer.steps=100)``.

Adding an option to a group is one dataclass with ``@register(group, name)``
(and its YAML file under ``conf/<group>/``).
"""

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, ClassVar, Mapping, Optional

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from qjax.errors import ConfigError

__all__ = [
    "BackendConfig",
    "OptimizerConfig", "AdamConfig", "AdamWConfig", "SGDConfig", "RMSPropConfig",
    "ScheduleConfig", "CosineScheduleConfig", "ExponentialScheduleConfig", "WarmupCosineScheduleConfig",
    "ProblemConfig", "H2Config", "TFIMConfig",
    "AnsatzConfig", "UCCConfig", "HEAConfig",
    "MitigationConfig", "TrainerConfig", "CheckpointConfig", "RunConfig",
    "SCHEMAS", "OPTIONAL_SECTIONS", "HASH_EXCLUDED", "register",
    "validate", "config_hash", "default_checkpoint_dir", "to_container",
]

GRADIENTS = ("auto", "backprop", "adjoint", "parameter_shift", "spsa")
PRECISIONS = ("single", "double")

#: Top-level sections owned by other modules (optional groups); kept as plain
#: containers in :attr:`RunConfig.extras`, never part of the config hash.
OPTIONAL_SECTIONS = ("logger", "hparams_search", "budget")

#: Dotted keys of the validated config that do not change a run's result.
HASH_EXCLUDED = (
    "trainer.steps", "trainer.log_every", "checkpoint", "extras",
    "backend.timeout_s", "backend.retries", "backend.fallback", "backend.max_qubits",
)

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


@register("schedule", "cosine")
@dataclass(frozen=True)
class CosineScheduleConfig(ScheduleConfig):
    """``optax.cosine_decay_schedule``; ``decay_steps`` null becomes ``trainer.steps`` in :func:`validate`."""

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


@register("problem", "tfim")
@dataclass(frozen=True)
class TFIMConfig(ProblemConfig):
    n: int = _opt(6, "an integer ≥ 2", _ge(2))
    J: float = _opt(1.0, "a float")
    h: float = _opt(1.0, "a float")
    periodic: bool = _opt(False, _BOOL)


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


# --- mitigation, trainer, checkpoint ------------------------------------------

@register("mitigation", "none")
@dataclass(frozen=True)
class MitigationConfig:
    """No mitigation; techniques subclass this and register under their name."""

    name: str


@dataclass(frozen=True)
class TrainerConfig:
    steps: int = _opt(100, "an integer ≥ 1", _ge(1))
    tol: float = _opt(0.0, "a float ≥ 0 (0 = no early stop)", _ge(0))
    patience: int = _opt(5, "an integer ≥ 1", _ge(1))
    log_every: int = _opt(10, "an integer ≥ 1", _ge(1))


@dataclass(frozen=True)
class CheckpointConfig:
    """After :func:`validate`, ``dir`` and ``root`` are absolute paths, never null."""

    dir: Optional[str] = _opt(None, "null (default dir) or a path", example="/abs/path/ck")
    every: int = _opt(10, "an integer ≥ 1", _ge(1))
    resume: str = _opt("auto", "one of auto, never, must", _one_of("auto", "never", "must"))
    keep: int = _opt(3, "an integer ≥ 2", _ge(2))
    root: Optional[str] = _opt(None, "null (<launch dir>/checkpoints) or a path", example="/abs/path")


@dataclass(frozen=True)
class _Globals:
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
    extras: Mapping[str, Any] = field(default_factory=dict, hash=False)


_FIXED = {"trainer": TrainerConfig, "checkpoint": CheckpointConfig}
_GROUPS = ("backend", "optimizer", "schedule", "problem", "ansatz", "mitigation", "trainer", "checkpoint")


# --- validation ---------------------------------------------------------------

def _show(value: Any, cli: bool = False) -> str:
    """A value as the user would type it (``cli``) or as repr, so 'abc' shows its quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_show(v, cli) for v in value) + "]"
    return str(value) if cli else repr(value)


def _invalid(key: str, value: Any, meta: Mapping[str, Any]) -> ConfigError:
    example = meta.get("example")
    fix = "" if example is None else f" (e.g. {key}={_show(example, cli=True)})"
    return ConfigError(f"{key}={_show(value)} is invalid: must be {meta.get('expected', 'valid')}{fix}")


def _metadata(cls: type, key: str) -> Mapping[str, Any]:
    name = key.split("[")[0].split(".")[0]
    return next((f.metadata for f in dataclasses.fields(cls) if f.name == name), {})


def _build(prefix: str, cls: type, raw: Any, label: str) -> Any:
    """``cls`` from the plain mapping ``raw``, type- and range-checked; ``prefix`` names keys in errors."""
    schema = OmegaConf.structured(cls)
    OmegaConf.set_readonly(schema, False)  # frozen dataclasses give read-only nodes
    try:
        merged = OmegaConf.merge(schema, raw)
        values = OmegaConf.to_container(merged, throw_on_missing=True)
    except ConfigKeyError as exc:
        known = ", ".join(f.name for f in dataclasses.fields(cls) if f.name != "name")
        group = prefix.rstrip(".")
        having = [n for n, c in SCHEMAS.get(group, {}).items() if exc.key in {f.name for f in dataclasses.fields(c)}]
        fix = f"pick {group}={'|'.join(sorted(having))}" if having else "remove it"
        raise ConfigError(f"{prefix}{exc.key} is not a key of {label} (keys: {known}); {fix}") from None
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{prefix}{exc.full_key} is missing; set it, e.g. {prefix}{exc.full_key}=...") from None
    except ValidationError as exc:
        raise _invalid(f"{prefix}{exc.full_key}", exc.value, _metadata(cls, str(exc.full_key))) from None
    obj = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    for f in dataclasses.fields(cls):
        check = f.metadata.get("ok")
        if check is not None and not check(getattr(obj, f.name)):
            raise _invalid(f"{prefix}{f.name}", getattr(obj, f.name), f.metadata)
    return obj


def _group(group: str, raw: Any) -> Any:
    """The schema instance for one group, chosen by its ``name`` unless the group has one schema."""
    if group in _FIXED:
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"{group}={_show(raw)} is invalid: must be a mapping of {group}.* keys")
        return _build(f"{group}.", _FIXED[group], raw if raw is not None else {}, group)
    options = SCHEMAS[group]
    known = ", ".join(sorted(options))
    if not isinstance(raw, dict):
        raise ConfigError(f"{group}={_show(raw)} is invalid: select one of {known} (e.g. {group}={next(iter(options))})")
    name = raw.get("name")
    if name not in options:
        raise ConfigError(f"{group}.name={_show(name)} is invalid: must be one of {known} "
                          f"(e.g. {group}={next(iter(options))})")
    return _build(f"{group}.", options[name], raw, f"{group}={name}")


def _known_experiments() -> list[str]:
    files = resources.files("qjax.conf").joinpath("experiment").iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".yaml"))


def _launch_dir() -> str:
    return HydraConfig.get().runtime.cwd if HydraConfig.initialized() else os.getcwd()


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.join(_launch_dir(), os.path.expanduser(path)))


def _resolve(cfg: Any) -> dict:
    """The config as plain, resolved Python containers, without ``hydra``."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))
    out = {}
    for key in cfg:
        if key == "hydra":
            continue
        try:
            value = cfg[key]
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value, resolve=True, throw_on_missing=True)
        except MissingMandatoryValue as exc:
            raise ConfigError(f"{exc.full_key} is missing (???); set it on the command line") from None
        except OmegaConfBaseException as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"{exc.full_key or key} cannot be resolved: {first}") from None
        out[key] = value
    return out


def validate(cfg: DictConfig | Mapping[str, Any]) -> RunConfig:
    """Check a composed config and return it typed, or raise :class:`ConfigError` naming the key.

    Also fills in what the config leaves to defaults: ``schedule.decay_steps``
    null → ``trainer.steps``; ``checkpoint.root`` null → ``<launch dir>/checkpoints``;
    ``checkpoint.dir`` null → :func:`default_checkpoint_dir`; both made absolute.
    """
    raw = _resolve(cfg)
    allowed = {f.name for f in dataclasses.fields(_Globals)} | set(_GROUPS) | set(OPTIONAL_SECTIONS)
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{key} is not a known config key (known: {', '.join(sorted(allowed))}); remove it")
    groups = {}
    for group in _GROUPS:
        if group not in raw and group not in _FIXED:
            raise ConfigError(f"{group} is missing: select one with {group}=<{'|'.join(sorted(SCHEMAS[group]))}>")
        groups[group] = _group(group, raw.get(group))
    top = _build("", _Globals, {k: raw[k] for k in raw if k not in groups and k not in OPTIONAL_SECTIONS}, "the config")
    known = _known_experiments()
    if top.experiment is None:
        raise ConfigError(f"no experiment selected; add +experiment={known[0] if known else 'vqe'}")
    if top.experiment not in known:
        raise ConfigError(f"experiment={_show(top.experiment)} is invalid: must be one of {', '.join(known)} "
                          f"(e.g. +experiment={known[0]})")
    if groups["ansatz"].name == "ucc" and not groups["problem"].molecular:
        raise ConfigError(f"ansatz=ucc needs a molecular problem, not problem={groups['problem'].name}; "
                          "use ansatz=hea (or problem=h2)")
    schedule = groups["schedule"]
    if getattr(schedule, "decay_steps", 0) is None:
        schedule = groups["schedule"] = dataclasses.replace(schedule, decay_steps=groups["trainer"].steps)
    if getattr(schedule, "warmup_steps", 0) is None:
        schedule = groups["schedule"] = dataclasses.replace(schedule, warmup_steps=schedule.decay_steps // 10)
    if isinstance(schedule, WarmupCosineScheduleConfig) and schedule.warmup_steps >= schedule.decay_steps:
        raise ConfigError(f"schedule.warmup_steps={schedule.warmup_steps} is invalid: must be < schedule.decay_steps "
                          f"({schedule.decay_steps}) (e.g. schedule.warmup_steps={schedule.decay_steps // 10})")
    extras = {k: raw[k] for k in OPTIONAL_SECTIONS if k in raw}
    run = RunConfig(**dataclasses.asdict(top), **groups, extras=extras)
    ck = run.checkpoint
    root = _absolute(ck.root if ck.root is not None else "checkpoints")
    run = dataclasses.replace(run, checkpoint=dataclasses.replace(ck, root=root))
    directory = _absolute(ck.dir) if ck.dir is not None else default_checkpoint_dir(run)
    return dataclasses.replace(run, checkpoint=dataclasses.replace(run.checkpoint, dir=directory))


def _as_run(cfg: Any) -> RunConfig:
    return cfg if isinstance(cfg, RunConfig) else validate(cfg)


def config_hash(cfg: DictConfig | RunConfig) -> str:
    """16 hex chars of sha256 over the canonical JSON of every value that changes the result.

    Excluded (:data:`HASH_EXCLUDED`): ``trainer.steps``, ``trainer.log_every``,
    ``checkpoint.*``, ``logger``, ``hparams_search``, ``budget``,
    ``backend.timeout_s/retries/fallback/max_qubits`` and ``hydra.*``. Values are
    hashed after validation, so ``lr=1`` and ``lr=1.0`` agree, and a schedule's
    ``decay_steps: null`` counts as the ``trainer.steps`` it stands for.
    """
    payload = dataclasses.asdict(_as_run(cfg))
    for path in HASH_EXCLUDED:
        *parents, leaf = path.split(".")
        node = payload
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_checkpoint_dir(cfg: DictConfig | RunConfig, root: Optional[str] = None) -> str:
    """``<root>/<experiment>-<problem.name>-<config hash>``, absolute.

    ``root`` defaults to ``checkpoint.root`` (itself defaulting to ``<launch dir>/checkpoints``).
    """
    run = _as_run(cfg)
    root = _absolute(root if root is not None else (run.checkpoint.root or "checkpoints"))
    return os.path.join(root, f"{run.experiment}-{run.problem.name}-{config_hash(run)}")


_SECRET_WORDS = ("token", "api_key", "apikey", "password", "passwd", "secret", "credential")


def _redact(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _redact(v) for k, v in node.items()
                if not any(word in str(k).lower() for word in _SECRET_WORDS)}
    if isinstance(node, (list, tuple)):
        return [_redact(v) for v in node]
    return node


def to_container(cfg: DictConfig | RunConfig) -> dict:
    """The config as plain JSON-able containers for manifests: resolved, no ``hydra``, no secrets.

    Keys named like a secret (token, api_key, password, secret, credential) are
    dropped at any depth. A :class:`RunConfig` is laid out like the Hydra config
    (its ``extras`` back at the top level).
    """
    if isinstance(cfg, RunConfig):
        data = dataclasses.asdict(cfg)
        data.update(data.pop("extras"))
    else:
        data = _resolve(cfg)
    return _redact(data)
