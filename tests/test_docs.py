"""The README's two commands are what CI runs, and the API reference reads the docstrings' Sphinx roles.

The site itself is checked by ``mkdocs build --strict`` in ``.ci/run`` (broken links,
anchors, pages missing from the nav, docstrings it cannot render).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _commands(block: str) -> list[str]:
    """Shell commands of a code block: comments dropped, `a && b` split."""
    out = []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        out += [part.strip() for part in line.split("&&") if part.strip()]
    return out


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert first is not None, "README.md must open with the two commands in a bash block"
    # what the README promises: install everything and run the main job; run the tests
    assert _commands(first.group(1)) == ['pip install -e ".[dev]"', "python -m qjax.train +experiment=vqe", "pytest -q"]
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    for command in _commands(first.group(1)):
        assert command in ci, f".ci/run does not run the README's {command!r}"
    # ...and the README shows them before anything else it asks a reader to run
    assert readme.index("```bash") < readme.index("## ")


@pytest.fixture(scope="module")
def roles():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_roles", ROOT / "docs" / "griffe_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load(tmp_path, roles, files: dict[str, str]):
    import griffe

    (tmp_path / "pkg").mkdir()
    for name, source in files.items():
        (tmp_path / "pkg" / name).write_text(source)
    return griffe.load("pkg", search_paths=[str(tmp_path)], extensions=griffe.load_extensions(roles.SphinxRoles))


def test_roles_become_optional_cross_references(tmp_path, roles):
    init = (
        'from pkg.inner import Thing\n\n\ndef f():\n    """Use :class:`~qjax.ir.circuit.Circuit`, :class:`Thing`, :func:`g` and\n'
        '    :mod:`qjax.sim.fusion`; :class:`Missing` stays code. Example::\n\n        f()\n    """\n\n\ndef g():\n'
        '    """G."""\n'
    )
    pkg = _load(tmp_path, roles, {"__init__.py": init, "inner.py": "class Thing:\n    pass\n"})
    text = pkg["f"].docstring.value
    assert '<autoref identifier="qjax.ir.circuit.Circuit" optional><code>Circuit</code></autoref>' in text
    # a bare name is looked up in the scope of the docstring's object, imports included
    assert '<autoref identifier="pkg.inner.Thing" optional><code>Thing</code></autoref>' in text
    assert '<autoref identifier="pkg.g" optional><code>g()</code></autoref>' in text
    assert '<autoref identifier="qjax.sim.fusion" optional><code>qjax.sim.fusion</code></autoref>' in text
    assert "<code>Missing</code> stays code" in text
    assert "Example:\n" in text and ":class:" not in text and "::" not in text
