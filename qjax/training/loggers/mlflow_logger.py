"""``logger=mlflow``: params (the flattened config), metrics per step, result and artifacts.

The default tracking URI is the local file store ``<launch dir>/mlruns`` (``mlflow ui``
reads it); nothing leaves the machine unless ``logger.tracking_uri`` says so.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import mlflow

__all__ = ["MLflowLogger"]


def _flatten(node, prefix: str = "") -> dict:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class MLflowLogger:
    def __init__(self, cfg):
        self.cfg = cfg

    def start(self, config: dict, run_dir: str) -> None:
        self.run_dir = Path(run_dir)
        uri = self.cfg.tracking_uri
        if uri is None:
            uri = (Path(os.getcwd()) / "mlruns").as_uri()
            # MLflow 3 keeps the file store in maintenance mode and refuses it unless allowed; it still works
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(self.cfg.experiment_name)
        name = self.cfg.run_name or f"{config.get('experiment')}-{config.get('problem', {}).get('name')}"
        self.run = mlflow.start_run(run_name=name)
        params = {k: v for k, v in _flatten(config).items() if v is not None}
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log(self, row: dict) -> None:
        metrics = {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, numbers.Real)}
        mlflow.log_metrics(metrics, step=int(row["step"]))

    def finish(self, result: dict) -> None:
        final = {
            f"final_{k}": float(v) for k, v in result.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)
        }
        mlflow.log_metrics(final)
        for name in ("result.json", "manifest.json", "convergence.png"):
            if (self.run_dir / name).exists():
                mlflow.log_artifact(str(self.run_dir / name))
        mlflow.end_run()
