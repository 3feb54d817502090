"""``logger=tensorboard``: scalars per step and the final result, via tensorboardX (no TensorFlow needed)."""

from __future__ import annotations

import json
import numbers
from pathlib import Path

from tensorboardX import SummaryWriter

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger:
    def __init__(self, cfg):
        self.cfg = cfg

    def start(self, config: dict, run_dir: str) -> None:
        self.writer = SummaryWriter(logdir=self.cfg.log_dir or str(Path(run_dir) / "tensorboard"))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")

    def log(self, row: dict) -> None:
        for key, value in row.items():
            if key != "step" and isinstance(value, numbers.Real):
                self.writer.add_scalar(key, value, row["step"])

    def finish(self, result: dict) -> None:
        for key, value in result.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(f"result/{key}", value, result.get("steps", 0))
        self.writer.close()
