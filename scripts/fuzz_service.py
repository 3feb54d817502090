"""Fuzz the execution service from its OpenAPI document, many more cases than the test suite runs.

    python scripts/fuzz_service.py --examples 500          # per operation and generation mode

Schemathesis generates valid (``positive``) and invalid (``negative``) requests for
every operation of ``/openapi.json``; each is sent in process (ASGI) with a valid API
key, so the authenticated paths are reached. The service runs without workers
(accepted jobs stay queued: what is fuzzed is the API, not the simulators). Prints
the cases generated per operation and mode, the status codes seen, and every server
error (5xx) with its request; exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time

KEY = "fuzz-key-" + "f" * 24


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=300, help="cases per operation and generation mode")
    p.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    args = p.parse_args(argv)

    import schemathesis
    from hypothesis import HealthCheck, seed, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    from qjax.serve.app import Settings, create_app
    from qjax.serve.auth import KeyRing

    app = create_app(
        Settings(
            db_url=f"sqlite:///{tempfile.mkdtemp(prefix='qjax-fuzz-')}/jobs.db",
            workers=0,
            rate=1e9,
            burst=10**9,
            jobs_per_day=None,
            shots_per_day=None,
        ),
        KeyRing.from_keys([KEY]),
        run_workers=False,
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    cases, statuses, errors = collections.Counter(), collections.Counter(), []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in GenerationMode:
            run = _runner(
                operation.as_strategy(generation_mode=mode),
                f"{operation.method.upper()} {operation.path} [{mode.value}]",
                cases,
                statuses,
                errors,
            )
            run = settings(
                max_examples=args.examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
            )(run)
            if args.seed is not None:
                run = seed(args.seed)(run)
            try:
                run()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                pass
    elapsed = time.monotonic() - started
    for label in sorted(cases):
        codes = ", ".join(f"{code}: {n}" for (lab, code), n in sorted(statuses.items()) if lab == label)
        print(f"{label:45s} {cases[label]:6d} cases   {codes}")
    print(f"\n{sum(cases.values())} cases in {elapsed:.0f} s; server errors (5xx or a traceback): {len(errors)}")
    for error in errors[:20]:
        print(json.dumps(error, indent=1))
    return 1 if errors else 0


def _runner(strategy, label: str, cases, statuses, errors):
    """A hypothesis test that sends each generated case and records what came back."""
    from hypothesis import given

    @given(strategy)
    def run(case):
        response = case.call(headers={"Authorization": f"Bearer {KEY}"})
        cases[label] += 1
        statuses[(label, response.status_code)] += 1
        if response.status_code >= 500 or "Traceback" in response.text:
            errors.append(
                {
                    "operation": label,
                    "status": response.status_code,
                    "request": {"path": case.formatted_path, "query": case.query, "body": repr(case.body)[:2000]},
                    "response": response.text[:500],
                }
            )

    return run


if __name__ == "__main__":
    sys.exit(main())
