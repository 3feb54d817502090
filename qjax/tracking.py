"""Run records: metrics.jsonl, result.json, manifest.json, the convergence plot.

Everything here is I/O at the edge of a run; :func:`load_run` reads a run
directory back so a notebook can answer "what produced this result?".
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from qjax.circuit import Circuit
from qjax.errors import QjaxError

__all__ = [
    "MetricsWriter",
    "Run",
    "load_run",
    "package_versions",
    "code_version",
    "circuit_summary",
    "write_json",
    "plot_convergence",
]

_PACKAGES = (
    "qjax", "jax", "jaxlib", "optax", "orbax-checkpoint", "pennylane", "qiskit",
    "qiskit-ibm-runtime", "qiskit-aer", "hydra-core", "omegaconf", "numpy", "scipy",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy / jax arrays
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as pretty JSON atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
    os.replace(tmp, path)


class MetricsWriter:
    """Appends metric rows to ``metrics.jsonl``, one JSON object per line, flushed per row."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = open(self.path, "w")  # a fresh file: a resumed run re-emits earlier rows first

    def __call__(self, rows: list[dict]) -> None:
        for row in rows:
            self._file.write(json.dumps(_jsonable(row)) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def package_versions() -> dict[str, str]:
    """Installed versions of qjax and the packages that shape its numbers."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def code_version() -> str:
    """qjax's version, plus the git commit (and ``-dirty``) when run from a checkout."""
    version = package_versions()["qjax"]
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'-dirty' if dirty else ''}"


def circuit_summary(circuit: Circuit) -> dict:
    """OpenQASM 3 text, depth and gate counts of ``circuit`` for the manifest."""
    from qjax.qiskit_interop import to_qasm

    return {
        "num_wires": circuit.num_wires,
        "num_params": circuit.num_params,
        "depth": circuit.depth(),
        "gate_counts": circuit.gate_counts(),
        "qasm": to_qasm(circuit),
    }


def plot_convergence(metrics: list[dict], path: str | os.PathLike, *, exact: float | None = None,
                     label: str = "loss", title: str = "", target: tuple[float, str] | None = None) -> None:
    """Save a PNG of the loss per step (and, with ``exact``, the error on a log scale).

    ``target``: an error level to mark on the error plot, as ``(value, legend label)``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in metrics]
    loss = np.array([row["loss"] for row in metrics], dtype=float)
    ncols = 2 if exact is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(steps, loss, label=label)
    if exact is not None:
        ax.axhline(exact, color="k", ls="--", lw=1, label=f"exact {exact:.6f}")
        err = axes[0, 1]
        err.semilogy(steps, np.maximum(np.abs(loss - exact), 1e-12))
        if target is not None:
            err.axhline(target[0], color="r", ls=":", lw=1, label=target[1])
            err.legend()
        err.set_xlabel("step")
        err.set_ylabel(f"|{label} − exact|")
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class Run(NamedTuple):
    """A finished run read back by :func:`load_run`."""

    config: dict
    result: dict
    metrics: list[dict]
    final_params: np.ndarray
    manifest: dict


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read the config, result, metrics and final parameters of a run directory."""
    run_dir = Path(run_dir)
    try:
        result = json.loads((run_dir / "result.json").read_text())
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name
        raise QjaxError(f"{run_dir} is not a finished qjax run directory: {missing} is missing") from None
    metrics_path = run_dir / "metrics.jsonl"
    metrics = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()] \
        if metrics_path.exists() else []
    return Run(manifest.get("config", {}), result, metrics, np.asarray(result["final_params"]), manifest)
