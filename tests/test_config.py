"""Tests of conf/ and qjax.config: every config file composes and validates, bad
values are refused with a message naming the key, and the config hash covers
exactly what changes a run's result."""

import dataclasses
import os
import re
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import qjax.schemas as qs
from qjax.config import OPTIONAL_SECTIONS, config_hash, default_checkpoint_dir, to_container, validate
from qjax.schemas import AdamConfig, HEAConfig, RunConfig
from qjax.errors import ConfigError

from config_files import CONF, config_files, overrides_for


@pytest.fixture(scope="module")
def hydra_ctx():
    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        yield


def _compose(*overrides: str):
    return compose(config_name="config", overrides=["+experiment=vqe", *overrides])


def test_conf_is_a_package_with_every_group_dir():
    import qjax.conf

    assert Path(next(iter(qjax.conf.__path__))).resolve() == CONF
    for group_dir in (p for p in CONF.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert (group_dir / "__init__.py").exists(), f"{group_dir} needs an empty __init__.py to ship in the wheel"
        assert resources.files(f"qjax.conf.{group_dir.name}").is_dir()


def test_every_group_dir_is_a_package_in_pyproject():
    text = (CONF.parent / "pyproject.toml").read_text()
    for group_dir in (p for p in CONF.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert f'"qjax.conf.{group_dir.name}"' in text, f"add qjax.conf.{group_dir.name} to pyproject packages"


def test_defaults_compose_and_require_an_experiment(hydra_ctx):
    cfg = compose(config_name="config")
    assert cfg.experiment is None and "logger" not in cfg and "hparams_search" not in cfg
    with pytest.raises(ConfigError, match=r"^no experiment selected; add \+experiment=vqe$"):
        validate(cfg)


@pytest.mark.parametrize("group,option", config_files())
def test_every_config_file_composes_and_validates(hydra_ctx, group, option):
    cfg = compose(config_name="config", overrides=overrides_for(group, option))
    run = validate(cfg)
    assert isinstance(run, RunConfig)
    if group == "experiment":
        assert run.experiment == option
    elif group == "ansatz" and option.startswith("for_"):  # a problem's default: extends a template's file
        assert run.ansatz.name in qs.SCHEMAS["ansatz"]
    elif group in qs.SCHEMAS:
        section = run.extras[group] if group in OPTIONAL_SECTIONS else getattr(run, group)
        assert section.name == option
        assert isinstance(section, qs.SCHEMAS[group][option])


def test_vqe_defaults(hydra_ctx):
    run = validate(_compose())
    assert (run.experiment, run.problem.name, run.ansatz.name) == ("vqe", "h2", "ucc")
    assert isinstance(run.optimizer, AdamConfig) and run.optimizer.lr == 0.1
    assert run.trainer.steps == 60 and run.precision == "single" and run.gradient == "auto"
    assert os.path.isabs(run.checkpoint.dir) and os.path.isabs(run.checkpoint.root)
    assert run.checkpoint.dir == default_checkpoint_dir(run)


@pytest.mark.parametrize("problem, ansatz", [("h2", "ucc"), ("lih", "ucc"), ("tfim", "hea"), ("maxcut", "qaoa")])
def test_each_problem_brings_its_natural_ansatz(hydra_ctx, problem, ansatz):
    assert validate(_compose(f"problem={problem}")).ansatz.name == ansatz
    assert validate(_compose(f"problem={problem}", "ansatz=hea")).ansatz.name == "hea"


def test_command_line_beats_experiment_overrides(hydra_ctx):
    run = validate(_compose("problem=tfim", "ansatz=hea", "trainer.steps=7", "gradient=backprop"))
    assert (run.problem.name, run.ansatz.name, run.trainer.steps, run.gradient) == ("tfim", "hea", 7, "backprop")


def test_hea_rotations_are_a_tuple(hydra_ctx):
    run = validate(_compose("ansatz=hea", "ansatz.rotations=[RX,RY,RZ]"))
    assert isinstance(run.ansatz, HEAConfig) and run.ansatz.rotations == ("RX", "RY", "RZ")
    hash(run)  # frozen all the way down


BAD = [
    ("trainer.steps=-3", r"^trainer\.steps=-3 is invalid: must be an integer in 1\.\.2147483647 \(e\.g\. trainer\.steps=100\)$"),
    ("trainer.steps=0", r"^trainer\.steps=0 is invalid"),
    ("trainer.steps=1.5", r"^trainer\.steps=1\.5 is invalid: must be an integer"),
    ("trainer.tol=-1", r"^trainer\.tol=-1\.0 is invalid"),
    ("checkpoint.every=0", r"^checkpoint\.every=0 is invalid: must be null .* or an integer in 1\.\."),
    ("checkpoint.keep=1", r"^checkpoint\.keep=1 is invalid: must be an integer in 2\.\."),
    ("checkpoint.resume=maybe", r"^checkpoint\.resume='maybe' is invalid: must be one of auto, never, must"),
    ("problem.bond_length=0", r"^problem\.bond_length=0\.0 is invalid: must be a float in 0\.2\.\.5\.0 \(ångström\)"),
    ("problem.bond_length=-0.5", r"^problem\.bond_length=-0\.5 is invalid"),
    ("problem.basis=foo", r"^problem\.basis='foo' is invalid"),
    ("optimizer.lr=abc", r"^optimizer\.lr='abc' is invalid: must be a float in \(0, 100\]"),
    ("optimizer.lr=0", r"^optimizer\.lr=0\.0 is invalid: must be a float in \(0, 100\]"),
    ("optimizer.lr=-0.1", r"^optimizer\.lr=-0\.1 is invalid"),
    ("optimizer.b1=1.5", r"^optimizer\.b1=1\.5 is invalid"),
    ("optimizer.nesterov=maybe", r"^optimizer\.nesterov='maybe' is invalid: must be true or false"),
    ("optimizer.name=foo", r"^optimizer\.name='foo' is invalid: must be one of adam, adamw, rmsprop, sgd"),
    ("+optimizer.momentum=0.9", r"^optimizer\.momentum is not a key of optimizer=adam .*pick optimizer=rmsprop\|sgd"),
    ("backend.shots=0", r"^backend\.shots=0 is invalid: must be null \(exact\) or an integer in 1\.\.10000000"),
    ("backend.shots=-5", r"^backend\.shots=-5 is invalid"),
    ("backend.shots=many", r"^backend\.shots='many' is invalid"),
    ("backend.name=quantum_cloud", r"^backend\.name='quantum_cloud' is invalid: must be one of .*simulator"),
    ("precision=quad", r"^precision='quad' is invalid: must be single or double"),
    ("gradient=finite_diff", r"^gradient='finite_diff' is invalid: must be one of auto, backprop, adjoint"),
    ("seed=-1", r"^seed=-1 is invalid"),
    ("seed=abc", r"^seed='abc' is invalid: must be an integer"),
    ("mitigation.name=zne_nonexistent", r"^mitigation\.name='zne_nonexistent' is invalid: must be one of .*none"),
    ("+trainer.epochs=3", r"^trainer\.epochs is not a key of trainer"),
    ("+foo=1", r"^foo is not a known config key"),
    ("schedule=cosine schedule.alpha=2", r"^schedule\.alpha=2\.0 is invalid"),
    ("schedule=cosine schedule.decay_steps=0", r"^schedule\.decay_steps=0 is invalid"),
    ("schedule=exponential schedule.transition_steps=0", r"^schedule\.transition_steps=0 is invalid"),
    ("schedule=warmup_cosine schedule.warmup_steps=80", r"^schedule\.warmup_steps=80 is invalid: must be < "),
    ("problem=tfim ansatz=hea problem.n=1", r"^problem\.n=1 is invalid: must be an integer in 2\.\.40"),
    ("problem=tfim ansatz=ucc", r"^ansatz=ucc needs a molecular problem"),
    ("ansatz=hea ansatz.layers=0", r"^ansatz\.layers=0 is invalid"),
    ("ansatz=hea ansatz.rotations=[RY,CZ]", r"^ansatz\.rotations=\['RY','CZ'\] is invalid: must be a list of 1\.\.16 of"),
    ("ansatz=hea ansatz.rotations=[]", r"^ansatz\.rotations=\[\] is invalid"),
    ("ansatz=hea ansatz.entangler=star", r"^ansatz\.entangler='star' is invalid: must be chain or ring"),
    ("ansatz=hea ansatz.init=ones", r"^ansatz\.init='ones' is invalid"),
    ("problem.bond_length=???", r"problem\.bond_length is missing"),
    ("problem=maxcut ansatz=hea problem.n=1", r"^problem\.n=1 is invalid: must be an integer in 2\.\.26"),
    ("problem=maxcut ansatz=hea problem.edges=5", r"^problem\.edges=5 is invalid: must be null or a list of"),
    ("problem=maxcut ansatz=hea problem.samples=0", r"^problem\.samples=0 is invalid"),
    ("problem=h2 ansatz=qaoa", r"^ansatz=qaoa needs problem=maxcut, not problem=h2"),
    ("problem=maxcut ansatz=qaoa ansatz.p=0", r"^ansatz\.p=0 is invalid: must be an integer in 1\.\."),
    ("problem=maxcut ansatz=qaoa ansatz.init=linear", r"^ansatz\.init='linear' is invalid: must be ramp, random"),
    ("problem=lih problem.active_orbitals=9", r"^problem\.active_orbitals=9 is invalid"),
    ("problem=lih problem.basis=6-31g", r"^problem\.basis='6-31g' is invalid"),
    ("mitigation=zne mitigation.zne.noise_factors=[1,3]",
     r"^mitigation\.zne\.extrapolator=exponential fits 3 or more noise factors, but mitigation\.zne\.noise_factors has 2"),
    ("mitigation=zne mitigation.zne.extrapolator=polynomial_degree_3", r"fits 4 or more noise factors"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[b[0] for b in BAD])
def test_bad_values_are_refused_naming_the_key(hydra_ctx, overrides, message):
    cfg = _compose(*overrides.split())
    with pytest.raises(ConfigError, match=message) as info:
        validate(cfg)
    text = str(info.value)
    assert "\n" not in text and len(text) < 250


def test_experiment_must_have_an_overlay(hydra_ctx):
    cfg = _compose()
    cfg.experiment = "qaoa_nonexistent"  # Hydra refuses the overlay itself; the plain key can still be set
    with pytest.raises(ConfigError, match=r"^experiment='qaoa_nonexistent' is invalid: must be one of .*vqe"):
        validate(cfg)


def test_validate_accepts_a_plain_mapping(hydra_ctx):
    plain = OmegaConf.to_container(_compose())
    assert validate(plain) == validate(_compose())


def test_hash_is_stable_and_short(hydra_ctx):
    h = config_hash(_compose())
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    assert config_hash(_compose()) == h == config_hash(validate(_compose()))


@pytest.mark.parametrize("change", [
    "trainer.steps=500", "trainer.log_every=1", "checkpoint.every=1", "checkpoint.keep=9",
    "checkpoint.resume=never", "checkpoint.dir=/tmp/elsewhere", "checkpoint.root=/tmp/root", "backend.max_qubits=20",
    "+logger.name=mlflow", "budget.max_shots=1000",
])
def test_hash_ignores_what_does_not_change_the_result(hydra_ctx, change):
    assert config_hash(_compose(change)) == config_hash(_compose())


@pytest.mark.parametrize("change", [
    "optimizer.lr=0.05", "optimizer.lr=0.1000001", "optimizer=sgd", "optimizer.b2=0.99", "seed=1",
    "problem.bond_length=0.8", "precision=double", "gradient=parameter_shift", "backend.shots=1000",
    "schedule=cosine", "trainer.tol=1e-6", "ansatz.init=random",
])
def test_hash_changes_with_what_changes_the_result(hydra_ctx, change):
    assert config_hash(_compose(change)) != config_hash(_compose())


def test_hash_normalises_values(hydra_ctx):
    assert config_hash(_compose("optimizer.lr=1")) == config_hash(_compose("optimizer.lr=1.0"))
    # decay_steps null stands for trainer.steps, so changing steps changes the schedule.
    cosine = config_hash(_compose("schedule=cosine"))
    assert config_hash(_compose("schedule=cosine", "schedule.decay_steps=60")) == cosine
    assert config_hash(_compose("schedule=cosine", "trainer.steps=100")) != cosine
    assert config_hash(_compose("schedule=cosine", "schedule.decay_steps=60", "trainer.steps=100")) == cosine


def test_default_checkpoint_dir(hydra_ctx, tmp_path):
    cfg = _compose()
    path = default_checkpoint_dir(cfg, str(tmp_path))
    assert path == str(tmp_path / f"vqe-h2-{config_hash(cfg)}")
    assert default_checkpoint_dir(cfg) == os.path.join(os.getcwd(), "checkpoints", f"vqe-h2-{config_hash(cfg)}")
    assert default_checkpoint_dir(_compose("trainer.steps=5")) == default_checkpoint_dir(cfg)
    run = validate(_compose("checkpoint.dir=relative/ck"))
    assert run.checkpoint.dir == os.path.join(os.getcwd(), "relative", "ck")


def test_to_container_drops_secrets_and_hydra(hydra_ctx):
    cfg = compose(config_name="config", overrides=["+experiment=vqe", "+backend.token=SECRET", "+logger.api_key=K",
                                                   "+logger.nested.password=P", "+logger.url=http://x"],
                  return_hydra_config=True)
    data = to_container(cfg)
    assert "hydra" not in data and data["logger"] == {"url": "http://x", "nested": {}}
    assert "SECRET" not in repr(data) and "token" not in data["backend"]
    run = validate(_compose())
    saved = to_container(run)
    assert saved["optimizer"]["lr"] == 0.1 and "extras" not in saved
    assert OmegaConf.create(saved)  # YAML/JSON-able plain containers


def test_registering_an_option_is_one_dataclass(hydra_ctx, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class ZNE(qs.MitigationConfig):
        noise_factors: tuple[int, ...] = (1, 3, 5)

    monkeypatch.setitem(qs.SCHEMAS["mitigation"], "zne", ZNE)
    run = validate(_compose("mitigation.name=zne", "+mitigation.noise_factors=[1,2]"))
    assert run.mitigation == ZNE(name="zne", noise_factors=(1, 2))


@pytest.mark.parametrize("overrides, every", [
    ((), 10), (("backend=ibm_fake",), 1), (("backend=ibm",), 1), (("backend=ibm_fake", "checkpoint.every=5"), 5),
])
def test_hardware_checkpoints_every_step_unless_told(hydra_ctx, overrides, every):
    assert validate(_compose(*overrides)).checkpoint.every == every


@pytest.mark.parametrize("change", [
    "backend.retries=9", "backend.timeout_s=5", "backend.fallback=[simulator]", "backend.poll_s=1",
    "backend.backoff_s=0", "budget.max_jobs=3",
])
def test_hash_of_a_hardware_run_ignores_job_control(hydra_ctx, change):
    base = ("backend=ibm_fake",)
    assert config_hash(_compose(*base, change)) == config_hash(_compose(*base))


@pytest.mark.parametrize("override", ["+backend.token=abc", "+backend.api_key=x", "+problem.password=y"])
def test_credentials_in_the_config_are_refused(hydra_ctx, override):
    with pytest.raises(ConfigError, match="QISKIT_IBM_TOKEN"):
        validate(_compose(override))


def test_qaoa_experiment_needs_a_graph(hydra_ctx):
    cfg = compose(config_name="config", overrides=["+experiment=qaoa", "problem=h2", "ansatz=ucc"])
    with pytest.raises(ConfigError, match=r"^\+experiment=qaoa solves MaxCut, not problem=h2"):
        validate(cfg)
