"""``logger=csv``: ``metrics.csv`` in the run directory."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["CSVLogger"]


class CSVLogger:
    def __init__(self, cfg):
        self._file = self._writer = None

    def start(self, config: dict, run_dir: str) -> None:
        self._path = Path(run_dir) / "metrics.csv"

    def log(self, row: dict) -> None:
        if self._writer is None:
            self._file = open(self._path, "w", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=list(row), extrasaction="ignore")
            self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def finish(self, result: dict) -> None:
        if self._file is not None:
            self._file.close()
