"""Error mitigation in JAX: noise amplification, zero-noise extrapolation and reference-state mitigation.

The pieces the noisy simulator's ZNE is made of, each pure:

- amplification of a (circuit, noise schedule) pair by a noise factor ``λ``:
  :func:`fold_global` (``U (U† U)^k``, λ = 2k + 1), :func:`fold_gates` (each
  two-qubit gate ``G → G (G† G)^k``, what IBM's runtime calls gate folding) and
  :func:`scale_noise` (every channel raised to the power λ, ``E^λ = exp(λ L)``
  for a channel ``E = exp(L)``: the noise-parameter scaling of the issue);
- :func:`extrapolate`: the value at λ = 0 from values at the noise factors, by
  ``linear``, ``richardson``, ``polynomial_degree_k`` or ``exponential`` fits,
  written in ``jax.numpy`` so gradients flow through the mitigated value.

A schedule is what :func:`qjax.noise.density.compile_noisy` takes: one tuple of
``(channel, wires)`` per operation, applied after it.

Reference-state error mitigation (REM; Lolur et al., JCTC 2023) runs the same circuit at
parameters that prepare a classically known state (:class:`Reference`: UCC at 0 gives
Hartree–Fock) and subtracts that state's measured error: ``E(θ) − E(θ_ref) + E_exact(θ_ref)``
(:func:`rem_energy`). It is a constant shift, so gradients are those of ``E``.

``model="scale"`` (``mitigation.rem_model=scale``; noise-estimation circuits, Urbanek et al., PRL 127,
270502 (2021)) assumes the remaining gate noise is global depolarising, ``⟨H⟩_noisy = c₀ + f·(⟨H⟩ − c₀)``
with ``c₀ = tr(H)/2ⁿ`` (the identity coefficient). The reference gives ``f`` (:func:`rem_factor`) and
``E = c₀ + (E_measured − c₀)/f``; unlike the shift, this restores the slope that gate noise takes
from the energy landscape.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np
import scipy.linalg

from qjax.errors import ConfigError
from qjax.ir.circuit import Circuit, Operation, _as_matrix_tuple
from qjax.ir.gates import GATES
from qjax.noise.channels import from_superop

__all__ = [
    "inverse",
    "fold_global",
    "fold_gates",
    "scale_noise",
    "extrapolate",
    "EXTRAPOLATORS",
    "AMPLIFIERS",
    "check_jax_mitigation",
    "mitigated_expval",
    "Reference",
    "uses_rem",
    "rem_energy",
    "rem_factor",
    "rem_std",
    "REM_MODELS",
    "MIN_REM_FACTOR",
]

#: ``mitigation.rem_model``: subtract the reference's error (``shift``), or rescale by its signal (``scale``).
REM_MODELS = ("shift", "scale")
#: Below this signal factor the rescaled REM would amplify shot noise beyond use: refused.
MIN_REM_FACTOR = 0.05


class Reference(NamedTuple):
    """A classically known state of an ansatz: ``params (P,)`` that prepare it, its exact ``energy`` and ``name``;
    ``model``: ``shift`` or ``scale`` (:func:`rem_energy`), ``constant``: the observable's identity coefficient
    ``c₀ = tr(H)/2ⁿ`` (what the ``scale`` model's depolarised energy decays to)."""

    params: np.ndarray
    energy: float
    name: str = "hartree_fock"
    model: str = "shift"
    constant: float = 0.0


def uses_rem(mitigation) -> bool:
    """Whether ``mitigation`` asks for reference-state mitigation (``rem``, ``readout_rem``, ``best`` with REM)."""
    return mitigation is not None and "rem" in mitigation.techniques and bool(getattr(mitigation, "rem", True))


def rem_factor(measured_reference, reference: Reference) -> float:
    """The ``scale`` model's signal factor ``f = (E_ref,measured − c₀)/(E_ref,exact − c₀)`` (1: no gate noise);
    a :class:`~qjax.errors.BackendError` (one line) where ``f < MIN_REM_FACTOR``: dividing by it would blow up."""
    from qjax.errors import BackendError

    gap = reference.energy - reference.constant
    factor = float((measured_reference - reference.constant) / gap) if gap else 0.0
    if not factor >= MIN_REM_FACTOR:
        raise BackendError(
            f"mitigation.rem_model=scale: the reference state measured {float(measured_reference):.6f} Ha against "
            f"an exact {reference.energy:.6f} Ha (identity term {reference.constant:.6f}), a signal factor "
            f"f={factor:.3g} below {MIN_REM_FACTOR}; dividing by it would amplify the noise without bound: use "
            "mitigation.rem_model=shift or a shallower circuit (ansatz.form=real_amplitudes)"
        )
    return factor


def rem_energy(measured, measured_reference, reference: Reference):
    """The reference state's measured error removed from ``measured`` (numbers or JAX/NumPy arrays).

    ``shift``: ``measured − measured_reference + reference.energy``; ``scale``:
    ``c₀ + (measured − c₀)/f`` with ``f`` from :func:`rem_factor`; both give the exact energy at the reference.
    """
    if reference.model == "scale":
        return reference.constant + (measured - reference.constant) / rem_factor(measured_reference, reference)
    return measured - measured_reference + reference.energy


def rem_std(std, std_reference, measured=None, measured_reference=None, reference: Reference | None = None):
    """Standard error of :func:`rem_energy` from independent estimates' standard errors (first order in them;
    the ``scale`` model needs the measured values and the reference)."""
    if reference is None or reference.model != "scale":
        return (std**2 + std_reference**2) ** 0.5
    factor = rem_factor(measured_reference, reference)
    d_reference = (measured - reference.constant) / (factor * (measured_reference - reference.constant))
    return ((std / factor) ** 2 + (std_reference * d_reference) ** 2) ** 0.5


#: Gates that are their own inverse.
_SELF_INVERSE = {"I", "H", "X", "Y", "Z", "CNOT", "CY", "CZ", "SWAP", "Toffoli", "CSWAP"}
_PAIRS = {"S": "Sdg", "Sdg": "S", "T": "Tdg", "Tdg": "T"}
#: One-angle gates exp(-iθG/2)-like whose inverse is the same gate at -θ.
_NEGATE = {"RX", "RY", "RZ", "PhaseShift", "CRX", "CRY", "CRZ", "CPhase", "RXX", "RYY", "RZZ"}

EXTRAPOLATORS = ("linear", "richardson", "exponential", "polynomial_degree_k")


def inverse(op: Operation) -> Operation:
    """The operation undoing ``op`` (same wires; angles stay linear maps of the parameters)."""
    gate = op.gate
    if gate in _SELF_INVERSE:
        return op
    if gate in _PAIRS:
        return Operation(_PAIRS[gate], op.wires)
    if gate in _NEGATE:
        return Operation(gate, op.wires, tuple(-a for a in op.angles))
    if gate == "U3":  # U3(θ, φ, λ)† = U3(-θ, -λ, -φ)
        theta, phi, lam = op.angles
        return Operation("U3", op.wires, (-theta, -lam, -phi))
    if gate == "Unitary":
        matrix = np.asarray(op.matrix, dtype=complex)
    else:  # a fixed gate without a named inverse (SX, iSWAP): its adjoint as a matrix
        matrix = np.asarray(GATES[gate].matrix(jnp.zeros(0), jnp.complex64), dtype=complex)
    return Operation("Unitary", op.wires, matrix=_as_matrix_tuple(matrix.conj().T))


def _odd_factor(factor: float, how: str) -> int:
    if not (float(factor) == int(factor) and int(factor) >= 1 and int(factor) % 2 == 1):
        raise ConfigError(
            f"noise factor {factor} cannot be made by {how}: it needs odd integers 1, 3, 5, ... "
            "(set mitigation.zne.noise_factors=[1,3,5], or amplifier=noise_scaling for any λ ≥ 1)"
        )
    return (int(factor) - 1) // 2


def fold_global(circuit: Circuit, schedule: Sequence[tuple], factor: float) -> tuple[Circuit, tuple]:
    """``U (U† U)^k`` for ``factor = 2k + 1``; every gate, inverted or not, keeps its noise."""
    k = _odd_factor(factor, "global folding")
    ops, noise = list(circuit.operations), list(schedule)
    back = [inverse(op) for op in reversed(ops)]
    back_noise = list(reversed(noise))
    out_ops, out_noise = list(ops), list(noise)
    for _ in range(k):
        out_ops += back + ops
        out_noise += back_noise + noise
    return Circuit(
        circuit.num_wires, tuple(out_ops), num_params=circuit.num_params, num_inputs=circuit.num_inputs
    ), tuple(out_noise)


def fold_gates(
    circuit: Circuit, schedule: Sequence[tuple], factor: float, *, min_wires: int = 2
) -> tuple[Circuit, tuple]:
    """Each gate on ≥ ``min_wires`` wires becomes ``G (G† G)^k`` (``factor = 2k + 1``), each copy with its noise."""
    k = _odd_factor(factor, "gate folding")
    out_ops, out_noise = [], []
    for op, noise in zip(circuit.operations, schedule):
        out_ops.append(op)
        out_noise.append(noise)
        if len(op.wires) >= min_wires:
            for _ in range(k):
                out_ops += [inverse(op), op]
                out_noise += [noise, noise]
    return Circuit(
        circuit.num_wires, tuple(out_ops), num_params=circuit.num_params, num_inputs=circuit.num_inputs
    ), tuple(out_noise)


def scale_noise(schedule: Sequence[tuple], factor: float) -> tuple:
    """Every channel ``E`` of ``schedule`` replaced by ``E^factor`` (``factor ≥ 1``; a fractional power of its
    superoperator, which is CPTP for the Markovian channels of :mod:`qjax.noise`)."""
    if not float(factor) >= 1:
        raise ConfigError(f"noise factor {factor} is invalid: noise can only be amplified (λ ≥ 1)")
    cache: dict[int, object] = {}

    def scaled(channel):
        if id(channel) not in cache:
            s = channel.superop()
            power = (
                np.linalg.matrix_power(s, int(factor))
                if float(factor).is_integer()
                else scipy.linalg.fractional_matrix_power(s, float(factor))
            )
            cache[id(channel)] = from_superop(np.asarray(power), f"{channel.name}^{factor:g}")
        return cache[id(channel)]

    return tuple(tuple((scaled(c), wires) for c, wires in entry) for entry in schedule)


def _polyfit_at_zero(factors, values, degree: int):
    """Least-squares polynomial of ``degree`` through ``(factors, values (F, ...))``, evaluated at 0."""
    vandermonde = jnp.vander(jnp.asarray(factors, values.dtype), degree + 1, increasing=True)  # (F, d+1)
    coeffs = jnp.linalg.pinv(vandermonde) @ values.reshape(len(factors), -1)
    return coeffs[0].reshape(values.shape[1:])


def extrapolate(factors: Sequence[float], values, method: str = "exponential"):
    """The zero-noise value from ``values (F, ...)`` measured at noise ``factors (F,)``; differentiable.

    ``linear``: least-squares line; ``richardson``: the polynomial through every point
    (degree F−1); ``polynomial_degree_k``: least-squares polynomial of degree k;
    ``exponential``: ``y = a·exp(-bλ)`` fitted to ``log|y|`` (an expectation decaying
    to 0 under depolarizing noise), used where every point has the same sign and is
    not tiny, and the linear fit elsewhere (element-wise).
    """
    factors = [float(f) for f in factors]
    values = jnp.asarray(values)
    F = len(factors)
    if F != values.shape[0]:
        raise ConfigError(f"{values.shape[0]} values for {F} noise factors")
    if len(set(factors)) != F or F < 2:
        raise ConfigError(f"mitigation.zne.noise_factors={factors}: need at least two distinct factors")
    if method == "linear":
        return _polyfit_at_zero(factors, values, 1)
    if method == "richardson":
        return _polyfit_at_zero(factors, values, F - 1)
    if method.startswith("polynomial_degree_") and method.removeprefix("polynomial_degree_").isdigit():
        degree = int(method.removeprefix("polynomial_degree_"))
        if degree >= F:
            raise ConfigError(
                f"mitigation.zne.extrapolator={method} needs more than {degree} noise factors, "
                f"got {F}; add factors or lower the degree"
            )
        return _polyfit_at_zero(factors, values, degree)
    if method == "exponential":
        linear = _polyfit_at_zero(factors, values, 1)
        sign = jnp.sign(values[0])
        usable = jnp.all(values * sign > 1e-6, axis=0)
        safe = jnp.where(usable, jnp.abs(values), 1.0)  # keeps log (and its gradient) finite where unused
        log_fit = _polyfit_at_zero(factors, jnp.log(safe), 1)
        return jnp.where(usable, sign * jnp.exp(log_fit), linear)
    raise ConfigError(
        f"mitigation.zne.extrapolator={method} is not known; choose linear, richardson, exponential "
        "or polynomial_degree_<k>"
    )


#: ``mitigation.zne.amplifier`` → how a (circuit, schedule) pair is amplified by a noise factor.
AMPLIFIERS = {
    "gate_folding": fold_gates,
    "global_folding": fold_global,
    "noise_scaling": lambda circuit, schedule, factor: (circuit, scale_noise(schedule, factor)),
}


def check_jax_mitigation(mitigation, backend: str = "noisy_simulator") -> tuple[str, ...]:
    """The techniques of ``mitigation`` that JAX applies (readout, zne, rem), or a ConfigError naming the fix.

    ``best`` means everything this backend supports: readout + ZNE (+ REM where it is on;
    dynamical decoupling and twirling act on hardware noise this simulator does not model).
    """
    techniques = tuple(getattr(mitigation, "techniques", ()) or ())
    if mitigation is None or not techniques:
        return ()
    if not uses_rem(mitigation):
        techniques = tuple(t for t in techniques if t != "rem")
    if mitigation.name != "best":
        for technique in techniques:
            if technique not in ("readout", "zne", "rem"):
                raise ConfigError(
                    f"mitigation={mitigation.name} is an IBM runtime technique (it acts on idle-time and "
                    f"coherent errors this simulator does not model); on backend={backend} use "
                    "mitigation=readout, rem, readout_rem, zne or best"
                )
    zne = getattr(mitigation, "zne", None)
    if zne is not None and "zne" in techniques:
        if zne.amplifier not in AMPLIFIERS:
            raise ConfigError(
                f"mitigation.zne.amplifier={zne.amplifier} is IBM-only (a learned noise model); on "
                f"backend={backend} use gate_folding, global_folding or noise_scaling"
            )
        if zne.extrapolator in ("double_exponential", "fallback"):
            raise ConfigError(
                f"mitigation.zne.extrapolator={zne.extrapolator} is IBM-only; on backend={backend} use "
                "linear, richardson, exponential or polynomial_degree_<k>"
            )
        if zne.amplifier != "noise_scaling":
            for factor in zne.noise_factors:
                _odd_factor(factor, zne.amplifier.replace("_", " "))
    return tuple(t for t in techniques if t in ("readout", "zne", "rem"))


def mitigated_expval(circuit: Circuit, schedule: Sequence[tuple], readout: Sequence, mitigation, compile_fn):
    """``(expval, raw)``: ``expval(params) -> (k,)`` with the JAX mitigation of ``mitigation``, and without.

    ``compile_fn(circuit, schedule, readout)`` compiles one noisy circuit for a list
    of ``k`` observables (e.g. :func:`qjax.noise.density.compile_noisy`). ZNE compiles the
    amplified pair at every noise factor (amplifying keeps the parameters) and
    extrapolates each Pauli term to zero noise (terms decay towards 0 as noise grows,
    which the exponential fit assumes; the energy's constant does not), then sums the
    terms with their coefficients. Readout mitigation applies the inverse of each
    wire's calibration matrix; with the exact calibration of an exact simulation,
    ``M⁻¹ M = I``, so it gives the expectation without readout error (a sampled
    calibration would add its own statistical error). Everything stays differentiable.
    """
    techniques = tuple(t for t in check_jax_mitigation(mitigation) if t != "rem")  # REM: rem_energy, by the caller
    base = compile_fn(circuit, schedule, readout)
    if not techniques:
        return base.expval, base.expval
    corrected = [None] * len(readout) if "readout" in techniques else readout
    if "zne" not in techniques:
        return compile_fn(circuit, schedule, corrected).expval, base.expval
    zne = mitigation.zne
    amplify = AMPLIFIERS[zne.amplifier]
    factors = [float(f) for f in zne.noise_factors]
    amplified = [compile_fn(*amplify(circuit, schedule, f), corrected) for f in factors]
    coeffs, constants = np.asarray(base.term_coeffs), np.asarray(base.constants)

    def expval(params):
        terms = jnp.stack([c.term_values(params) for c in amplified])  # (F, T)
        zero_noise = extrapolate(factors, terms, zne.extrapolator)
        return jnp.asarray(coeffs, zero_noise.dtype) @ zero_noise + jnp.asarray(constants, zero_noise.dtype)

    return expval, base.expval
