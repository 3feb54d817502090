"""The service fuzzed from its own OpenAPI document (schemathesis): no request gets a 5xx, none hangs.

Schemathesis generates requests for every operation, valid ones (bodies shaped like the batch schema that
``POST /v1/jobs`` declares) and invalid ones, and sends them with a valid API key so the authenticated paths are
reached. Kept small for CI (``MAX_EXAMPLES`` per operation); ``scripts/fuzz_service.py`` runs many more.
"""

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from qjax.serve.app import Settings, create_app
from qjax.serve.auth import KeyRing

KEY = "fuzz-key-" + "f" * 24
MAX_EXAMPLES = 50  # per operation: about 200 requests, 20 s on 2 shared cores (scripts/fuzz_service.py: 7,000)


def fuzz_app(data_dir: str):
    """The service without workers (accepted jobs stay queued), rate limits out of the way."""
    settings_ = Settings(
        db_url=f"sqlite:///{data_dir}/jobs.db", workers=0, rate=1e9, burst=10**9, jobs_per_day=None, shots_per_day=None
    )
    return create_app(settings_, KeyRing.from_keys([KEY]), run_workers=False)


APP = fuzz_app(tempfile.mkdtemp(prefix="qjax-fuzz-"))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


def test_the_openapi_document_describes_the_batch_body():
    body = SCHEMA.raw_schema["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"target", "circuit", "params"}  # observables too, unless kind=samples
    assert body["properties"]["kind"]["enum"] == ["expectations", "samples"]
    assert body["properties"]["target"]["enum"] == ["simulator", "noisy_simulator", "ibm_fake"]
    assert len(body["properties"]["circuit"]["oneOf"]) == 2


@pytest.mark.timeout(120)
@SCHEMA.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_request_gets_a_server_error(case):
    response = case.call(headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
    assert "Traceback" not in response.text
    content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: header -> list of values
    if response.status_code >= 400 and content_type.startswith("application/json"):
        assert "error" in response.json()
