"""The configs ship inside the package: the CLI finds ``conf/`` from an installed
wheel, run from a directory that is not a checkout, as well as from the checkout."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_every_config_and_the_cli_finds_them(tmp_path):
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheel_dir)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheel_dir.glob("qjax-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("qjax/conf/")}
    on_disk = {"qjax/conf/" + p.relative_to(ROOT / "conf").as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert on_disk and on_disk <= shipped
    # every module ships: an editable install next to the test would otherwise hide a missing package
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "qjax").rglob("*.py")}
    assert modules - set(zipfile.ZipFile(wheel).namelist()) == set()

    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import qjax, qjax.conf; print(qjax.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site), "the wheel's qjax must win over the checkout"

    proc = subprocess.run(
        [sys.executable, "-m", "qjax.train", "+experiment=vqe", "trainer.steps=2", "hydra.run.dir=run"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((work / "run" / "result.json").read_text())
    assert result["steps"] == 2 and result["problem"] == "h2"
    assert (work / "checkpoints").is_dir()
