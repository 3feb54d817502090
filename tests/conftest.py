"""Fixtures shared by the tests: composing configs, training in process, running the CLI.

Independent numeric references (PennyLane, Qiskit) live in ``oracles.py``; the list of
config files in ``config_files.py``. Test modules import neither from each other.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

#: The checkout (pyproject.toml, conf/, scripts/).
ROOT = Path(__file__).resolve().parents[1]


def compose_config(*overrides: str, config_name: str = "config"):
    """The Hydra config ``python -m qjax.train <overrides>`` would get (not validated)."""
    with initialize_config_module(config_module="qjax.conf", version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


@pytest.fixture
def train_in_process(tmp_path, monkeypatch):
    """``train(*overrides) -> result dict``: :func:`qjax.train.run` in this process, run dir = ``tmp_path``.

    ``precision=double`` switches JAX's 64-bit mode on for the process; it is set back afterwards, so later
    tests see the default (complex64 without x64)."""
    import jax

    from qjax.train import run

    def train(*overrides: str) -> dict:
        monkeypatch.chdir(tmp_path)
        return run(compose_config(*overrides))

    x64 = jax.config.read("jax_enable_x64")
    yield train
    jax.config.update("jax_enable_x64", x64)


def run_cli(cwd, *args: str, module: str = "qjax.train", timeout: float = 300, env: dict | None = None):
    """``python -m <module> <args>`` in ``cwd``; the completed process (stdout/stderr as text)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


@pytest.fixture(name="compose")
def compose_fixture():
    """:func:`compose_config` as a fixture: ``compose(*overrides, config_name="config")``."""
    return compose_config


@pytest.fixture(name="cli")
def cli_fixture():
    """:func:`run_cli` as a fixture: ``cli(cwd, *args, module="qjax.train", timeout=300, env=None)``."""
    return run_cli
