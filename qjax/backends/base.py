"""The executor boundary: one abstract base every backend subclasses.

A backend turns a circuit and an observable into an :class:`Objective`, a small
bundle of functions of the trainable parameters. The trainer only ever sees an
Objective, so it never knows (or imports) what runs the circuit.

:class:`Backend` declares everything callers may read from a backend, with a
default where a backend may have nothing to say (``runner`` is ``None`` on a
backend without jobs), so no caller needs ``getattr``. Its options are the
keyword-only arguments of its ``__init__`` (:meth:`Backend.options`);
:func:`qjax.backends.make_backend` refuses any other before constructing it.
"""

from __future__ import annotations

import abc
import inspect
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, NamedTuple

from qjax.errors import BackendError

if TYPE_CHECKING:
    from qjax.backends.executor import Executor
    from qjax.backends.jobs import JobRunner, RunControl
    from qjax.ir.circuit import Circuit
    from qjax.ir.pauli import PauliSum

__all__ = ["Objective", "Backend", "JobBackend", "Capabilities", "Samples", "ideal_samples", "RUN_KEYS", "UNIFORM_KEYS"]

#: What a run passes to EVERY backend besides its own ``backend.*`` keys (train/evaluate all of them, the
#: service some). A backend whose ``__init__`` takes none of one has no use for it: ``make_backend`` drops it.
RUN_KEYS = frozenset({"dtype", "mitigation", "seed", "state_dir", "budget", "fallback_options"})

#: ``backend.*`` keys every backend's config has, so that one shape fits all; dropped the same way by a
#: backend that has no use for them (the statevector simulator has no device and nothing queues).
UNIFORM_KEYS = frozenset({"device", "seed_simulator", "execution_mode"})


class Objective(NamedTuple):
    """What a backend offers the trainer.

    ``value(params: (P,)) -> ()`` the loss; ``value_and_grad(params) -> ((), (P,))``;
    ``values(batch: (B, P)) -> (B,)`` the loss at many parameter sets at once.
    Job-based backends add ``begin_step(step)``, told which optimisation step the
    next call belongs to (for ``jobs.jsonl``), and ``report(params) -> dict``, the
    final figures (``energy``, ``energy_std``, ``energy_unmitigated`` when mitigation
    is on) from the final evaluation job.
    """

    value: Callable[[Any], Any]
    value_and_grad: Callable[[Any], tuple[Any, Any]]
    values: Callable[[Any], Any]
    num_params: int
    begin_step: Callable[[int], None] | None = None
    report: Callable[[Any], dict] | None = None


class Samples(NamedTuple):
    """Measurements of every wire: ``bits (shots, n)`` 0/1 with wire 0 first; ``sampled_on``: where they were
    taken, ``backend`` or ``backend:device`` (e.g. ``ibm_fake:FakeManilaV2``)."""

    bits: Any
    sampled_on: str


def ideal_samples(circuit: "Circuit", params, shots: int, *, seed: int = 0) -> Samples:
    """``shots`` samples of the noiseless statevector of ``circuit`` at ``params`` (``sampled_on="simulator"``)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from qjax.sim.compile import compile as compile_circuit

    bits = compile_circuit(circuit).sample(jax.random.PRNGKey(seed), jnp.asarray(params), int(shots))
    return Samples(np.asarray(bits), "simulator")


class Capabilities(NamedTuple):
    """What a backend can run, as configured, known without running anything.

    ``gradients``: the ``gradient=`` values :meth:`Backend.objective` accepts (names
    from :mod:`qjax.sim.gradients`); ``max_qubits`` / ``max_operations``: the widest
    and longest circuit :meth:`Backend.check` lets through; ``shots``: the backend
    samples, or accepts ``backend.shots`` (it may still allow exact expectations);
    ``coupling_map``: the device's directed qubit pairs ``((a, b), ...)``, ``None``
    where any pair may interact or the device is not chosen yet; ``native_gates``:
    the device's operation names, ``None`` where any gate runs (or not known yet);
    ``persistent_job_ids``: job ids survive a restart of this process, so a recorded
    job is re-attached instead of submitted again.
    """

    gradients: tuple[str, ...]
    max_qubits: int
    max_operations: int
    shots: bool = False
    coupling_map: tuple[tuple[int, int], ...] | None = None
    native_gates: tuple[str, ...] | None = None
    persistent_job_ids: bool = False


class Backend(abc.ABC):
    """Where circuits run. Implementations live one per file in this package.

    A subclass sets :attr:`name`, takes its options as keyword-only ``__init__``
    arguments (no ``**kwargs`` swallowing misspelt ones) and implements the
    abstract members; the other members have defaults that fit a backend without
    jobs (the JAX simulator).
    """

    #: The ``backend=`` config value.
    name: ClassVar[str] = "backend"

    #: The complex dtype a JAX backend simulates in (``jnp.complex64`` / ``complex128``);
    #: ``None`` where circuits do not run in JAX here (hardware, a service).
    dtype: Any = None

    #: The :class:`~qjax.backends.jobs.JobRunner` of the last job-based objective
    #: (journal, retries, fallback, budget, cache); ``None`` until then, and always on
    #: backends that run no jobs.
    runner: "JobRunner | None" = None

    #: How jobs are waited for and retried, with the run's budget; ``None`` without jobs.
    control: "RunControl | None" = None

    #: The run's checkpoint directory, where ``jobs.jsonl``, ``events.jsonl`` and the
    #: result cache live; ``None``: nothing is persisted.
    state_dir: str | None = None

    #: Reference-state mitigation's reference (:class:`qjax.noise.mitigation.Reference`), set by the run
    #: before :meth:`objective` where the mitigation uses REM; ``None``: no REM.
    reference: Any = None

    #: Target standard error of the final evaluation (``backend.final_precision``, Ha), set by the run
    #: before :meth:`objective`; ``None``: the training shots.
    final_precision: float | None = None

    #: The widest and longest circuit :meth:`check_limits` lets through (``backend.max_qubits`` /
    #: ``backend.max_operations``).
    max_qubits: int = 0
    max_operations: int = 0

    #: The run's ``mitigation`` config (:class:`qjax.schemas.MitigationConfig`); ``None``: none.
    mitigation: Any = None

    #: Backend names to fall back to, in order, when this one fails (``backend.fallback``).
    fallback: tuple[str, ...] = ()

    #: Options of each fallback backend, by name (passed to ``make_backend``).
    fallback_options: Mapping[str, dict] = MappingProxyType({})

    @classmethod
    def options(cls) -> tuple[str, ...]:
        """The option names ``__init__`` accepts: its keyword arguments, and, where it
        forwards ``**options`` to its parent's ``__init__``, the parent's too."""
        names: list[str] = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            if klass is Backend or klass is object:
                break
            forwards = False
            for p in inspect.signature(init).parameters.values():
                if p.kind is p.VAR_KEYWORD:
                    forwards = True
                elif p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                    if p.name not in names:
                        names.append(p.name)
            if not forwards:
                break
        return tuple(sorted(names))

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this backend, as configured, can run (see :class:`Capabilities`)."""

    @abc.abstractmethod
    def check(self, circuit: "Circuit", observable: "PauliSum") -> None:
        """Raise :class:`qjax.errors.BackendError` if this backend cannot run the pair."""

    def check_limits(self, circuit: "Circuit", observable: "PauliSum") -> None:
        """The checks every backend makes first, before a device is looked up or anything is built: the pair
        fits :attr:`max_qubits` and :attr:`max_operations` (ZNE's folding counted) with :attr:`mitigation`."""
        from qjax.resources import check_circuit

        check_circuit(
            circuit,
            observable,
            backend=self.name,
            max_qubits=self.max_qubits,
            max_operations=self.max_operations,
            mitigation=self.mitigation,
        )

    @abc.abstractmethod
    def objective(self, circuit: "Circuit", observable: "PauliSum", *, gradient: str = "auto") -> Objective:
        """Compile ``circuit`` and ``observable`` into an :class:`Objective`."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """Backend facts for the run manifest: always ``name``, ``device`` and ``shots``; after a
        job-based objective ran, also ``transpiled`` (depth, gate counts, layout) and
        ``calibration`` where the backend knows them."""

    def stats(self) -> dict:
        """Usage so far: ``num_jobs`` and ``shots_total``; job-based backends add ``job_ids`` and ``fallbacks``."""
        if self.runner is None:
            return {"num_jobs": 0, "shots_total": 0}
        return self.runner.stats()

    def sample(self, circuit: "Circuit", params, shots: int, *, seed: int = 0) -> Samples:
        """``shots`` measurements of every wire of ``circuit`` at ``params (P,)`` from the distribution this
        backend's circuits produce. Here (noiseless backends): the ideal statevector's, ``sampled_on="simulator"``;
        noisy and hardware backends override it to sample their own noise."""
        return ideal_samples(circuit, params, shots, seed=seed)

    def use_layout(self, layout) -> None:
        """Run on ``layout.device`` with ``layout.qubits`` as the initial layout (``ansatz.entangler=device``;
        a :class:`~qjax.backends.layout.DeviceLayout`). Backends without a coupling map refuse."""
        raise BackendError(
            f"backend={self.name} has no coupling map to lay ansatz.entangler=device out on; "
            "use ansatz.entangler=chain, or backend=ibm_fake / ibm / noisy_simulator with backend.device"
        )

    def executor(self, circuit: "Circuit", observables) -> "Executor":
        """This backend as an :class:`~qjax.backends.executor.Executor` of ``circuit``'s gate angles
        and ``observables`` (a fallback target, or what the service runs); not every backend is one."""
        raise BackendError(
            f"backend={self.name} has no executor; use backend=simulator, noisy_simulator or ibm_fake "
            "where an executor is needed (a fallback, a service target)"
        )


class JobBackend(Backend):
    """A backend whose circuits run as jobs through a :class:`~qjax.backends.jobs.JobRunner` (IBM devices, a
    qjax service). It takes the run's fallback chain (``backend.fallback`` and each fallback's options), the
    journal's directory and budget, and how jobs are waited for and retried (``backend.timeout_s``,
    ``retries``, ``backoff_s``, ``poll_s``); subclasses forward these keywords here with ``**options``.
    """

    #: ``backend.backoff_s`` where none is given: the first retry's delay, doubling after each.
    default_backoff_s: ClassVar[float] = 1.0

    def __init__(
        self,
        *,
        fallback=(),
        fallback_options: dict | None = None,
        state_dir: str | None = None,
        budget=None,
        timeout_s: float = 600.0,
        retries: int = 3,
        backoff_s: float | None = None,
        poll_s: float = 0.2,
    ):
        from qjax.backends.jobs import RunControl

        self.fallback, self.fallback_options, self.state_dir = tuple(fallback), dict(fallback_options or {}), state_dir
        backoff = self.default_backoff_s if backoff_s is None else backoff_s
        self.control: RunControl = RunControl.with_budget(
            budget, timeout_s=timeout_s, retries=retries, backoff_s=backoff, poll_s=poll_s
        )
