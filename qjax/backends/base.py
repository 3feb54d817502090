"""The executor boundary: one protocol every backend implements.

A backend turns a circuit and an observable into an :class:`Objective`, a small
bundle of functions of the trainable parameters. The trainer only ever sees an
Objective, so it never knows (or imports) what runs the circuit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from qjax.ir.circuit import Circuit
    from qjax.ir.pauli import PauliSum

__all__ = ["Objective", "Backend"]


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


@runtime_checkable
class Backend(Protocol):
    """Where circuits run. Implementations live one per file in this package."""

    name: str

    def check(self, circuit: "Circuit", observable: "PauliSum") -> None:
        """Raise :class:`qjax.errors.BackendError` if this backend cannot run the pair."""

    def objective(self, circuit: "Circuit", observable: "PauliSum", *, gradient: str = "auto") -> Objective:
        """Compile ``circuit`` and ``observable`` into an :class:`Objective`."""

    def describe(self) -> dict:
        """Backend facts for the run manifest (name, device, shots, limits)."""

    def stats(self) -> dict:
        """Usage so far: ``num_jobs`` and ``shots_total``."""
