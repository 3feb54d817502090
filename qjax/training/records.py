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

from qjax.errors import QjaxError
from qjax.ir.circuit import Circuit

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
    "qjax",
    "jax",
    "jaxlib",
    "optax",
    "orbax-checkpoint",
    "pennylane",
    "qiskit",
    "qiskit-ibm-runtime",
    "qiskit-aer",
    "hydra-core",
    "omegaconf",
    "numpy",
    "scipy",
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
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'-dirty' if dirty else ''}"


def circuit_summary(circuit: Circuit) -> dict:
    """OpenQASM 3 text, depth and gate counts of ``circuit`` for the manifest."""
    from qjax.interop.qiskit import to_qasm

    return {
        "num_wires": circuit.num_wires,
        "num_params": circuit.num_params,
        "depth": circuit.depth(),
        "gate_counts": circuit.gate_counts(),
        "qasm": to_qasm(circuit),
    }


def plot_convergence(
    metrics: list[dict],
    path: str | os.PathLike,
    *,
    exact: float | None = None,
    label: str = "loss",
    title: str = "",
    target: tuple[float, str] | None = None,
) -> None:
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
    """Read the config, result, metrics and final parameters of a run directory.

    A directory that is not a finished run (a file missing, not JSON, not the
    shape qjax writes) raises :class:`QjaxError` naming the file and what is wrong.
    """
    run_dir = Path(run_dir)
    result = _read_record(run_dir, "result.json")
    manifest = _read_record(run_dir, "manifest.json")
    config = manifest.get("config", {})
    if not isinstance(config, dict):
        raise QjaxError(
            f"{run_dir / 'manifest.json'}: 'config' must be a mapping, got {type(config).__name__}; "
            "is this a qjax run directory?"
        )
    params = result.get("final_params")
    try:
        final_params = np.asarray(params, dtype=float)
    except (TypeError, ValueError):
        final_params = None
    if final_params is None or final_params.ndim != 1 or not np.all(np.isfinite(final_params)):
        raise QjaxError(
            f"{run_dir / 'result.json'}: 'final_params' must be a list of finite numbers; "
            "is this a finished qjax run directory?"
        )
    metrics_path = run_dir / "metrics.jsonl"
    metrics = []
    if metrics_path.exists():
        try:
            metrics = [json.loads(line) for line in _read_bounded(metrics_path).splitlines() if line.strip()]
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            raise QjaxError(
                f"{metrics_path} is not JSON lines ({type(exc).__name__}); is this a qjax run directory?"
            ) from None
    return Run(config, result, metrics, final_params, manifest)


#: The most a run record may hold when read back: far above what a run writes (a 100k-step
#: metrics.jsonl is ~20 MB), and a bound for a path that points at /dev/zero or a FIFO.
MAX_RECORD_BYTES = 256 << 20


def _read_bounded(path: Path) -> str:
    if path.exists() and not path.is_file():  # a device or FIFO: reading it could block or never end
        raise QjaxError(f"{path} is not a regular file; is this a qjax run directory?")
    with open(path, "rb") as f:
        data = f.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise QjaxError(f"{path} is larger than {MAX_RECORD_BYTES >> 20} MiB; is this a qjax run directory?")
    return data.decode()


def _read_record(run_dir: Path, name: str) -> dict:
    """One JSON object file of a run directory; :class:`QjaxError` when missing, unreadable or not an object."""
    path = run_dir / name
    try:
        record = json.loads(_read_bounded(path))
    except FileNotFoundError:
        raise QjaxError(f"{run_dir} is not a finished qjax run directory: {name} is missing") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise QjaxError(
            f"{path} cannot be read as JSON ({type(exc).__name__}); is this a finished qjax run directory?"
        ) from None
    if not isinstance(record, dict):
        raise QjaxError(
            f"{path} must hold a JSON object, got {type(record).__name__}; is this a finished qjax run directory?"
        )
    return record
