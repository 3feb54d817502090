"""The PennyLane device ``qml.device("qjax.simulator", wires=n)``: qjax's simulator behind PennyLane.

Registered through the ``pennylane.plugins`` entry point, built on PennyLane's
``qml.devices.Device`` API (the one ``default.qubit`` and ``lightning.qubit`` use)::

    dev = qml.device("qjax.simulator", wires=4)            # complex64
    dev = qml.device("qjax.simulator", wires=4, c_dtype=np.complex128, seed=7)

    @qml.qnode(dev, diff_method="adjoint")                 # or "backprop" (JAX), "parameter-shift"
    def circuit(x): ...

    qml.set_shots(circuit, shots=1000)                     # finite shots, sampled with ``seed``

- Gates: the qjax gate table (:data:`~qjax.frontends.pennylane_tapes.PENNYLANE_GATES`),
  ``QubitUnitary``, ``GlobalPhase``; everything else is decomposed by PennyLane's
  preprocessing, and an operation that has no decomposition into them is refused with
  PennyLane's ``DeviceError`` naming it. Mid-circuit measurements are deferred
  (``qml.defer_measurements``; postselection is refused).
- Measurements: expval (Pauli words, sums, Hamiltonians, any observable PennyLane can
  diagonalise), var, probs, sample, counts, state, density_matrix; finite shots from
  the tape (``qml.set_shots`` / the QNode's shots), drawn with ``seed`` (an int, or a
  ``jax.random.PRNGKey`` for end-to-end jitted sampling); parameter broadcasting (vmapped).
- Derivatives: ``diff_method="adjoint"`` is qjax's adjoint method on the device
  (expectation values, analytic); ``"backprop"`` differentiates through qjax's JAX
  functions (JAX interface, ``jax.jit`` and ``jax.vmap`` of the QNode work; from 13
  wires the gradient inside is the adjoint ``custom_vjp``, memory O(state));
  ``"parameter-shift"`` and the other PennyLane gradient transforms just execute tapes.
- ``c_dtype``: ``complex64`` (default) or ``complex128``, which needs JAX's x64 mode
  (the same :class:`~qjax.errors.PrecisionError` as ``qjax.compile``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pennylane as qml
from pennylane import math
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    device_resolve_dynamic_wires,
    no_sampling,
    validate_adjoint_trainable_params,
    validate_device_wires,
    validate_measurements,
    validate_observables,
)
from pennylane.devices.qubit.sampling import jax_random_split
from pennylane.exceptions import DeviceError
from pennylane.measurements import (
    ExpectationMP,
    SampleMeasurement,
    StateMeasurement,
)
from pennylane.transforms import broadcast_expand, defer_measurements
from pennylane.transforms.core import CompilePipeline, transform

from qjax.frontends.pennylane_autograd import autograd_run, has_autograd_boxes
from qjax.frontends.pennylane_tapes import (
    NATIVE_OPS,
    lower,
    params_of,
    pauli_observables,
    programs,
    run_tape,
)
from qjax.sim.checks import check_dtype

__all__ = ["QjaxSimulator"]

_JAX = {math.Interface.JAX, math.Interface.JAX_JIT}
# backprop runs through JAX: with JAX values, Autograd boxes (bridged by
# qjax.frontends.pennylane_autograd), or constants (NUMPY; also what PennyLane asks when a
# QNode is built, before it knows the interface). Torch and TensorFlow are refused.
_BACKPROP = _JAX | {math.Interface.NUMPY, math.Interface.AUTO, math.Interface.AUTOGRAD}


def _concrete(data) -> bool:
    return not math.is_abstract(data) and not math.requires_grad(data)


def native_op(op) -> bool:
    """Whether the device runs ``op`` as it is (else PennyLane decomposes it).

    Table gates always; ``QubitUnitary`` and operations without a decomposition (e.g.
    ``BlockEncode``, ``DoubleExcitationPlus``) as a fixed matrix when their data are
    concrete, unbatched and not differentiated.
    """
    if op.name in NATIVE_OPS and op.name != "QubitUnitary":
        return True
    if op.name != "QubitUnitary" and (op.has_decomposition or not op.has_matrix):
        return False
    return op.batch_size is None and all(_concrete(d) for d in op.data)


def _diagonalisable(obs) -> bool:
    if isinstance(obs, qml.ops.CompositeOp):
        return all(_diagonalisable(o) for o in obs.operands)
    if isinstance(obs, qml.ops.SymbolicOp):
        return _diagonalisable(obs.base)
    return obs.has_diagonalizing_gates


def _analytic_measurement(m) -> bool:
    if not isinstance(m, StateMeasurement):
        return False
    if m.obs is None:
        return True
    if isinstance(m, ExpectationMP) and isinstance(m.obs, (qml.SparseHamiltonian, qml.Hermitian)):
        return True
    return _diagonalisable(m.obs)


def _sample_measurement(m) -> bool:
    return isinstance(m, SampleMeasurement) and (m.obs is None or _diagonalisable(m.obs))


@transform
def _no_counts_under_jit(tape):
    """Counts are a dict of bit strings: not a JAX value, so not under ``jax.jit``."""
    if any(isinstance(m, qml.measurements.CountsMP) for m in tape.measurements):
        raise DeviceError("qjax.simulator cannot return qml.counts under jax.jit; use qml.sample or qml.probs")
    return (tape,), lambda results: results[0]


@transform
def _adjoint_expvals(tape):
    """The adjoint method differentiates expectation values of observables with a Pauli form."""
    if pauli_observables(tape) is None:
        kinds = sorted({type(m).__name__ for m in tape.measurements})
        raise DeviceError(
            f"diff_method='adjoint' on qjax.simulator differentiates expectation values of Pauli sums "
            f"(or small Hermitian matrices) only; this circuit measures {', '.join(kinds)}. "
            "Use diff_method='backprop' (JAX) or 'parameter-shift'"
        )
    return (tape,), lambda results: results[0]


@simulator_tracking
@single_tape_support
class QjaxSimulator(Device):
    """qjax's statevector simulator as a PennyLane device (see the module docstring).

    Args:
      wires: number of wires or their labels (None: taken from each circuit).
      shots: deprecated by PennyLane (use ``qml.set_shots``); still honoured.
      seed: int, None, ``"global"`` (NumPy's global RNG draws one) or a ``jax.random.PRNGKey``.
      c_dtype: ``np.complex64`` (default) or ``np.complex128`` (needs ``jax_enable_x64``).
    """

    _device_options = ("rng", "prng_key")

    def __init__(self, wires=None, shots=None, seed="global", c_dtype=np.complex64) -> None:
        super().__init__(wires=wires, shots=shots)
        self._dtype = check_dtype(c_dtype).name
        seed = np.random.randint(0, high=10_000_000) if isinstance(seed, str) and seed == "global" else seed
        if math.get_interface(seed) == "jax":
            self._prng_seed = self._prng_key = seed
            self._rng = np.random.default_rng(None)
        else:
            self._prng_seed = self._prng_key = None
            self._rng = np.random.default_rng(seed)

    @property
    def name(self) -> str:
        return "qjax.simulator"

    @property
    def c_dtype(self):
        """The complex dtype of the state (``np.complex64`` or ``np.complex128``)."""
        return np.dtype(self._dtype).type

    def reset_prng_key(self):
        self._prng_key = self._prng_seed

    def _next_prng_key(self):
        if self._prng_key is None:
            return None
        self._prng_key, key = jax_random_split(self._prng_key)
        return key

    # -- what the device supports --------------------------------------------------

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        """backprop through JAX (analytic), adjoint (analytic expectation values); else PennyLane's transforms."""
        if execution_config is None:
            return True
        method = execution_config.gradient_method
        if method in ("backprop", "best") and execution_config.interface in _BACKPROP:
            if circuit is None or not circuit.shots:
                return True
        if method in ("adjoint", "best"):
            return self._supports_adjoint(circuit)
        return False

    def _supports_adjoint(self, circuit) -> bool:
        if circuit is None:
            return True
        program = CompilePipeline()
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        self._add_adjoint_transforms(program)
        try:
            program((circuit,))
        except (qml.operation.DecompositionUndefinedError, DeviceError, AttributeError):
            return False
        return True

    def _add_adjoint_transforms(self, program) -> None:
        name = "adjoint + qjax.simulator"
        program.add_transform(no_sampling, name=name)
        program.add_transform(
            decompose, stopping_condition=native_op, skip_initial_state_prep=False, name=name, device_wires=self.wires
        )
        program.add_transform(validate_observables, lambda obs: obs.has_matrix or obs.pauli_rep is not None, name=name)
        program.add_transform(broadcast_expand)
        program.add_transform(_adjoint_expvals)
        program.add_transform(validate_adjoint_trainable_params)

    def preprocess_transforms(self, execution_config=None) -> CompilePipeline:
        config = execution_config or ExecutionConfig()
        program = CompilePipeline()
        if config.interface == math.Interface.JAX_JIT:
            program.add_transform(_no_counts_under_jit)
        program.add_transform(defer_measurements, allow_postselect=False)
        program.add_transform(
            decompose,
            stopping_condition=native_op,
            skip_initial_state_prep=False,
            device_wires=self.wires,
            target_gates=set(NATIVE_OPS),
            name=self.name,
        )
        program.add_transform(device_resolve_dynamic_wires, wires=self.wires, allow_resets=False)
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(
            validate_measurements,
            analytic_measurements=_analytic_measurement,
            sample_measurements=_sample_measurement,
            name=self.name,
        )
        if config.gradient_method == "backprop":
            program.add_transform(no_sampling, name="backprop + qjax.simulator")
        if config.gradient_method == "adjoint":
            self._add_adjoint_transforms(program)
        return program

    def setup_execution_config(self, config=None, circuit=None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        for option in config.device_options:
            if option not in self._device_options:
                raise DeviceError(f"device option {option} not present on {self}")
        method = config.gradient_method
        if method == "best":
            method = "backprop" if config.interface in _BACKPROP else "adjoint"
        updated = {
            "gradient_method": method,
            # A PRNG key means the user wants sampling jitted end to end: keep JAX values.
            "convert_to_numpy": not (
                self._prng_key is not None
                and config.interface in _JAX
                and method != "adjoint"
                and config.derivative_order == 1
            ),
            "device_options": {"rng": self._rng, "prng_key": self._prng_key, **config.device_options},
        }
        if config.use_device_gradient is None:
            updated["use_device_gradient"] = method in ("adjoint", "backprop")
        if config.use_device_jacobian_product is None:
            updated["use_device_jacobian_product"] = False
        if config.grad_on_execution is None:
            updated["grad_on_execution"] = method == "adjoint"
        mcm = config.mcm_config
        if mcm.mcm_method not in (None, "deferred"):
            raise DeviceError(
                f"mcm_method={mcm.mcm_method!r} is not supported on qjax.simulator; it defers mid-circuit "
                "measurements (mcm_method='deferred' or None)"
            )
        updated["mcm_config"] = replace(mcm, mcm_method="deferred")
        return replace(config, **updated)

    # -- running ---------------------------------------------------------------------

    def execute(self, circuits, execution_config=None):
        self.reset_prng_key()
        return tuple(_host(self._run(c.map_to_standard_wires(), self._next_prng_key())) for c in circuits)

    def _run(self, tape, prng_key):
        if has_autograd_boxes(tape):  # backprop with Autograd: through JAX's vjp
            return autograd_run(tape, lambda t: run_tape(t, self._dtype))
        return run_tape(tape, self._dtype, rng=self._rng, prng_key=prng_key)

    def compute_derivatives(self, circuits, execution_config=None):
        return tuple(_host(self._value_and_jacobian(c)[1]) for c in circuits)

    def execute_and_compute_derivatives(self, circuits, execution_config=None):
        pairs = [self._value_and_jacobian(c) for c in circuits]
        return tuple(_host(p[0]) for p in pairs), tuple(_host(p[1]) for p in pairs)

    def _value_and_jacobian(self, tape):
        """Results and jacobian of an analytic expectation-value tape by qjax's adjoint method."""
        tape = tape.map_to_standard_wires()
        obs = pauli_observables(tape)
        if obs is None or tape.shots or tape.batch_size is not None:
            raise DeviceError("qjax.simulator's adjoint method needs an analytic, unbatched tape of expectation values")
        lowered = lower(tape)
        k, P = len(obs), len(lowered.angles)
        if P == 0 or lowered.num_wires == 0:
            values = np.asarray(run_tape(tape, self._dtype))
            jac_all = np.zeros((k, P))
        else:
            progs = programs(lowered.key, lowered.num_wires, obs, self._dtype)
            values, jac_all = progs.value_and_jacobian(params_of(lowered, None))
            values, jac_all = np.asarray(values), np.asarray(jac_all)
        cols = [lowered.param_of[t] if t < len(lowered.param_of) else -1 for t in tape.trainable_params]
        jac = np.zeros((k, len(cols)), dtype=jac_all.dtype)
        for j, c in enumerate(cols):
            if c >= 0:
                jac[:, j] = jac_all[:, c]
        results = tuple(np.asarray(v) for v in np.reshape(values, (k,)))
        return (results[0] if k == 1 else results), _jacobian_format(jac)


def _host(result):
    """NumPy results in the precision PennyLane's JAX interface declares for them: with JAX's 64-bit mode on
    it expects float64 (complex128), so complex64 results are widened (their digits stay complex64's).
    JAX values (backprop) and nested tuples pass through unchanged in kind."""
    if isinstance(result, tuple):
        return tuple(_host(r) for r in result)
    if isinstance(result, (np.ndarray, np.generic)) and result.dtype in (np.float32, np.complex64):
        import jax

        if jax.config.read("jax_enable_x64"):
            return result.astype(np.complex128 if result.dtype == np.complex64 else np.float64)
    return result


def _jacobian_format(jac: np.ndarray):
    """PennyLane's jacobian layout (as ``default.qubit``'s adjoint): squeezed, then tuples."""
    jac = np.squeeze(jac)
    if jac.ndim == 0:
        return np.array(jac)
    if jac.ndim == 1:
        return tuple(np.array(j) for j in jac)
    return tuple(tuple(np.array(j_) for j_ in j) for j in jac)
