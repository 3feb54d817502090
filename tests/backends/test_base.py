"""The abstract Backend: every registered backend subclasses it, takes exactly its options,
and declares its capabilities (checked against Qiskit's own device description)."""

import dataclasses

import pytest

from qjax.backends import BACKENDS, Backend, Capabilities, backend_class, make_backend
from qjax.backends.base import RUN_KEYS, UNIFORM_KEYS
from qjax.errors import BackendError, ConfigError
from qjax.schemas import SCHEMAS
from qjax.sim.gradients import GRADIENTS

# What train.py / evaluate.py pass to every backend besides its own backend.* keys.
RUN_LEVEL = {"dtype", "mitigation", "seed", "state_dir", "budget", "fallback_options"}
# What serve/targets.py passes to its targets.
SERVICE = {"mitigation", "seed", "shots", "device", "max_qubits"}
SERVICE_TARGETS = ("simulator", "noisy_simulator", "ibm_fake", "ibm")
# Config keys make_backend takes itself rather than passing to the constructor.
MAKE_BACKEND = {"final_precision"}
# Built without an account or a network (remote needs only an API key in the environment).
LOCAL = ("simulator", "noisy_simulator", "ibm_fake", "remote")


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("QJAX_API_KEY", "test-key")


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_subclasses_the_base(name):
    cls = backend_class(name)
    assert issubclass(cls, Backend) and cls.name == name
    assert not getattr(cls, "__abstractmethods__", None), f"{name} leaves abstract: {cls.__abstractmethods__}"


@pytest.mark.parametrize("name", LOCAL)
def test_local_backends_construct_with_their_defaults(name, api_key):
    backend = make_backend(name)
    assert isinstance(backend, Backend)
    caps = backend.capabilities
    assert isinstance(caps, Capabilities)
    assert caps.gradients and set(caps.gradients) <= set(GRADIENTS)
    assert caps.max_qubits >= 1 and caps.max_operations >= 1
    # declared on the base: no getattr needed by a caller
    assert backend.runner is None
    assert backend.stats()["num_jobs"] == 0
    assert {"name", "device", "shots"} <= set(backend.describe())


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_cli_and_service_key_is_an_option(name):
    """A CLI run passes the backend's own config keys plus the run-level ones; none may be refused. The run-level
    and uniform keys a backend has no use for are dropped by make_backend, so they need not be its options."""
    schema = SCHEMAS["backend"][name]
    keys = {f.name for f in dataclasses.fields(schema)} - {"name"}
    allowed = set(backend_class(name).options()) | MAKE_BACKEND | RUN_KEYS | UNIFORM_KEYS
    assert keys | RUN_LEVEL <= allowed, (keys | RUN_LEVEL) - allowed
    if name in SERVICE_TARGETS:
        assert SERVICE <= allowed, SERVICE - allowed


# The run-level keys each backend must really take (a misspelt keyword would otherwise be dropped silently:
# a job journal without its state_dir, a budget never enforced).
USES = {
    "simulator": {"dtype", "mitigation"},
    "noisy_simulator": {"dtype", "mitigation", "seed", "state_dir"},
    "ibm_fake": {"mitigation", "seed", "state_dir", "budget", "fallback_options", "execution_mode"},
    "ibm": {"mitigation", "seed", "state_dir", "budget", "fallback_options", "execution_mode"},
    "remote": {"mitigation", "seed", "state_dir", "budget", "fallback_options"},
}


def test_run_level_and_uniform_keys_are_the_ones_the_base_declares():
    assert RUN_LEVEL == set(RUN_KEYS)
    for name, used in USES.items():
        assert used <= set(backend_class(name).options()), (name, used - set(backend_class(name).options()))


def test_unused_uniform_keys_are_dropped_and_the_execution_mode_is_checked_everywhere():
    sim = make_backend("simulator", device="FakeManilaV2", seed=3, state_dir="/nonexistent", execution_mode="session")
    assert sim.state_dir is None and sim.describe()["name"] == "simulator"
    for name in ("simulator", "noisy_simulator"):
        with pytest.raises(BackendError, match=r"backend.execution_mode=sesion is unknown .*session"):
            make_backend(name, execution_mode="sesion")


def test_an_unknown_option_is_refused_naming_the_allowed_ones():
    with pytest.raises(
        ConfigError,
        match=r"backend=simulator has no option 'shotz'; its options are: .*dtype.*"
        r"max_qubits.*shots",
    ):
        make_backend("simulator", shotz=5)
    # checked before anything is built: remote would otherwise ask for an API key first
    with pytest.raises(ConfigError, match=r"backend=remote has no option 'urll'.*\burl\b"):
        make_backend("remote", urll="http://x")
    # an option of another backend is unknown here too
    with pytest.raises(ConfigError, match=r"backend=simulator has no option 'trajectories'"):
        make_backend("simulator", trajectories=10)


def test_options_follow_forwarded_keywords():
    """``ibm`` forwards ``**options`` to the runtime base: both levels' keywords are its options."""
    options = backend_class("ibm").options()
    assert {"channel", "instance", "shots", "optimization_level", "min_qubits"} <= set(options)
    assert "options" not in options


def test_capabilities_values():
    sim = make_backend("simulator", max_qubits=12).capabilities
    assert "adjoint" in sim.gradients and "backprop" in sim.gradients and "spsa" not in sim.gradients
    assert (sim.max_qubits, sim.shots, sim.persistent_job_ids) == (12, False, False)
    assert sim.coupling_map is None and sim.native_gates is None

    noisy = make_backend("noisy_simulator").capabilities
    assert "adjoint" not in noisy.gradients and {"backprop", "parameter_shift", "spsa"} <= set(noisy.gradients)
    assert noisy.shots and noisy.coupling_map is None
    sampled = make_backend("noisy_simulator", shots=100).capabilities
    assert "backprop" not in sampled.gradients and "parameter_shift" in sampled.gradients


def test_ibm_fake_capabilities_are_the_devices():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    reference = FakeManilaV2()
    caps = make_backend("ibm_fake", device="FakeManilaV2").capabilities
    assert "adjoint" not in caps.gradients and "backprop" not in caps.gradients
    assert "parameter_shift" in caps.gradients and "spsa" in caps.gradients
    assert caps.shots and not caps.persistent_job_ids
    assert set(caps.coupling_map) == {tuple(e) for e in reference.coupling_map.get_edges()}
    assert len(caps.coupling_map) == len(reference.coupling_map.get_edges())
    assert caps.max_qubits == reference.num_qubits == 5
    assert {"cx", "sx", "rz"} <= set(caps.native_gates)
    # a twin of the same device sees the same coupling map
    twin = make_backend("noisy_simulator", device="FakeManilaV2").capabilities
    assert twin.coupling_map == caps.coupling_map


def test_ibm_capabilities_need_no_network():
    caps = make_backend("ibm", device="ibm_brisbane").capabilities
    assert caps.persistent_job_ids and caps.shots
    assert caps.coupling_map is None  # the device is looked up (over the network) only when a circuit needs it


def test_remote_capabilities(api_key):
    caps = make_backend("remote", url="http://127.0.0.1:1").capabilities
    assert caps.persistent_job_ids and "adjoint" not in caps.gradients


def test_executor_defaults_to_a_clear_error():
    class Minimal(Backend):
        name = "minimal"
        capabilities = Capabilities(("auto",), 1, 1)

        def check(self, circuit, observable):
            pass

        def objective(self, circuit, observable, *, gradient="auto"):
            raise NotImplementedError

        def describe(self):
            return {"name": self.name, "device": None, "shots": None}

    backend = Minimal()
    assert backend.runner is None and backend.dtype is None and backend.fallback == ()
    assert backend.stats() == {"num_jobs": 0, "shots_total": 0}
    with pytest.raises(BackendError, match="backend=minimal has no executor"):
        backend.executor(None, [])
