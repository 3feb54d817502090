"""The service as several processes on one store: roles, readiness through the store, the rate limit shared by API
processes, start-up refusals (unreachable store, wrong PostgreSQL credentials, no targets), and the multi-process
fault run on a real PostgreSQL server (2 API + 3 worker processes, kill -9 of one of each mid-load)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qjax.serve.__main__ import build, main, parse_args
from qjax.serve.process import free_port
from qjax.wire import encode_circuit, encode_observable

KEY = "cluster-test-key-0123456789"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _refusal(capsys, monkeypatch, *argv, keys=KEY):
    monkeypatch.setenv("QJAX_API_KEYS", keys)
    rc = main(list(argv))
    err = capsys.readouterr().err.strip()
    return rc, err


def test_an_unreachable_store_stops_a_worker_with_one_line(capsys, monkeypatch):
    url = f"postgresql://qjax:s3cret-pass@127.0.0.1:{free_port()}/qjax"
    rc, err = _refusal(capsys, monkeypatch, "--role", "worker", "--db-url", url, keys="")
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "cannot open the job store postgresql://qjax:***@127.0.0.1" in err and "--db-url" in err
    assert "s3cret-pass" not in err


def test_wrong_postgresql_credentials_stop_the_service_without_printing_the_password(
    capsys, monkeypatch, postgres, pg_url
):
    from qjax.serve.localpg import PASSWORD_USER

    wrong = "not-the-" + postgres.password
    url = pg_url.replace("postgres@", f"{PASSWORD_USER}:{wrong}@")
    rc, err = _refusal(capsys, monkeypatch, "--role", "api", "--db-url", url)
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "password authentication failed" in err and wrong not in err and postgres.password not in err
    # the right password opens it
    app = build(parse_args(["--role", "api", "--db-url", url.replace(wrong, postgres.password)]))
    assert app.state.service.store.ping()


def test_a_worker_with_an_empty_target_list_is_refused(capsys, monkeypatch, tmp_path):
    rc, err = _refusal(capsys, monkeypatch, "--role", "worker", "--targets", "", "--data-dir", str(tmp_path))
    assert rc == 2 and len(err.splitlines()) == 1 and "--targets is empty" in err and "Traceback" not in err


def test_a_worker_process_offers_the_default_targets_and_no_api(monkeypatch, tmp_path):
    monkeypatch.delenv("QJAX_API_KEYS", raising=False)  # a worker needs no API keys
    app = build(parse_args(["--role", "worker", "--data-dir", str(tmp_path), "--workers", "2"]))
    with TestClient(app) as c:
        ready = c.get("/readyz").json()
        assert ready["role"] == "worker" and ready["targets"] == ["simulator", "noisy_simulator", "ibm_fake"]
        assert ready["workers"] == 2 and ready["live_workers"] == 2
        assert c.post("/v1/jobs", json={}).status_code == 404 and c.get("/metrics").status_code == 200


def _batch(theta: float) -> dict:
    import qjax

    circuit = qjax.Circuit(1).ry(qjax.Param(0), 0)
    return {
        "target": "simulator",
        "circuit": encode_circuit(circuit),
        "observables": [encode_observable(qjax.PauliSum("Z0"))],
        "params": [[theta]],
    }


def test_api_and_worker_processes_share_a_postgresql_store_and_one_rate_limit(monkeypatch, pg_url):
    import math

    monkeypatch.setenv("QJAX_API_KEYS", KEY)
    common = ["--db-url", pg_url, "--targets", "simulator", "--rate", "0.01", "--burst", "3", "--lease-s", "3"]
    api1, api2 = (build(parse_args(["--role", "api", *common])) for _ in range(2))
    worker = build(parse_args(["--role", "worker", "--workers", "1", *common]))
    auth = {"Authorization": f"Bearer {KEY}"}
    with TestClient(api1) as a, TestClient(api2) as b:
        assert a.get("/readyz").json()["live_workers"] == 0  # nobody runs jobs yet: the API says so
        job = a.post("/v1/jobs", json=_batch(0.7), headers=auth).json()
        with TestClient(worker):
            ready = b.get("/readyz").json()
            assert ready["live_workers"] == 1 and sorted(p["role"] for p in ready["live_processes"]) == [
                "api",
                "api",
                "worker",
            ]
            done = b.get(f"/v1/jobs/{job['id']}?wait=20", headers=auth).json()  # the other API process answers
        assert done["status"] == "done" and done["result"]["values"][0][0] == pytest.approx(math.cos(0.7), abs=1e-6)
        # one bucket of 3 for both processes: submit on a, status on b, list on a; then both refuse
        assert a.get("/v1/jobs", headers=auth).status_code == 200
        refused = b.get("/v1/jobs", headers=auth)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert a.get("/v1/jobs", headers=auth).status_code == 429


def test_two_api_and_three_worker_processes_on_postgresql_survive_kill_9_of_one_of_each(tmp_path, pg_url):
    """The fault run of scripts/serve_cluster.py, CI-sized: every accepted job ends with exactly one result."""
    out = tmp_path / "cluster.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "serve_cluster.py"),
            "--mode",
            "fault",
            "--db-url",
            pg_url,
            "--clients",
            "4",
            "--duration",
            "12",
            "--kill-at",
            "0.3",
            "--lease-s",
            "2",
            "--batch",
            "8",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())["fault"]
    assert report["ok"] and report["accepted"] > 0 and report["done"] == report["accepted"] == report["stored"]
    assert report["lost"] == report["duplicates"] == report["unexpected"] == 0
    assert report["final_counts"]["queued"] == report["final_counts"]["running"] == 0
    assert report["max_abs_error"] < 1e-4 and report["client_failovers"] > 0  # clients did meet the dead API
