"""Hostile requests against the service's HTTP API: each gets a 4xx that names the field and the limit, promptly,
echoes no server file and nothing large, and creates no job.

Each case here reproduced a problem on the service before it was fixed (a file's first token in the error, 103 s
and 6 GB for a 1 kB program, a 500, every key's jobs on the public page, ...).
"""

import json

import pytest
from fastapi.testclient import TestClient

import qjax
from qjax.ir.ansatze import hardware_efficient
from qjax.ir.circuit import Operation
from qjax.serve.app import Settings, create_app
from qjax.serve.auth import KeyRing
from qjax.wire import Limits, encode_circuit, json_depth

KEY = "limits-test-key-" + "k" * 16
A = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
SMALL = hardware_efficient(3, 1, ("RY",), "chain")


def batch(**overrides):
    doc = {
        "target": "simulator",
        "circuit": encode_circuit(SMALL),
        "observables": [[[1.0, "Z0"]]],
        "params": [[0.1] * SMALL.num_params],
    }
    return doc | overrides


def qasm(source, **overrides):
    return batch(circuit={"format": "openqasm3", "source": source}, params=[[]], **overrides)


def make(tmp_path, **settings):
    return create_app(
        Settings(db_url=f"sqlite:///{tmp_path}/jobs.db", workers=0, **settings),
        KeyRing.from_keys([KEY]),
        run_workers=False,
    )


@pytest.fixture
def idle(tmp_path):
    with TestClient(make(tmp_path)) as c:
        yield c


def post(client, doc):
    content = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
    return client.post("/v1/jobs", content=content, headers=A)


def assert_refused(r, status, field, *words, client=None):
    assert r.status_code == status, r.text[:500]
    error = r.json()
    assert error["field"] == field and all(w in error["error"] for w in words), error
    assert len(r.content) < 2000 and "Traceback" not in r.text
    if client is not None:
        assert client.app.state.service.store.counts()["queued"] == 0


BOMB = (
    'OPENQASM 2.0; include "qelib1.inc"; gate g0 a { x a; } '
    + " ".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, 19))
    + " qreg q[1]; g18 q[0];"
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "source",
    [
        'OPENQASM 2.0; include "/etc/passwd"; qreg q[2]; h q[0];',
        'OPENQASM 2.0; include "/proc/self/environ"; qreg q[2];',
        'OPENQASM 2.0; include "pyproject.toml"; qreg q[2];',
        "OPENQASM 2.0;\ninclude\n'/etc/passwd'\n;\nqreg q[2];",
        'OPENQASM 3.0; include "/etc/passwd"; qubit[2] q; h q[0];',
    ],
)
def test_includes_of_server_files_are_refused_and_echo_nothing(idle, source):
    r = post(idle, qasm(source))
    assert_refused(r, 422, "circuit.source", "only the standard library", client=idle)
    assert "root" not in r.text and "passwd:" not in r.text and "environ:" not in r.text and "[build" not in r.text


@pytest.mark.timeout(60)  # 103 s and 6 GB before
def test_the_gate_definition_bomb_is_refused_at_once(idle):
    assert len(BOMB) < 1200
    assert_refused(post(idle, qasm(BOMB)), 413, "circuit.source", "20,000 operations", client=idle)


@pytest.mark.timeout(60)
def test_qasm_sources_over_the_size_limit_get_413(tmp_path):
    with TestClient(make(tmp_path, limits=Limits(max_qasm_bytes=10_000))) as c:
        source = 'OPENQASM 3.0; include "stdgates.inc"; qubit[2] q;' + " h q[0];" * 2000
        assert_refused(post(c, qasm(source)), 413, "circuit.source", "10,000", "qjax.circuit", client=c)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    ["[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000, '{"params": ' + "[" * 65 + "]" * 65 + "}"],
)
def test_deeply_nested_json_gets_400_not_500(idle, text):
    assert_refused(post(idle, text), 400, "body", "nests", "at most 64 levels", client=idle)


def test_nesting_is_measured_outside_strings_and_through_escapes():
    assert json_depth(b'{"a": [1, {"b": "[[[[{{"}]}') == 3
    assert json_depth(b'["\\"[[[", "\\\\", [[]]]') == 3
    assert json_depth(b'"[[[[[' + b"\\" * 7 + b'"' + b"[[" + b'"') == 0  # an escaped quote does not end the string
    assert json_depth(b"[" * 64 + b"]" * 64) == 64 and json_depth(b"") == 0
    doc = {"k": [[["x", {"y": [1, 2, "]]]]"]}]]]}
    assert json_depth(json.dumps(doc).encode()) == 6


def test_a_batch_nested_64_deep_is_still_read(tmp_path):
    mitigation = {"name": "none"}
    for _ in range(60):  # 1 (body) + 61 (mitigation) levels: within 64, refused for its content only
        mitigation = {"name": "none", "x": mitigation}
    assert_refused(post(TestClient(make(tmp_path)), batch(mitigation=mitigation)), 422, "mitigation")


@pytest.mark.parametrize("query", ["api_key", "key", "token", "access_token", "apikey"])
def test_api_keys_in_the_query_string_are_not_accepted(idle, query):
    for method, path in (("get", "/v1/jobs"), ("post", "/v1/jobs"), ("get", "/v1/jobs/" + "0" * 32)):
        r = getattr(idle, method)(f"{path}?{query}={KEY}")
        assert r.status_code == 401 and r.json()["field"] == "authorization", (method, path, query)
        assert KEY not in r.text


def test_the_public_page_shows_aggregates_only(idle):
    job = post(idle, batch()).json()["id"]
    key_id = idle.app.state.service.store.get(job).key_id
    page = idle.get("/").text
    assert job[:8] not in page and key_id[:8] not in page and 'id="jobs"' not in page
    assert '<b class="queued">1</b>' in page and 'id="backends"' in page  # the counts are there
    mine = idle.get("/v1/jobs", headers=A).json()["jobs"]  # a key sees its own jobs through the API
    assert [j["id"] for j in mine] == [job]


def test_public_jobs_lists_recent_jobs_without_key_ids(tmp_path):
    with TestClient(make(tmp_path, public_jobs=True)) as c:
        job = post(c, batch()).json()["id"]
        page = c.get("/").text
        assert job[:8] in page and 'id="jobs"' in page
        assert c.app.state.service.store.get(job).key_id[:8] not in page and KEY not in page


def test_the_cli_flag_turns_the_public_job_list_on(tmp_path, monkeypatch):
    from qjax.serve.__main__ import build, parse_args

    monkeypatch.setenv("QJAX_API_KEYS", KEY)
    for argv, public in (([], False), (["--public-jobs"], True)):
        app = build(parse_args(["--data-dir", str(tmp_path), *argv]))
        with TestClient(app) as c:
            post(c, batch())
            assert ('id="jobs"' in c.get("/").text) is public
        for w in app.state.service.workers:
            w.stop()


WIDE = hardware_efficient(20, 1, ("RY",), "chain")
DEEP = qjax.Circuit(20).extend([Operation("H", (i % 20,)) for i in range(20_000)])


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "doc, status, field, words",
    [
        (
            {
                "target": "simulator",
                "circuit": encode_circuit(DEEP),
                "observables": [[[1.0, "Z0"]]],
                "params": [[]] * 4096,
            },
            413,
            "params",
            ["limit per job is 1e+11"],
        ),
        (
            batch(target="noisy_simulator", circuit=encode_circuit(WIDE), params=[[0.1] * WIDE.num_params]),
            413,
            "circuit",
            ["GiB of state per parameter set"],
        ),
        (
            batch(
                target="noisy_simulator", mitigation={"name": "zne", "zne": {"noise_factors": list(range(1, 800, 2))}}
            ),
            422,
            "mitigation",
            ["noise_factors", "400 items", "2..8"],
        ),
        (
            batch(observables=[[[1.0, f"X{j % 3} Z{(j + 1) % 3}"] for j in range(1500)]] * 2),
            413,
            "observables[1]",
            ["2,000"],
        ),
        (batch(observables=[[[1.0, "Z0 " * 300_000]]]), 422, "observables[0][0][1]", ["Pauli word"]),
        (batch(observables=[[[1.0, "Z" + "9" * 5000]]]), 422, "observables[0][0][1]", ["Pauli word"]),
        (batch(observables=[[[1.0, "Z" + "9" * 50]]]), 422, "observables[0]", ["wire"]),
        (
            batch(circuit=encode_circuit(SMALL) | {"operations": [{"gate": "G" * 1_000_000, "wires": [0]}]}),
            422,
            "circuit.operations[0]",
            ["unknown gate"],
        ),
        (batch(circuit=encode_circuit(SMALL) | {"num_wires": 10**9}), 422, "circuit.num_wires", ["limit of 20"]),
        (
            batch(
                target="noisy_simulator", mitigation={"name": "zne", "zne": {"noise_factors": list(range(1, 4000, 2))}}
            ),
            413,
            "mitigation",
            ["4,096"],
        ),
    ],
)
def test_sizes_set_by_the_request_are_bounded_before_anything_that_size_exists(idle, doc, status, field, words):
    assert_refused(post(idle, doc), status, field, *words, client=idle)


def test_a_wide_batch_within_the_limits_is_accepted(idle):
    doc = {
        "target": "simulator",
        "circuit": encode_circuit(WIDE),
        "observables": [[[1.0, "Z0"]]],
        "params": [[0.1] * WIDE.num_params] * 1024,
    }  # 8.6 GB in one vmap; the worker runs it in 1 GiB chunks
    r = post(idle, doc)
    assert r.status_code == 202, r.text
    from qjax.serve.targets import chunk_rows
    from qjax.wire import decode_batch

    assert chunk_rows(decode_batch(doc, ("simulator",))) == 16


@pytest.mark.parametrize("wait", ["nan", "inf", "-inf", "1e308", "31"])
def test_long_poll_waits_are_bounded(idle, wait):
    job = post(idle, batch()).json()["id"]
    r = idle.get(f"/v1/jobs/{job}?wait={wait}", headers=A)
    assert r.status_code == 422 and r.json()["field"] == "wait"


def test_arbitrary_http_methods_do_not_grow_the_metrics(idle):
    for k in range(5):
        assert idle.request(f"FROB{k}", "/v1/jobs").status_code == 405
    text = idle.get("/metrics").text
    assert "FROB" not in text and 'method="OTHER"' in text
