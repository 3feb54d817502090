"""Every config file under ``conf/`` as the overrides that select it (shared by the
config and experiment tests, so both cover the same files)."""

from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"

# Options that cannot run with the defaults alone, and what they need beside them:
# tfim has no electrons, so the default UCC ansatz cannot apply.
# Mitigation only applies on a noisy backend: a small problem on a fake device, with few
# twirls, keeps those runs to seconds.
_FAKE_SMALL = [
    "backend=ibm_fake",
    "problem=tfim",
    "problem.n=2",
    "ansatz=hea",
    "ansatz.layers=1",
    "backend.shots=200",
    "backend.seed_simulator=0",
]
_FEW_TWIRLS = ["mitigation.twirling.num_randomizations=2", "mitigation.twirling.shots_per_randomization=100"]
COMPANIONS = {
    ("problem", "tfim"): ["problem.n=4"],
    ("problem", "maxcut"): ["problem.n=6"],
    ("ansatz", "qaoa"): ["problem=maxcut", "problem.n=6"],
    ("ansatz", "for_maxcut"): ["problem=maxcut", "problem.n=6"],
    ("ansatz", "for_tfim"): ["problem=tfim", "problem.n=4"],
    # the data sets and their classifier ansatz run under +experiment=classifier only
    ("problem", "iris"): ["experiment=classifier"],
    ("problem", "moons"): ["experiment=classifier"],
    ("problem", "breast_cancer"): ["experiment=classifier"],
    ("ansatz", "reupload"): ["experiment=classifier"],
    ("ansatz", "for_iris"): ["experiment=classifier", "problem=iris"],
    ("ansatz", "for_moons"): ["experiment=classifier", "problem=moons"],
    ("ansatz", "for_breast_cancer"): ["experiment=classifier", "problem=breast_cancer"],
    ("backend", "ibm_fake"): _FAKE_SMALL[1:],
    ("mitigation", "readout"): _FAKE_SMALL,
    ("mitigation", "zne"): _FAKE_SMALL,
    ("mitigation", "dd"): _FAKE_SMALL,
    ("mitigation", "twirling"): _FAKE_SMALL + _FEW_TWIRLS,
    ("mitigation", "best"): _FAKE_SMALL + _FEW_TWIRLS,
    # reference-state mitigation needs a molecule with UCC (Hartree–Fock at 0): tapered H2 on the exact twin
    ("mitigation", "rem"): ["backend=noisy_simulator", "backend.noise.readout_error=0.02"],
    ("mitigation", "readout_rem"): ["backend=noisy_simulator", "backend.noise.readout_error=0.02"],
}

#: Options that need an IBM Quantum account to run (composed and validated only, offline).
NEEDS_ACCOUNT = {("backend", "ibm")}
#: Options that need a running qjax service (trained end to end in tests/test_remote_backend.py).
NEEDS_SERVICE = {("backend", "remote")}


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
