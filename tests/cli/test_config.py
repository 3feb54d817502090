"""Tests of conf/ and qjax.config: every config file composes and validates, bad
values are refused with a message naming the key, and the config hash covers
exactly what changes a run's result."""

import dataclasses
import os
import re
from importlib import resources
from pathlib import Path

import pytest
from config_files import CONF, config_files, overrides_for
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import qjax.schemas as qs
from qjax.config import OPTIONAL_SECTIONS, config_hash, default_checkpoint_dir, to_container, validate
from qjax.errors import ConfigError
from qjax.schemas import AdamConfig, HEAConfig, RunConfig


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
    elif (group, option) == ("mitigation", "auto"):  # resolved by the backend (qjax.hardware_defaults)
        assert run.mitigation.name in ("none", qs.HARDWARE_MITIGATION)
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
    (
        "trainer.steps=-3",
        r"^trainer\.steps=-3 is invalid: must be an integer in 1\.\.2147483647 \(e\.g\. trainer\.steps=100\)$",
    ),
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
    ("problem=tfim ansatz=hea problem.n=1", r"^problem\.n=1 is invalid: must be an integer in 2\.\.156"),
    ("problem=tfim ansatz=ucc", r"^ansatz=ucc needs a molecular problem"),
    ("ansatz=hea ansatz.layers=0", r"^ansatz\.layers=0 is invalid"),
    (
        "ansatz=hea ansatz.rotations=[RY,CZ]",
        r"^ansatz\.rotations=\['RY','CZ'\] is invalid: must be a list of 1\.\.16 of",
    ),
    ("ansatz=hea ansatz.rotations=[]", r"^ansatz\.rotations=\[\] is invalid"),
    ("ansatz=hea ansatz.entangler=star", r"^ansatz\.entangler='star' is invalid: must be chain, ring or device"),
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
    (
        "mitigation=zne mitigation.zne.noise_factors=[1,3]",
        r"^mitigation\.zne\.extrapolator=exponential fits 3 or more noise factors, but mitigation\.zne\.noise_factors has 2",
    ),
    ("mitigation=zne mitigation.zne.extrapolator=polynomial_degree_3", r"fits 4 or more noise factors"),
]


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


@pytest.mark.parametrize(
    "change",
    [
        "optimizer.lr=0.05",
        "optimizer.lr=0.1000001",
        "optimizer=sgd",
        "optimizer.b2=0.99",
        "seed=1",
        "problem.bond_length=0.8",
        "precision=double",
        "gradient=parameter_shift",
        "backend.shots=1000",
        "schedule=cosine",
        "trainer.tol=1e-6",
        "ansatz.init=random",
    ],
)
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
    cfg = compose(
        config_name="config",
        overrides=[
            "+experiment=vqe",
            "+backend.token=SECRET",
            "+logger.api_key=K",
            "+logger.nested.password=P",
            "+logger.url=http://x",
        ],
        return_hydra_config=True,
    )
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


@pytest.mark.parametrize(
    "overrides, every",
    [
        ((), 10),
        (("backend=ibm_fake",), 1),
        (("backend=ibm",), 1),
        (("backend=ibm_fake", "checkpoint.every=5"), 5),
    ],
)
def test_hardware_checkpoints_every_step_unless_told(hydra_ctx, overrides, every):
    assert validate(_compose(*overrides)).checkpoint.every == every


@pytest.mark.parametrize(
    "change",
    [
        "backend.retries=9",
        "backend.timeout_s=5",
        "backend.fallback=[simulator]",
        "backend.poll_s=1",
        "backend.backoff_s=0",
        "budget.max_jobs=3",
    ],
)
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


# --- hostile values: each refused at validation with one line naming the key -------------------

HOSTILE = [
    ("problem.bond_length=1e-12", r"^problem\.bond_length=1e-12 is invalid: must be a float in 0\.2\.\.5\.0"),
    ("problem.bond_length=5.01", r"^problem\.bond_length=5\.01 is invalid"),
    ("problem.bond_length=inf", r"^problem\.bond_length=inf is invalid"),
    ("problem=lih problem.bond_length=0.01", r"^problem\.bond_length=0\.01 is invalid"),
    ("problem=lih problem.active_electrons=3", r"^problem\.active_electrons=3 is invalid: must be 2 or 4"),
    (
        "problem=lih problem.active_orbitals=6",
        r"^problem\.active_orbitals=6 with problem\.active_electrons=2 is "
        r"invalid: LiH needs 2\.\.5",
    ),
    (
        "seed=99999999999999999999999",
        r"^seed=99999999999999999999999 is invalid: must be an integer in "
        r"0\.\.4294967295",
    ),
    ("seed=4294967296", r"^seed=4294967296 is invalid"),
    ("backend=ibm_fake backend.seed_simulator=18446744073709551616", r"^backend\.seed_simulator=18446744073709551616 "),
    (
        "experiment=qaoa problem=maxcut ansatz=qaoa problem.graph_seed=99999999999999999999999",
        r"^problem\.graph_seed=99999999999999999999999 is invalid",
    ),
    ("experiment=classifier problem=iris ansatz=reupload problem.seed=-1", r"^problem\.seed=-1 is invalid"),
    (
        "problem=tfim ansatz=hea problem.n=27",
        r"^problem\.n=27 needs 27 qubits, more than backend\.max_qubits=26 "
        r"allows on backend=simulator; lower problem\.n",
    ),
    ("problem=tfim ansatz=hea problem.n=40", r"^problem\.n=40 needs 40 qubits, more than backend\.max_qubits=26"),
    ("problem=tfim ansatz=hea problem.n=157", r"^problem\.n=157 is invalid: must be an integer in 2\.\.156"),
    (
        "problem=tfim ansatz=hea backend=noisy_simulator problem.n=21",
        r"^problem\.n=21 needs 21 qubits, more than "
        r"backend\.max_qubits=20",
    ),
    ("problem.basis=cc-pvdz backend.max_qubits=12", r"^problem\.basis=cc-pvdz needs 20 qubits"),
    ("problem=tfim ansatz=hea problem.J=nan", r"^problem\.J=nan is invalid: must be a float in -1e\+06\.\.1e\+06"),
    ("problem=tfim ansatz=hea problem.h=-inf", r"^problem\.h=-inf is invalid"),
    (
        "ansatz=hea ansatz.layers=100000",
        r"^ansatz\.layers=100000 expands to at least 800,000 gates on 4 qubits, more "
        r"than backend\.max_operations=20000 allows; lower ansatz\.layers \(at most "
        r"2500 fit here\)",
    ),
    ("backend=ibm_fake ansatz=hea ansatz.layers=100000", r"^ansatz\.layers=100000 expands to at least"),
    ("problem=tfim ansatz=hea ansatz.layers=50000", r"^ansatz\.layers=50000 expands to at least 600,000 gates"),
    ("ansatz=hea ansatz.layers=10000000", r"^ansatz\.layers=10000000 is invalid: must be an integer in 1\.\.200000"),
    (
        "ansatz=hea ansatz.rotations=[RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY,RY]",
        r"^ansatz\.rotations=.* is "
        r"invalid: must be a list of "
        r"1\.\.16",
    ),
    ("ansatz=hea ansatz.init_scale=inf", r"^ansatz\.init_scale=inf is invalid: must be a float in \[0, 100\]"),
    ("experiment=qaoa problem=maxcut ansatz=qaoa ansatz.p=100000", r"^ansatz\.p=100000 expands to at least"),
    ("experiment=qaoa problem=maxcut ansatz=qaoa ansatz.ramp_gamma=1e300", r"^ansatz\.ramp_gamma=1e\+300 is invalid"),
    ("experiment=classifier problem=iris ansatz=reupload ansatz.layers=1000000", r"^ansatz\.layers=1000000 is invalid"),
    ("experiment=classifier problem=iris ansatz=reupload ansatz.wires=157", r"^ansatz\.wires=157 is invalid"),
    ("experiment=classifier problem=iris ansatz=reupload ansatz.wires=27", r"^ansatz\.wires=27 needs 27 qubits"),
    (
        "experiment=classifier problem=breast_cancer ansatz=reupload problem.pca=30",
        r"^problem\.pca=30 needs 30 qubits, more than backend\.max_qubits=26",
    ),
    (
        "experiment=classifier problem=moons ansatz=reupload problem.n_samples=10000000000",
        r"^problem\.n_samples=10000000000 is invalid: must be an integer in 10\.\.100000",
    ),
    (
        "experiment=classifier problem=iris ansatz=reupload problem.test_size=0.999",
        r"^problem\.test_size=0\.999 leaves fewer training samples than the 3 classes",
    ),
    (
        "experiment=qaoa problem=maxcut ansatz=qaoa problem.edges=[[0,1000000]]",
        r"^problem\.edges=\[\[0,1000000\]\] is "
        r"invalid: .*nodes i ≠ j in 0\.\.25",
    ),
    ("experiment=qaoa problem=maxcut ansatz=qaoa problem.edges=[[0,1,nan]]", r"^problem\.edges=.* is invalid"),
    (
        "experiment=qaoa problem=maxcut ansatz=qaoa problem.edges=[[0,1],[1,0]]",
        r"^problem\.edges=.* is invalid: must "
        r"be null or a list of distinct",
    ),
    ("experiment=qaoa problem=maxcut ansatz=qaoa problem.edges=[[0,1,abc]]", r"^problem\.edges=.* is invalid"),
    ("experiment=qaoa problem=maxcut ansatz=qaoa problem.degree=100", r"^problem\.degree=100 is invalid"),
    (
        "experiment=qaoa problem=maxcut ansatz=qaoa problem.degree=3 problem.n=7",
        r"^problem\.degree=3 with "
        r"problem\.n=7 is invalid",
    ),
    (
        "experiment=qaoa problem=maxcut ansatz=qaoa problem.samples=1000000000000",
        r"^problem\.samples=1000000000000 "
        r"is invalid: must be an integer in "
        r"1\.\.1000000",
    ),
    (
        "backend=ibm_fake backend.shots=10000000000000",
        r"^backend\.shots=10000000000000 is invalid: must be an integer "
        r"in 1\.\.10000000",
    ),
    ("backend=noisy_simulator backend.shots=10000001", r"^backend\.shots=10000001 is invalid"),
    ("backend=noisy_simulator backend.trajectories=1000000000", r"^backend\.trajectories=1000000000 is invalid"),
    ("backend=noisy_simulator backend.noise.t1=inf", r"^backend\.noise\.t1=inf is invalid"),
    (
        "backend=ibm_fake mitigation=zne mitigation.zne.noise_factors=[1,1000000,2000000]",
        r"^mitigation\.zne\.noise_factors=\[1\.0,1000000\.0,2000000\.0\] is invalid: must be a list of 2\.\.8 increasing "
        r"floats starting at 1, each at most 15",
    ),
    (
        "mitigation=zne mitigation.zne.noise_factors=[1,2,3,4,5,6,7,8,9]",
        r"^mitigation\.zne\.noise_factors=.* is invalid",
    ),
    (
        "backend=ibm_fake mitigation=twirling mitigation.twirling.num_randomizations=1000000000",
        r"^mitigation\.twirling\.num_randomizations=1000000000 is invalid",
    ),
    ("backend=ibm_fake backend.timeout_s=inf", r"^backend\.timeout_s=inf is invalid: must be a float in \(0, 604800\]"),
    ("backend=ibm_fake backend.retries=100000000000000000000", r"^backend\.retries=100000000000000000000 is invalid"),
    ("backend=ibm_fake backend.backoff_s=nan", r"^backend\.backoff_s=nan is invalid"),
    ("backend.max_qubits=0", r"^backend\.max_qubits=0 is invalid: must be an integer in 1\.\.156"),
    ("backend.max_operations=0", r"^backend\.max_operations=0 is invalid"),
    (
        "trainer.steps=1000000000000",
        r"^trainer\.steps=1000000000000 is invalid: must be an integer in "
        r"1\.\.2147483647",
    ),
    (
        "trainer.log_every=1000000000000000000000000000000",
        r"^trainer\.log_every=1000000000000000000000000000000 is "
        r"invalid",
    ),
    ("trainer.tol=inf", r"^trainer\.tol=inf is invalid: must be a finite float ≥ 0"),
    ("trainer.patience=100000000000000000000", r"^trainer\.patience=100000000000000000000 is invalid"),
    ("checkpoint.keep=100000000000", r"^checkpoint\.keep=100000000000 is invalid"),
    ("checkpoint.every=100000000000000000000", r"^checkpoint\.every=100000000000000000000 is invalid"),
    (
        "budget.max_shots=1000000000000000000000000000000",
        r"^budget\.max_shots=1000000000000000000000000000000 is "
        r"invalid",
    ),
    ("budget.max_qpu_seconds=inf", r"^budget\.max_qpu_seconds=inf is invalid: must be null \(no limit\) or a finite"),
    ("optimizer.lr=inf", r"^optimizer\.lr=inf is invalid: must be a float in \(0, 100\]"),
    ("optimizer.lr=1e308", r"^optimizer\.lr=1e\+308 is invalid"),
    ("optimizer.eps=inf", r"^optimizer\.eps=inf is invalid"),
    (
        "schedule=cosine schedule.decay_steps=100000000000000000000",
        r"^schedule\.decay_steps=100000000000000000000 is "
        r"invalid",
    ),
    (
        "schedule=exponential schedule.transition_steps=100000000000000000000",
        r"^schedule\.transition_steps=100000000000000000000 is invalid",
    ),
    ("schedule=exponential schedule.decay_rate=inf", r"^schedule\.decay_rate=inf is invalid"),
]


# BAD: mistakes a user makes; HOSTILE: sizes and values that used to crash, hang or give nonsense.
@pytest.mark.parametrize("overrides,message", BAD + HOSTILE, ids=[c[0] for c in BAD + HOSTILE])
def test_bad_and_hostile_values_are_refused_naming_the_key(hydra_ctx, overrides, message):
    cfg = _compose(*overrides.split())
    with pytest.raises(ConfigError, match=message) as info:
        validate(cfg)
    text = str(info.value)
    assert "\n" not in text and len(text) < 300


@pytest.mark.parametrize(
    "overrides",
    [
        # every geometry and size the README and conf/ use stays valid
        "problem.bond_length=0.5",
        "problem.bond_length=1.5",
        "problem.bond_length=2.0",
        "problem.bond_length=0.2",
        "problem.bond_length=5.0",
        "problem=lih problem.bond_length=3.0",
        "problem=lih problem.bond_length=0.9",
        "problem=tfim ansatz=hea problem.n=12 trainer.steps=400",
        "problem=tfim ansatz=hea problem.n=26",
        "problem=tfim ansatz=hea ansatz.layers=3",
        "experiment=qaoa problem=maxcut ansatz=qaoa problem.graph_seed=1 ansatz.p=4",
        "experiment=classifier problem=moons ansatz=reupload ansatz.layers=4",
        "experiment=classifier problem=breast_cancer ansatz=reupload problem.pca=4",
        "backend=ibm_fake mitigation=zne",
        "backend=noisy_simulator backend.device=FakeManilaV2 mitigation=zne",
        "seed=4294967295",
        "backend=ibm_fake backend.seed_simulator=4294967295",
        "backend=ibm_fake backend.shots=10000000",
        "problem=lih problem.active_electrons=4 problem.active_orbitals=6",
        "problem.basis=cc-pvdz",
        "trainer.steps=2147483647",
    ],
)
def test_documented_and_boundary_values_stay_valid(hydra_ctx, overrides):
    assert isinstance(validate(_compose(*overrides.split())), RunConfig)


# --- sizes against the backend, and memory against the machine ---------------------------------


def test_every_backend_refuses_a_circuit_past_its_gate_limit_before_building_it():
    from qjax.backends import make_backend
    from qjax.backends.ibm_fake import IBMFakeBackend
    from qjax.errors import BackendError
    from qjax.ir.ansatze import hardware_efficient
    from qjax.ir.pauli import PauliSum

    circuit, obs = hardware_efficient(3, 20), PauliSum.from_string("Z0")  # 20 · (6 + 2) = 160 gates
    for name in ("simulator", "noisy_simulator"):
        with pytest.raises(
            BackendError,
            match=rf"expands to 160 gates, more than backend\.max_operations=100 allows "
            rf"on backend={name}",
        ):
            make_backend(name, max_operations=100).check(circuit, obs)
        make_backend(name, max_operations=160).check(circuit, obs)

    class NeverTranspiles(IBMFakeBackend):
        def resolve_device(self, num_qubits):  # the device lookup comes after the size check, transpiling later
            raise AssertionError("looked up a device for a circuit past the limit")

    zne = validate_mitigation("zne")
    with pytest.raises(
        BackendError,
        match=r"expands to 1,440 gates \(160 run 9× by ZNE\), more than "
        r"backend\.max_operations=1000",
    ):
        NeverTranspiles(max_operations=1000, mitigation=zne).check(circuit, obs)


def validate_mitigation(name: str):
    from qjax.config import group_config

    return group_config("mitigation", {"name": name})


def test_simulator_refuses_a_circuit_wider_than_max_qubits():
    from qjax.backends import make_backend
    from qjax.errors import BackendError
    from qjax.ir.ansatze import hardware_efficient
    from qjax.ir.pauli import PauliSum

    with pytest.raises(BackendError, match=r"needs 5 qubits but backend=simulator is limited to 4"):
        make_backend("simulator", max_qubits=4).check(hardware_efficient(5, 1), PauliSum.from_string("Z0"))


def test_preflight_refuses_with_the_estimate_and_the_limit(hydra_ctx):
    from qjax.resources import estimate_memory, preflight

    run = validate(_compose("problem=tfim", "ansatz=hea", "problem.n=26"))
    with pytest.raises(
        ConfigError,
        match=r"^problem\.n=26 \(26 qubits\) needs about 512\.0 MiB for the state and "
        r"5\.0 GiB with adjoint gradients, more than the 2\.0 GiB this machine has "
        r"free; lower problem\.n$",
    ):
        preflight(run, available=2 * 2**30)
    preflight(run, available=6 * 2**30)
    double = validate(_compose("problem=tfim", "ansatz=hea", "problem.n=26", "precision=double"))
    assert estimate_memory(double).state == 2 * estimate_memory(run).state
    with pytest.raises(ConfigError, match=r"or use precision=single"):
        preflight(double, available=6 * 2**30)
    backprop = validate(_compose("problem=tfim", "ansatz=hea", "problem.n=24", "gradient=backprop"))
    with pytest.raises(ConfigError, match=r"with backprop gradients \(at least.*or use gradient=adjoint"):
        preflight(backprop, available=2 * 2**30)


def test_preflight_counts_density_matrices_and_the_classifiers_data(hydra_ctx):
    from qjax.resources import estimate_memory, preflight

    noisy = validate(_compose("problem=tfim", "ansatz=hea", "problem.n=12", "backend=noisy_simulator"))
    assert estimate_memory(noisy).state == 4**12 * 8
    with pytest.raises(
        ConfigError,
        match=r"^problem\.n=12 \(12 qubits\) needs about 128\.0 MiB for the density "
        r"matrix .* or use backend\.method=trajectories",
    ):
        preflight(noisy, available=4 * 2**30)
    data = validate(
        _compose(
            "experiment=classifier", "problem=moons", "ansatz=reupload", "ansatz.wires=20", "problem.n_samples=100000"
        )
    )
    with pytest.raises(ConfigError, match=r"^ansatz\.wires=20 .* for each of the 100000 samples at once"):
        preflight(data, available=64 * 2**30)
    fake = validate(_compose("backend=ibm_fake", "problem=tfim", "ansatz=hea", "problem.n=26"))
    with pytest.raises(
        ConfigError,
        match=r"^problem\.n=26 \(26 qubits\) needs about 1\.0 GiB for the state and "
        r"3\.5 GiB in Aer \(complex128\)",
    ):
        preflight(fake, available=2 * 2**30)
    hardware = validate(_compose("backend=ibm"))
    assert estimate_memory(hardware) is None
    preflight(hardware, available=1)  # runs on another machine: nothing to estimate here


def test_available_memory_is_known_on_linux():
    from qjax.resources import available_memory

    free = available_memory()
    assert free is None or free > 0


# --- secrets on the command line and in saved configs ------------------------------------------


@pytest.mark.parametrize(
    "argv, keys",
    [
        (["+backend.token=abc"], ["+backend.token"]),
        (["-m", "+experiment=vqe", "backend=ibm_fake", "+backend.token=abc,def"], ["+backend.token"]),
        (["++logger.api_key=x"], ["++logger.api_key"]),
        (["hydra.job.env_set.QISKIT_IBM_TOKEN=abc"], ["hydra.job.env_set.QISKIT_IBM_TOKEN"]),
        (["+backend={token: abc, shots: 5}"], ["+backend"]),
        (["+logger.nested={'Password': x}"], ["+logger.nested"]),
        (["~backend.secret_key=abc"], ["~backend.secret_key"]),
        (["-m", "--cfg", "job", "+experiment=vqe", "problem.bond_length=0.5,1.0", "--config-dir=/tokens"], []),
        (["backend=ibm", "backend.device=ibm_brisbane", "hydra.run.dir=outputs/x"], []),
    ],
)
def test_secret_overrides_are_found_by_key_never_by_value(argv, keys):
    from qjax.config import secret_overrides

    assert secret_overrides(argv) == keys


def test_refusing_a_secret_override_never_echoes_its_value():
    from qjax.config import refuse_secret_overrides

    with pytest.raises(ConfigError) as info:
        refuse_secret_overrides(["+experiment=vqe", "+backend.token=SECRET123"])
    assert "SECRET123" not in str(info.value) and "+backend.token" in str(info.value)
    assert "QISKIT_IBM_TOKEN" in str(info.value) and "\n" not in str(info.value)


def test_scrub_saved_config_drops_secret_keys_overrides_and_their_values(tmp_path):
    from qjax.config import scrub_saved_config

    path = tmp_path / "multirun.yaml"
    OmegaConf.save(
        OmegaConf.create(
            {
                "hydra": {
                    "overrides": {"task": ["+experiment=vqe", "+backend.token=SECRET123"]},
                    "job": {
                        "override_dirname": "+backend.token=SECRET123,+experiment=vqe",
                        "env_set": {"QISKIT_IBM_TOKEN": "SECRET789"},
                    },
                    "run": {"dir": "outputs/${now:%H}"},
                },
                "backend": {"name": "ibm_fake", "token": "SECRET123", "shots": 5},
                "logger": {"items": [{"api_key": "SECRET456"}, {"url": "http://x"}]},
            }
        ),
        path,
    )
    assert scrub_saved_config(path)
    text = path.read_text()
    assert "SECRET" not in text and "api_key" not in text  # (key names in overrides stay: they are no secret)
    saved = OmegaConf.load(path)
    assert saved.backend == {"name": "ibm_fake", "shots": 5} and list(saved.hydra.overrides.task) == ["+experiment=vqe"]
    assert OmegaConf.to_container(saved)["hydra"]["run"]["dir"] == "outputs/${now:%H}"  # interpolations stay as written
    assert not scrub_saved_config(path)  # nothing left to do


def test_secret_keys_are_found_inside_lists():
    from qjax.config import secret_keys

    assert secret_keys({"logger": {"items": [{"url": 1}, {"api_key": 2}]}}) == ["logger.items[1].api_key"]


@pytest.mark.timeout(180)  # these used to hang (ibm_fake transpiling) or abort allocating 352 TB
@pytest.mark.parametrize(
    "overrides, message",
    [
        (["ansatz=hea", "ansatz.layers=100000", "backend=ibm_fake"], "ansatz.layers=100000 expands to at least"),
        (["problem=tfim", "problem.n=40"], "problem.n=40 needs 40 qubits, more than backend.max_qubits=26"),
        (["problem=tfim", "problem.n=27"], "problem.n=27 needs 27 qubits"),
        (["seed=99999999999999999999999"], "seed=99999999999999999999999 is invalid"),
        (["problem.bond_length=1e-12"], "problem.bond_length=1e-12 is invalid"),
    ],
)
def test_cli_refuses_hostile_sizes_at_start_up_with_one_line(tmp_path, overrides, message):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "qjax.train", "+experiment=vqe", *overrides, "hydra.run.dir=run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("qjax: error: ")
    assert message in proc.stderr and proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "checkpoints").exists()  # refused before any checkpoint directory


@pytest.mark.parametrize(
    "config",
    [
        {"ansatz": {"encoding": {"\n": {"token": "x"}}}},
        {"trainer": {"steps\nmore": 3}},
        {"weird\rkey": 1},
    ],
)
def test_a_key_with_control_characters_still_gives_one_line(hydra_ctx, config):
    plain = OmegaConf.to_container(_compose("experiment=classifier", "problem=iris", "ansatz=reupload"))
    for group, value in config.items():
        plain[group] = {**plain[group], **value} if isinstance(plain.get(group), dict) else value
    with pytest.raises(ConfigError) as info:
        validate(plain)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)
