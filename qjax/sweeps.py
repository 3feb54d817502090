"""Sweep summaries: a Hydra callback that tabulates a multirun when it ends.

``python -m qjax.train -m +experiment=vqe problem.bond_length=0.5,0.7414,1.0``
runs one job per value (each with its own checkpoint directory, so rerunning an
interrupted sweep resumes every member and skips finished ones). When the sweep
ends, :class:`SweepSummary` reads every member's ``result.json`` and writes, in
the sweep directory:

- ``summary.csv`` and ``summary.md``: one row per member, its swept values and
  its results (energy, exact energy, error, steps, jobs; QAOA ratios when present;
  the error message of a member that failed);
- ``summary.png``: the energy (and the exact energy) against the first numeric
  swept key, e.g. an H2 dissociation curve.

The same holds with the cluster launchers (``hydra/launcher=ray_cluster``, ``slurm``,
``submitit_local``; docs/cluster.md): members find their checkpoints under
``checkpoint.root``, which must then be a filesystem every node sees.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

__all__ = ["SweepSummary", "summarise"]

log = logging.getLogger("qjax")

#: result.json fields reported per member, in this order, when present.
COLUMNS = (
    "status",
    "energy",
    "exact_energy",
    "error",
    "energy_unmitigated",
    "approx_ratio",
    "best_sampled_cut",
    "test_accuracy",
    "steps",
    "num_jobs",
    "wall_time_s",
    "already_finished",
    "error_message",
)


def _swept(member: Path) -> dict[str, str]:
    """``key → value`` of the overrides that made this member (from its ``.hydra/overrides.yaml``)."""
    path = member / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    out = {}
    for item in OmegaConf.load(path):
        key, _, value = str(item).partition("=")
        out[key.lstrip("+~")] = value
    return out


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def summarise(sweep_dir: str | Path) -> list[dict]:
    """Write ``summary.csv``, ``summary.md`` and ``summary.png`` for the sweep in ``sweep_dir``; return the rows."""
    sweep_dir = Path(sweep_dir)
    members = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    rows, swept_keys = [], []
    for member in members:
        overrides = _swept(member)
        result_path = member / "result.json"
        result = json.loads(result_path.read_text()) if result_path.exists() else {"status": "no result"}
        result.setdefault("status", "ok")
        rows.append({"member": int(member.name), **overrides, **{k: result.get(k) for k in COLUMNS}})
        for key in overrides:
            if key not in swept_keys:
                swept_keys.append(key)
    # keys with one value across the sweep are not what was swept
    varying = [k for k in swept_keys if len({str(r.get(k)) for r in rows}) > 1] or swept_keys
    header = ["member", *varying, *[c for c in COLUMNS if any(r.get(c) is not None for r in rows)]]
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (sweep_dir / "summary.md").write_text(_markdown(rows, header))
    numeric = next((k for k in varying if all(_number(r.get(k)) is not None for r in rows)), None)
    if numeric is not None and any(r.get("energy") is not None for r in rows):
        _plot(rows, numeric, sweep_dir / "summary.png")
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.7g}"
    return str(value).replace("|", "\\|")


def _markdown(rows: list[dict], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(r.get(h)) for h in header) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict], key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # only called when every row's value of `key` is a number
    done = sorted((r for r in rows if r.get("energy") is not None), key=lambda r: float(r[key]))
    x = [float(r[key]) for r in done]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, [r["energy"] for r in done], "o-", label="qjax")
    if all(r.get("exact_energy") is not None for r in done):
        ax.plot(x, [r["exact_energy"] for r in done], "k--", lw=1, label="exact")
    ax.set_xlabel(key)
    ax.set_ylabel("energy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _runs_remotely(config: DictConfig) -> bool:
    """Whether members run in workers of a Ray cluster started elsewhere (they do not start in the launch directory).

    ``hydra/launcher=ray`` without an address starts a private Ray from this process, whose workers do.
    """
    target = str(OmegaConf.select(config, "hydra.launcher._target_", default="") or "")
    address = OmegaConf.select(config, "hydra.launcher.ray.init.address", default=None)
    return "hydra_ray_launcher" in target and address is not None


class SweepSummary(Callback):
    """Hydra callback (``hydra.callbacks.sweep_summary`` in ``conf/config.yaml``): :func:`summarise` each multirun.

    Before a sweep on Ray starts, a relative ``hydra.sweep.dir`` is refused with one line:
    Ray workers start in the directory ``ray start`` ran in, so they would write the members
    there and the summary would find none (the default sweep directory is absolute).
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = str(config.hydra.sweep.dir)
        if _runs_remotely(config) and not Path(sweep_dir).is_absolute():
            print(
                f"qjax: error: hydra.sweep.dir={sweep_dir} is relative, and Ray workers resolve it in the "
                "directory `ray start` ran in; give an absolute path that every node sees "
                "(a shared filesystem), e.g. hydra.sweep.dir=/shared/sweeps/NAME",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(2)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = summarise(sweep_dir)
        failed = [r for r in rows if r.get("status") not in ("ok", None)]
        print(f"sweep summary: {len(rows)} members, {len(failed)} failed; {sweep_dir / 'summary.md'}", flush=True)
        for r in failed:
            print(f"  member {r['member']}: {r.get('status')}: {r.get('error_message') or ''}", flush=True)
        if failed:
            sys.exit(2)
