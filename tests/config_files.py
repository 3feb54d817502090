"""Every config file under ``conf/`` as the overrides that select it (shared by the
config and experiment tests, so both cover the same files)."""

from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"

# Options that cannot run with the defaults alone, and what they need beside them:
# tfim has no electrons, so the default UCC ansatz cannot apply.
COMPANIONS = {("problem", "tfim"): ["ansatz=hea"]}


def config_files() -> list[tuple[str, str]]:
    """(group, option) for every YAML file of a group under conf/, found on disk."""
    files = sorted(CONF.glob("*/*.yaml"))
    assert files, f"no config files under {CONF}"
    return [(p.parent.name, p.stem) for p in files]


def overrides_for(group: str, option: str) -> list[str]:
    """The command-line overrides that select ``group=option`` in a runnable config."""
    if group == "experiment":
        return [f"+experiment={option}"]
    return ["+experiment=vqe", f"{group}={option}", *COMPANIONS.get((group, option), [])]
