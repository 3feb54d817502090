"""Print the schema defaults of every hashed config key as a dict literal (for qjax/config_baseline.py).

Run once to freeze ``BASELINE``; it prints, never writes. Later keys go into ``ADDED`` by hand, with the
value that reproduces the old behaviour (which need not be the new default).
"""

import dataclasses
import pprint

from qjax.config import HASH_EXCLUDED
from qjax.schemas import FIXED_GROUPS, GROUPS, SCHEMAS, Globals


def _defaults(cls: type, prefix: str = "") -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.name == "name":
            continue
        if dataclasses.is_dataclass(f.type):
            out.update(_defaults(f.type, f"{prefix}{f.name}."))
        elif f.default is not dataclasses.MISSING:
            value = f.default
            out[prefix + f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _hashed(group: str, values: dict) -> dict:
    return {k: v for k, v in values.items() if group not in HASH_EXCLUDED and f"{group}.{k}" not in HASH_EXCLUDED}


def baseline() -> dict:
    out = {"globals": {k: v for k, v in _defaults(Globals).items() if k != "experiment"}}
    for group in GROUPS:
        if group in FIXED_GROUPS:
            if group not in HASH_EXCLUDED:
                out[group] = _hashed(group, _defaults(FIXED_GROUPS[group]))
            continue
        for name, cls in sorted(SCHEMAS[group].items()):
            out[f"{group}.{name}"] = _hashed(group, _defaults(cls))
    return out


if __name__ == "__main__":
    pprint.pprint(baseline(), sort_dicts=True, width=110)
