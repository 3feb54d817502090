"""PennyLane's own device test suite (``pl-device-test``, shipped with PennyLane) on qjax.simulator.

``pl-device-test`` runs the ``pytest`` found on PATH, so this interpreter's bin folder
goes first. It needs pytest-mock and flaky (in the dev extra). JAX's persistent
compilation cache (:mod:`qjax.jaxcache`'s folder) keeps the suite's few hundred small
circuits compiled between runs. Analytic mode runs by default; the 20k-shot run is
marked slow. Counts measured: see docs/pennylane.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qjax.jaxcache import default_cache_dir


def run_suite(*extra: str) -> dict[str, int]:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    cache = default_cache_dir()
    if cache:
        env.setdefault("JAX_COMPILATION_CACHE_DIR", cache)
        env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    cmd = [str(bin_dir / "pl-device-test"), "--device", "qjax.simulator", *extra]
    cmd += ["-q", "-rfEs", "-p", "no:cacheprovider", "-W", "ignore"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {kind: int(num) for num, kind in re.findall(r"(\d+) (passed|skipped|failed|xfailed|errors?)", summary)}
    assert proc.returncode == 0 and not counts.get("failed") and not counts.get("error") and not counts.get("errors"), (
        proc.stdout[-6000:] + proc.stderr[-2000:]
    )
    assert counts.get("passed", 0) > 300, summary  # the suite really ran
    return counts


def test_pennylane_device_suite_analytic():
    print(run_suite())


@pytest.mark.slow
def test_pennylane_device_suite_with_shots():
    print(run_suite("--shots", "20000"))
