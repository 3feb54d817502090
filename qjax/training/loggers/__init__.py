"""Optional experiment trackers: ``logger=csv|tensorboard|mlflow`` (off by default).

Every run writes its run directory (``metrics.jsonl``, ``result.json``,
``manifest.json``) whatever the logger; a logger also sends the same numbers to a
tracker. One protocol (:class:`RunLogger`), one file per tracker, one registry line
each; a tracker's package is imported only when chosen (extras ``tensorboard`` and
``mlflow``). The config schemas (``CSVLoggerConfig``, ...) live in :mod:`qjax.schemas`
with the other groups, re-exported here.
"""

from __future__ import annotations

from importlib import import_module
from typing import Protocol

from qjax.errors import ConfigError
from qjax.schemas import CSVLoggerConfig, MLflowLoggerConfig, TensorBoardLoggerConfig

__all__ = ["RunLogger", "LOGGERS", "make_logger", "CSVLoggerConfig", "TensorBoardLoggerConfig", "MLflowLoggerConfig"]


class RunLogger(Protocol):
    """Receives a run's config once, each metric row as it is produced, then the result."""

    def start(self, config: dict, run_dir: str) -> None: ...

    def log(self, row: dict) -> None: ...

    def finish(self, result: dict) -> None: ...


#: ``logger=`` option → ``module:class`` of its implementation, imported when chosen.
LOGGERS = {
    "csv": "qjax.training.loggers.csv_logger:CSVLogger",
    "tensorboard": "qjax.training.loggers.tensorboard_logger:TensorBoardLogger",
    "mlflow": "qjax.training.loggers.mlflow_logger:MLflowLogger",
}

_EXTRAS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def make_logger(cfg) -> RunLogger:
    """The logger for a validated ``logger`` config; a missing tracker package is a one-line error."""
    module, cls = LOGGERS[cfg.name].split(":")
    try:
        return getattr(import_module(module), cls)(cfg)
    except ImportError as exc:
        raise ConfigError(
            f'logger={cfg.name} needs {exc.name}; install it with pip install -e ".[{_EXTRAS[cfg.name]}]" '
            "(or drop logger=)"
        ) from None
