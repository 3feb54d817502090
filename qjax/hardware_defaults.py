"""Hardware defaults: the values ``auto`` stands for, chosen by the backend that actually runs the circuits.

``noisy_simulator``, ``ibm_fake`` and ``ibm`` run on noisy devices (or their twin); ``remote`` runs
on its ``backend.target``, so ``backend=remote backend.target=simulator`` behaves exactly like
``backend=simulator``. With hardware defaults:

- ``problem.taper: auto`` tapers a molecule by its Z2 symmetries (fewer qubits, fewer gates);
- ``mitigation: auto`` is :data:`~qjax.schemas.HARDWARE_MITIGATION` (readout + reference-state
  mitigation) where the run has a reference state (a molecule with UCC), ``none`` elsewhere;
- ``backend.final_precision: auto`` is :data:`~qjax.schemas.HARDWARE_PRECISION` Ha for a molecule
  whose backend samples;
- ``ansatz.form: auto`` (UCC) is ``real_amplitudes`` for a tapered molecule: RY layers and a CNOT chain
  on the tapered wires, Hartree–Fock at parameters 0 (LiH at 3.0 Å: 4 two-qubit gates instead of the
  tapered excitations' 40; H2's one wire: the same single RY either way).

Elsewhere ``auto`` means the behaviour from before these keys existed: no tapering, no
mitigation, the training shots (so those runs keep their config hash).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from qjax.errors import ConfigError
from qjax.schemas import HARDWARE_MITIGATION, HARDWARE_PRECISION, SCHEMAS

__all__ = ["NOISY_BACKENDS", "hardware_defaults", "has_reference", "resolve", "OLD_BEHAVIOUR"]

#: Backends whose circuits run with noise.
NOISY_BACKENDS = ("noisy_simulator", "ibm_fake", "ibm")

#: What each ``auto`` key did before it existed (config_baseline.ADDED holds the same values); the
#: checkpoint refusal names them so an old run can be resumed.
OLD_BEHAVIOUR = {
    "problem.taper": "false",
    "mitigation": "none",
    "backend.final_precision": "null",
    "ansatz.form": "excitations",
}


def hardware_defaults(backend: Any) -> bool:
    """Whether ``auto`` values take their hardware meaning for this ``backend`` config."""
    name = backend.name if backend.name != "remote" else getattr(backend, "target", "simulator")
    return name in NOISY_BACKENDS


def has_reference(problem: Any, ansatz: Any) -> bool:
    """A classically known reference state for REM: a molecule's Hartree–Fock state, which UCC gives at 0."""
    return bool(getattr(problem, "molecular", False)) and ansatz.name == "ucc"


def _sampling(backend: Any) -> bool:
    """The backend samples (shots), as opposed to exact expectations."""
    if backend.name in ("ibm_fake", "ibm"):
        return True
    if backend.name == "remote" and getattr(backend, "target", None) in ("ibm_fake", "ibm"):
        return True
    return backend.shots is not None


def resolve(experiment: str, groups: dict) -> dict:
    """``groups`` (validated group configs by name) with every ``auto`` replaced, and REM's reference checked.

    Raises :class:`ConfigError` (one line, before anything runs) for ``problem.taper=true`` without a
    molecule and for ``mitigation=rem``/``readout_rem`` without a reference state.
    """
    backend, problem, ansatz, mitigation = (groups[k] for k in ("backend", "problem", "ansatz", "mitigation"))
    hardware = hardware_defaults(backend)
    molecular = bool(getattr(problem, "molecular", False))
    out = dict(groups)
    taper = problem.taper
    if taper is True and not molecular:
        what = (
            "+experiment=classifier trains on a data set"
            if experiment == "classifier"
            else (f"problem={problem.name} is no molecule")
        )
        raise ConfigError(
            f"problem.taper=true tapers a molecule's Z2 symmetries, but {what}; set problem.taper=false (or auto)"
        )
    if taper == "auto":
        out["problem"] = dataclasses.replace(problem, taper=hardware and molecular)
    tapered = getattr(out["problem"], "taper", False) is True
    form = getattr(ansatz, "form", None)
    if form == "real_amplitudes" and not tapered:
        raise ConfigError(
            "ansatz.form=real_amplitudes spans every state of its wires, which leaves the electron sector unless "
            "the molecule is tapered; set problem.taper=true (or auto with a hardware backend), or "
            "ansatz.form=excitations"
        )
    if form == "auto":
        out["ansatz"] = dataclasses.replace(ansatz, form="real_amplitudes" if hardware and tapered else "excitations")
    reference = has_reference(problem, ansatz)
    if mitigation.name == "auto":
        sampled_twin = backend.name == "noisy_simulator" and backend.shots is not None  # JAX mitigation is exact-only
        # without a reference (QAOA, spin chains, ansatz=hea) the behaviour before `auto`: none
        name = HARDWARE_MITIGATION if hardware and reference and not sampled_twin else "none"
        out["mitigation"] = SCHEMAS["mitigation"][name](name)
    elif "rem" in mitigation.techniques and not reference:
        if mitigation.name == "best":
            out["mitigation"] = dataclasses.replace(mitigation, rem=False)
        else:
            why = (
                f"ansatz={ansatz.name} has no parameters known to give it (ansatz=ucc gives Hartree–Fock at 0)"
                if molecular
                else f"problem={problem.name} has no classically known reference state"
            )
            raise ConfigError(
                f"mitigation={mitigation.name} subtracts a reference state's measured error, but {why}; "
                "use mitigation=readout (or zne)"
            )
    precision = backend.final_precision
    if precision == "auto":
        precision = HARDWARE_PRECISION if hardware and molecular and _sampling(backend) else None
        out["backend"] = dataclasses.replace(backend, final_precision=precision)
    return out
