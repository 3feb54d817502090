"""Property-based tests of qjax.config.validate: whatever value lands on whatever known key, validation
returns a RunConfig inside every documented range or refuses with one ConfigError line naming the key,
never any other exception."""

import dataclasses
import math

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import qjax.schemas as qs  # noqa: E402
from qjax.config import validate  # noqa: E402
from qjax.errors import ConfigError  # noqa: E402
from qjax.resources import preflight  # noqa: E402
from qjax.schemas import FIXED_GROUPS, SCHEMAS, Globals, RunConfig  # noqa: E402

# Runnable starting points, one per experiment and backend family.
BASES = [
    ["+experiment=vqe"],
    ["+experiment=vqe", "problem=lih"],
    ["+experiment=vqe", "problem=tfim"],
    ["+experiment=vqe", "problem=tfim", "ansatz=hea", "backend=noisy_simulator", "mitigation=zne"],
    ["+experiment=vqe", "backend=ibm_fake", "mitigation=best", "problem=tfim", "problem.n=2"],
    ["+experiment=vqe", "backend=remote", "schedule=warmup_cosine"],
    ["+experiment=qaoa", "schedule=exponential", "optimizer=sgd"],
    ["+experiment=classifier", "problem=moons"],
    ["+experiment=classifier", "problem=breast_cancer", "optimizer=rmsprop", "schedule=cosine"],
]

# Values that broke libraries underneath before they were range-checked, plus the usual suspects.
EDGE_VALUES = [
    0,
    1,
    -1,
    2,
    26,
    27,
    40,
    41,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**63,
    2**64,
    10**23,
    -(10**23),
    0.0,
    -0.0,
    1e-12,
    0.2,
    5.0,
    5.01,
    1e308,
    -1e308,
    5e-324,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
    None,
    "",
    "abc",
    "1e3",
    "${oc.env:HOME}",
    "???",
    [],
    [1],
    [1, 3, 5],
    [1, 1000000],
    [[0, 1]],
    [[0, 0]],
    [[0, 1000000]],
    [[0, 1, math.nan]],
    {},
    {"a": 1},
    {"token": "SECRET"},
    # option names, so a draw may switch a group to another option or a key to another's value
    *sorted({name for options in SCHEMAS.values() for name in options}),
    "RY",
    "RX",
    "chain",
    "ring",
    "zeros",
    "random",
    "ramp",
    "auto",
    "adjoint",
    "backprop",
    "double",
    "single",
]

scalars = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _known_keys() -> list[str]:
    """Every dotted key some schema has (nested settings included), and the top-level keys."""
    keys = {f.name for f in dataclasses.fields(Globals)}

    def walk(prefix: str, cls: type) -> None:
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type):
                walk(f"{prefix}{f.name}.", f.type)
            else:
                keys.add(prefix + f.name)

    for group, options in SCHEMAS.items():
        if group in ("logger", "hparams_search"):
            continue
        for cls in options.values():
            walk(f"{group}.", cls)
    for group, cls in FIXED_GROUPS.items():
        walk(f"{group}.", cls)
    return sorted(keys)


KEYS = _known_keys()


@pytest.fixture(scope="module")
def bases():
    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        return [OmegaConf.to_container(compose(config_name="config", overrides=b)) for b in BASES]


def _assign(config: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    node = config
    for name in parents:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[leaf] = value


def _fields_in_range(obj, prefix: str = "") -> None:
    """Every field of a validated (nested) schema instance passes its own documented range check."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _fields_in_range(value, f"{prefix}{f.name}.")
            continue
        check = f.metadata.get("ok")
        if check is not None:
            assert check(value), f"{prefix}{f.name}={value!r} is outside '{f.metadata['expected']}'"
        if isinstance(value, float):
            assert math.isfinite(value), f"{prefix}{f.name}={value!r}"


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validate_returns_a_config_in_range_or_refuses_naming_the_key(bases, data):
    base = data.draw(st.integers(0, len(bases) - 1), label="base")
    config = OmegaConf.to_container(OmegaConf.create(bases[base]))  # a fresh copy
    changed = data.draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True), label="keys")
    for key in changed:
        _assign(config, key, data.draw(values, label=key))
    try:
        run = validate(config)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message, message
        named = {part for key in changed for part in key.split(".")}
        assert any(word in message for word in named), f"{message!r} names none of {changed}"
        return
    assert isinstance(run, RunConfig)
    for group in (
        "backend",
        "optimizer",
        "schedule",
        "problem",
        "ansatz",
        "mitigation",
        "trainer",
        "checkpoint",
        "budget",
    ):
        _fields_in_range(getattr(run, group), f"{group}.")
    assert 0 <= run.seed <= qs.SEED_MAX and run.precision in qs.PRECISIONS and run.gradient in qs.GRADIENTS
    preflight(run, available=2**70)  # every valid config has a memory estimate (or none), never a crash
    try:
        preflight(run, available=1)
    except ConfigError as exc:
        assert "\n" not in str(exc) and "needs about" in str(exc)


@settings(max_examples=150, deadline=None)
@given(
    key=st.sampled_from(
        [
            k
            for k in KEYS
            if k.split(".")[-1]
            in (
                "seed",
                "seed_simulator",
                "graph_seed",
                "steps",
                "shots",
                "layers",
                "p",
                "n",
                "keep",
                "every",
                "log_every",
                "max_shots",
                "max_jobs",
                "trajectories",
                "samples",
                "n_samples",
                "max_qubits",
                "max_operations",
                "retries",
                "num_randomizations",
                "decay_steps",
                "transition_steps",
                "warmup_steps",
                "patience",
                "degree",
                "wires",
                "pca",
            )
        ]
    ),
    value=st.integers(min_value=-(2**80), max_value=2**80),
)
def test_every_integer_size_is_bounded_on_both_sides(bases, key, value):
    """No integer size or seed is accepted outside what the libraries underneath can hold."""
    config = OmegaConf.to_container(OmegaConf.create(bases[0]))
    if key.startswith(("problem.", "ansatz.", "backend.", "mitigation.", "schedule.", "optimizer.")):
        group, option = key.split(".")[0], None
        for b in bases:
            cls = SCHEMAS.get(group, {}).get(b[group].get("name"))
            if cls is not None and key.split(".")[1] in {f.name for f in dataclasses.fields(cls)}:
                config = OmegaConf.to_container(OmegaConf.create(b))
                option = b[group]["name"]
                break
        if option is None:
            return  # no base has this key (e.g. an option's setting that needs another base)
    _assign(config, key, value)
    try:
        run = validate(config)
    except ConfigError as exc:
        assert key.split(".")[-1] in str(exc) or key.split(".")[0] in str(exc)
        return
    node = run
    for part in key.split("."):
        node = getattr(node, part)
    assert 0 <= node <= 2**53  # every accepted size is one a C integer and a float hold exactly
