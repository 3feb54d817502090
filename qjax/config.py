"""Typed validation of the Hydra config, run once at start-up before anything runs.

Hydra composes ``conf/`` into a ``DictConfig``; :func:`validate` turns it into a
frozen :class:`RunConfig`. Each group (``backend``, ``optimizer``, ...) is checked
against the dataclass registered for its ``name``: OmegaConf checks types and
rejects unknown keys, then each field's own range check runs. Every failure is a
:class:`~qjax.errors.ConfigError` with one line that names the key, the bad
value, what is allowed and the fix, e.g.
``trainer.steps=-3 is invalid: must be an integer ≥ 1 (e.g. trainer.steps=100)``.

The schemas (one dataclass per option) live in :mod:`qjax.schemas`.
"""

import dataclasses
import hashlib
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf, flag_override
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException, ValidationError

from qjax.config_baseline import ADDED, BASELINE
from qjax.errors import ConfigError
from qjax.hardware_defaults import resolve as resolve_hardware_defaults
from qjax.resources import check_sizes
from qjax.schemas import (
    FIXED_GROUPS,
    GROUPS,
    SCHEMAS,
    ZNE_MIN_FACTORS,
    Globals,
    RunConfig,
    WarmupCosineScheduleConfig,
    lih_active_orbitals,
)

__all__ = [
    "OPTIONAL_SECTIONS",
    "HASH_EXCLUDED",
    "secret_keys",
    "secret_overrides",
    "refuse_secret_overrides",
    "scrub_saved_config",
    "ScrubSecrets",
    "validate",
    "check_rules",
    "classifier_backend_refusal",
    "no_coupling_map",
    "group_config",
    "config_hash",
    "legacy_config_hash",
    "default_checkpoint_dir",
    "to_container",
]

#: Top-level sections owned by other modules (optional groups); kept as plain
#: containers in :attr:`RunConfig.extras`, never part of the config hash.
OPTIONAL_SECTIONS = ("logger", "hparams_search")

#: Words that make a config key a secret wherever it appears (``backend.token``, ``logger.api_key``).
_SECRET_WORDS = ("token", "api_key", "apikey", "password", "passwd", "secret", "credential")

#: Dotted keys of the validated config that do not change a run's result.
HASH_EXCLUDED = (
    "trainer.steps",
    "trainer.log_every",
    "checkpoint",
    "budget",
    "extras",
    "backend.timeout_s",
    "backend.retries",
    "backend.fallback",
    "backend.max_qubits",
    "backend.backoff_s",
    "backend.poll_s",
    "backend.max_pending_jobs",
    "backend.max_operations",
    # planned keys that do not change the result either (absent today, so no hash changes)
    "backend.execution_mode",
    "backend.devices",
)


# --- validation ---------------------------------------------------------------


def _show(value: Any, cli: bool = False) -> str:
    """A value as the user would type it (``cli``) or as repr, so 'abc' shows its quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        if len(value) > 8:  # one line stays readable: the first items, the last, and how many
            head = ",".join(_show(v, cli) for v in value[:3])
            return f"[{head},…,{_show(value[-1], cli)}] ({len(value)} items)"
        return "[" + ",".join(_show(v, cli) for v in value) + "]"
    text = str(value) if cli else repr(value)
    return text if len(text) <= 80 else f"{text[:60]}… ({len(text)} characters)"


def _printable(key: Any) -> str:
    """A user-given key as one printable line: control characters (a newline in a YAML key) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(key))


def _invalid(key: str, value: Any, meta: Mapping[str, Any]) -> ConfigError:
    example = meta.get("example")
    fix = "" if example is None else f" (e.g. {key}={_show(example, cli=True)})"
    return ConfigError(f"{key}={_show(value)} is invalid: must be {meta.get('expected', 'valid')}{fix}")


def _metadata(cls: Any, key: str) -> Mapping[str, Any]:
    *parents, leaf = key.split("[")[0].split(".")
    for name in parents:  # nested settings, e.g. mitigation.zne.extrapolator
        cls = next((f.type for f in dataclasses.fields(cls) if f.name == name), cls)
    if not dataclasses.is_dataclass(cls):
        return {}
    return next((f.metadata for f in dataclasses.fields(cls) if f.name == leaf), {})


def _nodes(node: Any):
    yield node
    for key in range(len(node)) if isinstance(node, ListConfig) else node:
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)):
            yield from _nodes(child)


def _check_nested_mappings(prefix: str, cls: type, raw: Any) -> None:
    """A nested setting (``mitigation.zne``, ``backend.noise``) must be a mapping: OmegaConf cannot merge
    a list or a scalar into it, and says so without the key."""
    if not isinstance(raw, (Mapping, DictConfig)):
        return
    for f in dataclasses.fields(cls):
        value = raw.get(f.name)
        if dataclasses.is_dataclass(f.type) and f.name in raw and not isinstance(value, (Mapping, DictConfig)):
            raise ConfigError(
                f"{prefix}{f.name}={_show(value)} is invalid: must be a mapping of {prefix}{f.name}.* "
                f"keys (e.g. {prefix}{f.name}.{dataclasses.fields(f.type)[0].name}=...)"
            )


def _build(prefix: str, cls: Any, raw: Any, label: str) -> Any:
    """``cls`` from the plain mapping ``raw``, type- and range-checked; ``prefix`` names keys in errors."""
    schema = OmegaConf.structured(cls)
    for node in _nodes(schema):  # frozen dataclasses give read-only nodes, nested ones too
        OmegaConf.set_readonly(node, False)
    _check_nested_mappings(prefix, cls, raw)
    try:
        merged = OmegaConf.merge(schema, raw)
        values: Any = OmegaConf.to_container(merged, throw_on_missing=True)
    except ConfigKeyError as exc:
        full_key = _printable(exc.full_key)
        parent = str(exc.full_key).rpartition(".")[0]
        owner: Any = cls
        for name in filter(None, parent.split(".")):
            owner = next((f.type for f in dataclasses.fields(owner) if f.name == name), owner)
        known = ", ".join(f.name for f in dataclasses.fields(owner) if f.name != "name")
        group = prefix.split(".")[0]
        scope = parent + "." if parent else ""
        having = [n for n, c in SCHEMAS.get(group, {}).items() if exc.key in {f.name for f in dataclasses.fields(c)}]
        fix = f"pick {group}={'|'.join(sorted(having))}" if having else "remove it"
        raise ConfigError(
            f"{prefix}{full_key} is not a key of {label} (keys of {prefix}{_printable(scope)}*: {known}); {fix}"
        ) from None
    except MissingMandatoryValue as exc:
        key = _printable(exc.full_key)
        raise ConfigError(f"{prefix}{key} is missing; set it, e.g. {prefix}{key}=...") from None
    except ValidationError as exc:
        raise _invalid(f"{prefix}{exc.full_key}", exc.value, _metadata(cls, str(exc.full_key))) from None
    except OmegaConfBaseException as exc:  # any other clash of a value with the schema's shape
        key = f"{prefix}{_printable(exc.full_key)}" if exc.full_key else prefix.rstrip(".") or label
        raise ConfigError(f"{key} is invalid for {label}: {str(exc).splitlines()[0]}") from None
    nested = {f.name: f.type for f in dataclasses.fields(cls) if dataclasses.is_dataclass(f.type)}
    obj = cls(
        **{
            k: _build(f"{prefix}{k}.", nested[k], v, label) if k in nested else tuple(v) if isinstance(v, list) else v
            for k, v in values.items()
        }
    )
    for f in dataclasses.fields(cls):
        check = f.metadata.get("ok")
        if check is not None and not _passes(check, getattr(obj, f.name)):
            raise _invalid(f"{prefix}{f.name}", getattr(obj, f.name), f.metadata)
    return obj


def _passes(check: Any, value: Any) -> bool:
    """``check(value)``; a value the check cannot even compare (a list inside a list of names) fails it."""
    try:
        return bool(check(value))
    except (TypeError, ValueError, AttributeError, OverflowError):
        return False


def _group(group: str, raw: Any) -> Any:
    """The schema instance for one group, chosen by its ``name`` unless the group has one schema."""
    if group in FIXED_GROUPS:
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"{group}={_show(raw)} is invalid: must be a mapping of {group}.* keys")
        return _build(f"{group}.", FIXED_GROUPS[group], raw if raw is not None else {}, group)
    options = SCHEMAS[group]
    known = ", ".join(sorted(options))
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{group}={_show(raw)} is invalid: select one of {known} (e.g. {group}={next(iter(options))})"
        )
    name = raw.get("name")
    if not isinstance(name, str) or name not in options:  # a list or dict name is no option (nor hashable)
        raise ConfigError(
            f"{group}.name={_show(name)} is invalid: must be one of {known} (e.g. {group}={next(iter(options))})"
        )
    return _build(f"{group}.", options[name], raw, f"{group}={name}")


def group_config(group: str, raw: Any) -> Any:
    """The validated schema instance of one config group from a plain mapping (e.g. a service request's
    ``mitigation``); :class:`ConfigError` names the bad key."""
    return _group(group, raw)


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
            raise ConfigError(f"{_printable(exc.full_key)} is missing (???); set it on the command line") from None
        except OmegaConfBaseException as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"{_printable(exc.full_key or key)} cannot be resolved: {first}") from None
        out[key] = value
    return out


def _is_secret(key: Any) -> bool:
    """Whether a config key is named like a secret (token, api_key, password, secret, credential, ...)."""
    return any(word in str(key).lower() for word in _SECRET_WORDS)


def secret_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys named like a secret (token, api_key, password, ...) anywhere in a config, lists included."""
    found = []
    if isinstance(node, (list, tuple, ListConfig)):
        for i in range(len(node)):
            try:
                found += secret_keys(node[i], f"{prefix.rstrip('.')}[{i}].")
            except OmegaConfBaseException:
                continue
    elif isinstance(node, (Mapping, DictConfig)):
        for key in node:
            path = f"{prefix}{key}"
            if _is_secret(key):
                found.append(path)
            if key != "hydra":
                try:
                    child = node[key]
                except OmegaConfBaseException:
                    continue
                found += secret_keys(child, path + ".")
    return found


# --- secrets on the command line and in the files Hydra writes -------------------------
#
# Hydra writes the composed config three ways before the task runs: <run>/.hydra/*.yaml,
# <sweep>/multirun.yaml, and the launcher's log line of each member's overrides. A key named
# like a secret on the command line is refused before Hydra starts (refuse_secret_overrides);
# one that comes from a config file is dropped from the sweep's config before the sweeper saves
# multirun.yaml, and scrubbed from every file Hydra wrote (ScrubSecrets).

# A dict literal in an override's value whose key is named like a secret: +x={token: abc}.
_SECRET_IN_VALUE = re.compile(r"[{,]\s*['\"]?[\w.-]*(" + "|".join(_SECRET_WORDS) + r")[\w.-]*['\"]?\s*:")


def secret_overrides(args: Iterable[str]) -> list[str]:
    """The keys of command-line overrides (``key=value``) that would put a secret into the config.

    Only keys are returned, never values. Flags (``-m``, ``--cfg job``, ``--config-dir=...``) and
    arguments without ``=`` are skipped.
    """
    found = []
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, _, value = arg.partition("=")
        if _is_secret(key) or _SECRET_IN_VALUE.search(value.lower()):
            found.append(key)
    return found


def refuse_secret_overrides(args: Iterable[str]) -> None:
    """Raise :class:`ConfigError` if a command-line override sets a key named like a secret.

    Called before Hydra starts, so nothing has been written or logged yet: Hydra saves every
    override to ``.hydra/`` and ``multirun.yaml`` and logs each sweep member's overrides. The
    message names the key only.
    """
    keys = secret_overrides(args)
    if keys:
        raise ConfigError(
            f"{keys[0]}=… on the command line: credentials are never taken from the config (Hydra would "
            "save and log the value); set QISKIT_IBM_TOKEN (QJAX_API_KEY for backend=remote) in the "
            "environment or save a Qiskit account, and drop the override"
        )


_REDACTED = "<redacted>"


def _secret_override(item: Any) -> bool:
    """Whether a list item is an override (``key=value``, as in ``hydra.overrides.task``) setting a secret."""
    return isinstance(item, str) and "=" in item and bool(secret_overrides([item.lstrip("+~")]))


def _secret_values(node: Any) -> list[str]:
    """The values stored under keys named like a secret, and those of overrides (list items) that set one."""
    values = []
    if isinstance(node, Mapping):
        for key, child in node.items():
            if _is_secret(key) and child is not None and not isinstance(child, (Mapping, list)):
                values.append(str(child))
            values += _secret_values(child)
    elif isinstance(node, list):
        for child in node:
            values += [child.partition("=")[2]] if _secret_override(child) else _secret_values(child)
    return [v for v in values if v and v != _REDACTED]


# Values at least this long are also replaced wherever else they appear (e.g. in hydra.job.override_dirname);
# shorter ones ("1", "true") would match unrelated text, and no real token or key is that short.
_MIN_ECHO = 8


def _without_secrets(node: Any) -> Any:
    """``node`` without keys named like a secret, and without overrides (list items) setting one."""
    if isinstance(node, Mapping):
        return {k: _without_secrets(v) for k, v in node.items() if not _is_secret(k)}
    if isinstance(node, list):
        return [_without_secrets(v) for v in node if not _secret_override(v)]
    return node


def scrub_saved_config(path: str | os.PathLike) -> bool:
    """Rewrite the YAML file ``path`` (a config Hydra saved) without secrets; True if it changed.

    Keys named like a secret and overrides setting one are dropped, and any other occurrence of
    their values (e.g. in ``hydra.job.override_dirname``) is replaced by ``<redacted>``.
    """
    path = Path(path)
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except (OSError, OmegaConfBaseException, ValueError):
        return False
    # longest first, so no part of a longer secret is left behind
    secrets = sorted({v for v in _secret_values(data) if len(v) >= _MIN_ECHO}, key=len, reverse=True)
    scrubbed = _without_secrets(data)
    if not secrets and scrubbed == data:
        return False
    text = OmegaConf.to_yaml(OmegaConf.create(scrubbed))
    for value in secrets:
        text = text.replace(value, _REDACTED)
    path.write_text(text)
    return True


def _drop_secret_keys(node: Any) -> None:
    """Delete keys named like a secret from a composed config, in place, at any depth (``hydra`` included)."""
    if isinstance(node, DictConfig):
        with flag_override(node, ["struct", "readonly"], [False, False]):
            for key in list(node.keys()):
                if _is_secret(key):
                    del node[key]
                else:
                    _drop_secret_keys(node._get_node(key))
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            _drop_secret_keys(node._get_node(i))


class ScrubSecrets(Callback):
    """Hydra callback (``hydra.callbacks.scrub_secrets``): keeps secrets from config files out of what Hydra saves.

    Hydra 1.3 calls ``on_multirun_start`` with the sweep's composed config before the sweeper
    saves it as ``multirun.yaml`` (``BasicSweeper.sweep``) and composes every member again from
    its overrides, so the keys are dropped from that config in place. A job's ``.hydra/*.yaml``
    are written before ``on_job_start`` (``hydra.core.utils.run_job``), so they are rewritten
    there, as is ``multirun.yaml`` once more. The run itself still sees the key and refuses it
    (:func:`validate`).
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _drop_secret_keys(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        hydra = config.hydra
        if hydra.output_subdir is not None:
            for path in (Path(hydra.runtime.output_dir) / hydra.output_subdir).glob("*.yaml"):
                scrub_saved_config(path)
        if hydra.mode == RunMode.MULTIRUN:
            scrub_saved_config(Path(hydra.sweep.dir) / "multirun.yaml")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        scrub_saved_config(Path(config.hydra.sweep.dir) / "multirun.yaml")


def validate(cfg: DictConfig | Mapping[str, Any]) -> RunConfig:
    """Check a composed config and return it typed, or raise :class:`ConfigError` naming the key.

    Also fills in what the config leaves to defaults: ``schedule.decay_steps``
    null → ``trainer.steps``; ``checkpoint.root`` null → ``<launch dir>/checkpoints``;
    ``checkpoint.dir`` null → :func:`default_checkpoint_dir`; both made absolute.
    """
    secrets = secret_keys(cfg)
    if secrets:
        raise ConfigError(
            f"{_printable(secrets[0])}: credentials are never taken from the config (Hydra saves it in "
            ".hydra/); "
            "set QISKIT_IBM_TOKEN in the environment or save a Qiskit account, and drop the key"
        )
    raw = _resolve(cfg)
    allowed = {f.name for f in dataclasses.fields(Globals)} | set(GROUPS) | set(OPTIONAL_SECTIONS)
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"{_printable(key)} is not a known config key (known: {', '.join(sorted(allowed))}); remove it"
            )
    groups = {}
    for group in GROUPS:
        if group not in raw and group not in FIXED_GROUPS:
            raise ConfigError(f"{group} is missing: select one with {group}=<{'|'.join(sorted(SCHEMAS[group]))}>")
        groups[group] = _group(group, raw.get(group))
    top = _build("", Globals, {k: raw[k] for k in raw if k not in groups and k not in OPTIONAL_SECTIONS}, "the config")
    known = _known_experiments()
    main = "vqe" if "vqe" in known or not known else known[0]  # the main job
    if top.experiment is None:
        raise ConfigError(f"no experiment selected; add +experiment={main}")
    if top.experiment not in known:
        raise ConfigError(
            f"experiment={_show(top.experiment)} is invalid: must be one of {', '.join(known)} "
            f"(e.g. +experiment={main})"
        )
    _check_combination(top.experiment, groups["problem"], groups["ansatz"], groups["backend"])
    _check_problem(groups["problem"])
    groups = resolve_hardware_defaults(top.experiment, groups)  # problem.taper, mitigation, final_precision: auto
    zne = getattr(groups["mitigation"], "zne", None)
    if zne is not None:
        need = ZNE_MIN_FACTORS.get(zne.extrapolator) or int(zne.extrapolator.removeprefix("polynomial_degree_")) + 1
        if len(zne.noise_factors) < need:
            raise ConfigError(
                f"mitigation.zne.extrapolator={zne.extrapolator} fits {need} or more noise factors, "
                f"but mitigation.zne.noise_factors has {len(zne.noise_factors)}; add factors "
                f"(e.g. mitigation.zne.noise_factors=[1,3,5]) or use mitigation.zne.extrapolator=linear"
            )
    schedule = groups["schedule"] = groups["schedule"].for_run(groups["trainer"].steps)
    if (
        isinstance(schedule, WarmupCosineScheduleConfig)
        and schedule.warmup_steps is not None  # for_run filled both
        and schedule.decay_steps is not None
        and schedule.warmup_steps >= schedule.decay_steps
    ):
        raise ConfigError(
            f"schedule.warmup_steps={schedule.warmup_steps} is invalid: must be < schedule.decay_steps "
            f"({schedule.decay_steps}) (e.g. schedule.warmup_steps={schedule.decay_steps // 10})"
        )
    extras = {k: raw[k] for k in OPTIONAL_SECTIONS if k in raw}
    if extras.get("logger") is not None:
        extras["logger"] = _group("logger", extras["logger"])
    run = RunConfig(**dataclasses.asdict(top), **groups, extras=extras)
    ck = run.checkpoint
    root = _absolute(ck.root if ck.root is not None else "checkpoints")
    every = ck.every if ck.every is not None else (1 if run.backend.hardware else 10)  # a hardware step is precious
    run = dataclasses.replace(run, checkpoint=dataclasses.replace(ck, root=root, every=every))
    check_sizes(run)  # qubits and gates against the backend's limits, before anything is built
    directory = _absolute(ck.dir) if ck.dir is not None else default_checkpoint_dir(run)
    return dataclasses.replace(run, checkpoint=dataclasses.replace(run.checkpoint, dir=directory))


def _check_problem(problem: Any) -> None:
    """Rules between a problem's keys: a random regular graph's degree, a data set's split."""
    if problem.name == "lih":
        allowed = lih_active_orbitals(problem.active_electrons)
        if problem.active_orbitals not in allowed:
            raise ConfigError(
                f"problem.active_orbitals={problem.active_orbitals} with problem.active_electrons="
                f"{problem.active_electrons} is invalid: LiH needs {allowed[0]}..{allowed[-1]} active "
                f"orbitals then (a virtual one to excite into, and room beside the core) "
                f"(e.g. problem.active_orbitals={allowed[0] + 1})"
            )
    if problem.name == "maxcut" and problem.edges is None:
        n, d = problem.n, problem.degree
        if d >= n or (n * d) % 2:
            raise ConfigError(
                f"problem.degree={d} with problem.n={n} is invalid: a regular graph needs "
                f"1 ≤ degree < n and n·degree even (e.g. problem.n=10 problem.degree=3)"
            )
    if getattr(problem, "dataset", False):
        size, classes = problem.num_samples(), problem.classes
        test = problem.test_size * size
        if test < classes or size - test < classes:
            side = "test" if test < classes else "training"
            fix = 0.25 if test < classes else 0.2
            raise ConfigError(
                f"problem.test_size={problem.test_size} leaves fewer {side} samples than the "
                f"{classes} classes of problem={problem.name} ({size} samples); "
                f"use e.g. problem.test_size={fix}"
            )


def check_rules(run: RunConfig) -> None:
    """The cross-group rules of :func:`validate` for a :class:`RunConfig` that may not have been through it
    (built by hand in Python): raise :class:`ConfigError` with the same message :func:`validate` gives.

    :func:`qjax.experiments.build.build_experiment` calls it, so a bad combination fails clearly there too;
    each rule is defined once, here.
    """
    _check_combination(run.experiment, run.problem, run.ansatz, run.backend)


def no_coupling_map(backend: str, device: str | None) -> str | None:
    """Why ``ansatz.entangler=device`` cannot run on ``backend`` (``None`` where it can): the one wording of it."""
    if backend in ("ibm_fake", "ibm") or (backend == "noisy_simulator" and device is not None):
        return None
    why = {
        "simulator": "backend=simulator has no coupling map (any pair of wires may interact)",
        "noisy_simulator": "backend=noisy_simulator without backend.device has no coupling map",
        "remote": "backend=remote transpiles on the service, which chooses the layout",
    }.get(backend, f"backend={backend} has no coupling map")
    return (
        f"ansatz.entangler=device places two-qubit gates on a device's couplers, but {why}; "
        "use ansatz.entangler=chain, or backend=ibm_fake / ibm / noisy_simulator backend.device=FakeManilaV2"
    )


def _check_combination(experiment: str, problem: Any, ansatz: Any, backend: Any) -> None:
    """Rules between groups: what each ansatz and experiment needs of the problem and the backend."""
    if getattr(ansatz, "entangler", None) == "device":
        refusal = no_coupling_map(backend.name, getattr(backend, "device", None))
        if refusal is not None:
            raise ConfigError(refusal)
    if ansatz.name == "ucc" and not getattr(problem, "molecular", False):
        raise ConfigError(
            f"ansatz=ucc needs a molecular problem, not problem={problem.name}; use ansatz=hea (or problem=h2)"
        )
    if ansatz.name == "qaoa" and problem.name != "maxcut":
        raise ConfigError(
            f"ansatz=qaoa needs problem=maxcut, not problem={problem.name}; use ansatz=hea (or problem=maxcut)"
        )
    if experiment == "qaoa" and problem.name != "maxcut":
        raise ConfigError(
            f"+experiment=qaoa solves MaxCut, not problem={problem.name}; "
            "drop the problem override (or use +experiment=vqe)"
        )
    _check_classifier(experiment, problem, ansatz, backend)


def classifier_backend_refusal(backend_name: str) -> Optional[str]:
    """Why ``+experiment=classifier`` cannot run on ``backend_name`` (None on the simulator): the one
    definition of that rule, raised as :class:`ConfigError` by :func:`validate` and as a
    :class:`~qjax.errors.BackendError` by the classifier's objective when handed another backend."""
    if backend_name == "simulator":
        return None
    return (
        f"+experiment=classifier runs on backend=simulator only (its loss is a vmapped, "
        f"differentiable function of the data set), not backend={backend_name}; use backend=simulator"
    )


def _check_classifier(experiment: str, problem: Any, ansatz: Any, backend: Any) -> None:
    """``+experiment=classifier`` needs a data set, ``ansatz=reupload`` and the simulator; data needs the classifier."""
    datasets = "|".join(sorted(n for n, c in SCHEMAS["problem"].items() if getattr(c, "dataset", False)))
    is_data = getattr(problem, "dataset", False)
    if experiment == "classifier":
        if not is_data:
            raise ConfigError(
                f"+experiment=classifier trains on a data set, not problem={problem.name}; "
                f"use problem={datasets} (or drop the problem override)"
            )
        if ansatz.name != "reupload":
            raise ConfigError(
                f"+experiment=classifier needs ansatz=reupload, not ansatz={ansatz.name}; "
                "use ansatz=reupload (ansatz.reupload=false for plain angle encoding)"
            )
        refusal = classifier_backend_refusal(backend.name)
        if refusal is not None:
            raise ConfigError(refusal)
    elif is_data:
        raise ConfigError(
            f"problem={problem.name} is a data set, trained by the classifier, not +experiment={experiment}; "
            f"use +experiment=classifier problem={problem.name}"
        )
    elif ansatz.name == "reupload":
        raise ConfigError(
            f"ansatz=reupload encodes data features, for +experiment=classifier only; "
            f"use ansatz=hea with +experiment={experiment}"
        )


def _as_run(cfg: Any) -> RunConfig:
    return cfg if isinstance(cfg, RunConfig) else validate(cfg)


def _hashed_values(run: RunConfig) -> dict:
    """The validated config as plain containers, without :data:`HASH_EXCLUDED` (the legacy hash's payload)."""
    payload = dataclasses.asdict(run)
    for path in HASH_EXCLUDED:
        *parents, leaf = path.split(".")
        node = payload
        for part in parents:
            node = node.get(part, {})
        node.pop(leaf, None)
    return payload


def _digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _flat(node: Mapping[str, Any], prefix: str = "") -> dict:
    """``{"zne": {"amplifier": x}}`` → ``{"zne.amplifier": x}``; lists and tuples stay values."""
    out = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def _sections(payload: dict) -> dict:
    """``baseline key → (section, option name or None, flat values)``: top-level keys as ``globals``."""
    top = {k: payload.pop(k) for k in list(payload) if not isinstance(payload[k], Mapping)}
    out = {"globals": ("globals", None, top)}
    for section, values in payload.items():
        flat = _flat(values)
        name = flat.pop("name", None)
        out[section if name is None else f"{section}.{name}"] = (section, name, flat)
    return out


def config_hash(cfg: DictConfig | RunConfig) -> str:
    """16 hex chars of sha256 over the values that change the result and differ from the frozen baseline.

    The payload is ``experiment``, each group's option ``name`` and every other validated
    value that differs from its entry in :mod:`qjax.config_baseline` (today's defaults,
    frozen in the code; keys added later enter it with their old-behaviour value). So a new
    config key leaves existing hashes (and checkpoint directories) alone, while a changed
    default changes them: an old run is never resumed under new semantics. Excluded
    (:data:`HASH_EXCLUDED`): ``trainer.steps``, ``trainer.log_every``, ``checkpoint.*``,
    ``logger``, ``hparams_search``, ``budget``, the backend's job control and ``hydra.*``.
    Values are compared after validation, so ``lr=1`` and ``lr=1.0`` agree, and a schedule's
    ``decay_steps: null`` counts as the ``trainer.steps`` it stands for. Checkpoints written
    before this rule carry :func:`legacy_config_hash`.
    """
    run = _as_run(cfg)
    payload = _hashed_values(run)
    out: dict[str, Any] = {"config_hash_version": 2, "experiment": payload.pop("experiment")}
    for key, (section, name, values) in _sections(payload).items():
        base = {**BASELINE.get(key, {}), **ADDED.get(key, {})}
        diff = {k: v for k, v in values.items() if k not in base or _plain(base[k]) != _plain(v)}
        out[section] = diff if name is None else {"name": name, **diff}
    return _digest(out)


def legacy_config_hash(cfg: DictConfig | RunConfig) -> str:
    """The config hash before the baseline rule: sha256 over every validated value minus :data:`HASH_EXCLUDED`.

    Kept so checkpoints written before :func:`config_hash` changed still resume (the
    checkpoint check accepts either hash). Keys added since (:data:`qjax.config_baseline.ADDED`)
    are left out while they hold their old-behaviour value, as they did not exist then.
    """
    run = _as_run(cfg)
    payload = _hashed_values(run)
    for key, (section, _name, values) in _sections(dict(payload)).items():
        known = BASELINE.get(key, {})
        for dotted, old in ADDED.get(key, {}).items():
            if dotted in known or dotted not in values or _plain(values[dotted]) != _plain(old):
                continue
            *parents, leaf = dotted.split(".")
            node = payload if section == "globals" else payload[section]
            for part in parents:
                node = node[part]
            node.pop(leaf, None)
    return _digest(payload)


def default_checkpoint_dir(cfg: DictConfig | RunConfig, root: Optional[str] = None) -> str:
    """``<root>/<experiment>-<problem.name>-<config hash>``, absolute.

    ``root`` defaults to ``checkpoint.root`` (itself defaulting to ``<launch dir>/checkpoints``).
    When that directory does not exist but the one named by :func:`legacy_config_hash` does
    (a run checkpointed before the baseline hash), that one is returned, so the run resumes.
    """
    run = _as_run(cfg)
    root = _absolute(root if root is not None else (run.checkpoint.root or "checkpoints"))
    prefix = os.path.join(root, f"{run.experiment}-{run.problem.name}-")
    current = prefix + config_hash(run)
    if not os.path.exists(current):
        legacy = prefix + legacy_config_hash(run)
        if os.path.isdir(legacy):
            return legacy
    return current


def _redact(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _redact(v) for k, v in node.items() if not _is_secret(k)}
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
