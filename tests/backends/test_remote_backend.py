"""``backend=remote`` against a real service process (``python -m qjax.serve``), and its HTTP client.

The must-hold of the service issue: a VQE run through ``backend=remote
backend.target=simulator gradient=parameter_shift`` ends at the same energy (1e-6)
as ``backend=simulator gradient=parameter_shift`` with the same seed.
"""

import json
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest

import qjax
from qjax.backends.remote import RemoteExecutor, RemoteRefused, ServiceClient, ServiceUnreachable
from qjax.errors import ConfigError
from qjax.serve.process import ServiceProcess, free_port

KEY = "remote-test-key-" + "k" * 20
SMALL = ("+experiment=vqe", "problem=tfim", "problem.n=2", "ansatz=hea", "ansatz.layers=1")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with ServiceProcess(tmp_path_factory.mktemp("service"), [KEY]) as svc:
        yield {"url": svc.url, "log": svc.log_path}


def train(cwd, *overrides, key=KEY, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "QJAX_API_KEY"}
    if key is not None:
        env["QJAX_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "qjax.train", *overrides],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_remote_simulator_equals_the_local_simulator_with_parameter_shift(service, tmp_path):
    common = ("+experiment=vqe", "gradient=parameter_shift", "seed=3", "trainer.steps=30")
    remote = train(
        tmp_path,
        *common,
        "backend=remote",
        f"backend.url={service['url']}",
        "backend.target=simulator",
        "hydra.run.dir=remote",
    )
    assert remote.returncode == 0, remote.stderr
    local = train(tmp_path, *common, "backend=simulator", "hydra.run.dir=local")
    assert local.returncode == 0, local.stderr
    r = json.loads((tmp_path / "remote" / "result.json").read_text())
    l = json.loads((tmp_path / "local" / "result.json").read_text())
    assert abs(r["energy"] - l["energy"]) <= 1e-6
    assert r["backend"] == "remote" and r["num_jobs"] == 30 + 1 and "fallbacks" not in r
    manifest = json.loads((tmp_path / "remote" / "manifest.json").read_text())
    ids = manifest["request_ids"]
    assert len(ids) == 31 and len(set(ids)) == 31
    assert manifest["backend"]["target"] == "simulator" and KEY not in json.dumps(manifest)
    logged = service["log"].read_text()
    assert all(f"[{rid}]" in logged for rid in ids)  # the service logged every submission under the client's id
    assert KEY not in logged and "Traceback" not in logged
    assert not list((tmp_path / "remote").rglob("*.yaml")) or KEY not in "".join(
        p.read_text() for p in (tmp_path / "remote").rglob("*.yaml")
    )


def test_a_sampled_target_with_mitigation_reports_both_energies(service, tmp_path):
    proc = train(
        tmp_path,
        *SMALL,
        "backend=remote",
        f"backend.url={service['url']}",
        "backend.target=ibm_fake",
        "mitigation=readout",
        "trainer.steps=2",
        "hydra.run.dir=run",
    )  # shots: ibm_fake's default
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    # two parameter-shift steps and the final evaluation, one service job each: the final job's result carries the
    # unmitigated values too (the same shots without TREX's rescale)
    assert result["num_jobs"] == 3 and result["shots_total"] == 2 * 9 * 4096 + 4096
    assert result["energy_unmitigated"] != result["energy"]
    assert abs(result["energy"] - result["exact_energy"]) < 2.5  # a 2-step run on a noisy device: finite, sane
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert len(manifest["request_ids"]) == 3
    assert manifest["backend"]["device"] == "fake_manila" and manifest["circuit"]["transpiled"]["two_qubit_gates"] >= 1


def test_a_remote_run_resumes_from_its_checkpoint(service, tmp_path):
    args = (*SMALL, "backend=remote", f"backend.url={service['url']}", "gradient=parameter_shift")
    first = train(tmp_path, *args, "trainer.steps=3", "hydra.run.dir=a")
    assert first.returncode == 0, first.stderr
    second = train(tmp_path, *args, "trainer.steps=6", "hydra.run.dir=b")
    assert second.returncode == 0, second.stderr
    assert "resuming from step 3" in second.stdout + second.stderr
    assert json.loads((tmp_path / "b" / "result.json").read_text())["steps"] == 6


def test_a_missing_or_refused_key_is_a_clear_error(service, tmp_path):
    args = (*SMALL, "backend=remote", f"backend.url={service['url']}", "trainer.steps=2")
    missing = train(tmp_path, *args, key=None)
    assert missing.returncode == 2 and "QJAX_API_KEY" in missing.stderr and "Traceback" not in missing.stderr
    refused = train(tmp_path, *args, key="not-the-right-key-" + "x" * 10)
    assert refused.returncode != 0 and "refused the API key" in refused.stderr
    assert "Traceback" not in refused.stderr and "not-the-right-key" not in refused.stderr


def test_a_target_the_service_does_not_offer_is_refused(service, tmp_path):
    proc = train(
        tmp_path, *SMALL, "backend=remote", f"backend.url={service['url']}", "backend.target=ibm", "trainer.steps=2"
    )
    assert proc.returncode == 2 and "backend.target=ibm" in proc.stderr and "offers" in proc.stderr


def test_an_unreachable_service_falls_back_only_when_the_chain_says_so(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    args = (
        *SMALL,
        "backend=remote",
        f"backend.url={url}",
        "backend.retries=1",
        "backend.backoff_s=0.01",
        "trainer.steps=2",
    )
    alone = train(tmp_path, *args, "hydra.run.dir=alone")
    assert alone.returncode == 3 and "does not answer" in alone.stderr
    chained = train(tmp_path, *args, "backend.fallback=[simulator]", "hydra.run.dir=chained")
    assert chained.returncode == 0, chained.stderr
    result = json.loads((tmp_path / "chained" / "result.json").read_text())
    assert result["fallbacks"][0]["from"] == "remote" and result["fallbacks"][0]["to"] == "simulator"
    assert json.loads((tmp_path / "chained" / "manifest.json").read_text())["fallbacks"]


# --- the HTTP client, against scripted answers -------------------------------------------


def scripted(*answers):
    """A transport answering requests in order; records them."""
    seen = []

    def handler(request):
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        status, doc, headers = answer
        return httpx.Response(status, json=doc, headers=headers)

    return httpx.MockTransport(handler), seen


def test_client_waits_retry_after_on_429_and_backs_off_on_connection_errors():
    transport, seen = scripted(
        (429, {"error": "slow down"}, {"Retry-After": "7"}),
        httpx.ConnectError("refused"),
        (200, {"ok": 1}, {"X-Request-ID": "srv-1"}),
    )
    sleeps = []
    client = ServiceClient("http://svc", KEY, retries=3, backoff_s=0.5, transport=transport, sleep=sleeps.append)
    assert client.request("GET", "/v1/jobs", record=True) == (200, {"ok": 1})
    assert sleeps == [7.0, 1.0] and client.request_ids == ["srv-1"]  # Retry-After, then backoff · 2**1
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in seen)
    assert len({r.headers["x-request-id"] for r in seen}) == 3


def test_client_gives_up_after_its_retries_and_refuses_4xx_at_once():
    transport, seen = scripted(httpx.ConnectError("refused"))
    client = ServiceClient("http://svc", KEY, retries=2, backoff_s=0, transport=transport, sleep=lambda s: None)
    with pytest.raises(ServiceUnreachable, match="after 3 attempts"):
        client.request("GET", "/readyz")
    transport, seen = scripted((422, {"error": "params[0]: has 3 values", "field": "params[0]"}, {}))
    client = ServiceClient("http://svc", KEY, retries=5, transport=transport, sleep=lambda s: None)
    with pytest.raises(RemoteRefused, match=r"422: params\[0\]"):
        client.request("POST", "/v1/jobs", body={})
    assert len(seen) == 1


def test_a_lost_answer_is_retried_with_the_same_idempotency_key():
    doc = {"id": "j1", "status": "queued", "created": True}
    transport, seen = scripted(httpx.ReadTimeout("lost"), (202, doc, {}), (202, doc | {"id": "j2"}, {}))
    client = ServiceClient("http://svc", KEY, retries=2, backoff_s=0, transport=transport, sleep=lambda s: None)
    circuit = qjax.Circuit(1).ry(qjax.Param(0), 0)
    ex = RemoteExecutor(
        client,
        circuit,
        [qjax.PauliSum("Z0")],
        target="simulator",
        device=None,
        shots=None,
        seed=0,
        mitigation={"name": "none"},
    )
    assert ex.submit(np.array([[0.1]])).job_id == "j1"
    assert seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]
    assert ex.submit(np.array([[0.1]])).job_id == "j2"  # a deliberate second submission (a retried job) is new
    assert seen[2].headers["idempotency-key"] != seen[1].headers["idempotency-key"]
    body = json.loads(seen[0].content)
    assert (
        body["params"] == [[0.1]]
        and body["circuit"]["format"] == "qjax.circuit"
        and "pickle" not in seen[0].content.decode()
    )


def test_the_backend_needs_a_key_from_the_environment(monkeypatch):
    from qjax.backends.remote import RemoteBackend

    monkeypatch.delenv("QJAX_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="QJAX_API_KEY"):
        RemoteBackend(url="http://127.0.0.1:1")


def test_a_training_run_survives_a_kill_9_of_the_service(tmp_path):
    import time

    from qjax.serve.store import JobStore

    common = (*SMALL, "gradient=parameter_shift", "trainer.steps=40", "seed=4")
    local = train(tmp_path, *common, "backend=simulator", "hydra.run.dir=local")
    assert local.returncode == 0, local.stderr
    svc = ServiceProcess(tmp_path / "svc", [KEY]).start()
    env = {**os.environ, "QJAX_API_KEY": KEY}
    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qjax.train",
            *common,
            "backend=remote",
            f"backend.url={svc.url}",
            "backend.retries=4",
            "hydra.run.dir=remote",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = JobStore(f"sqlite:///{tmp_path / 'svc' / 'jobs.db'}")
    deadline = time.monotonic() + 120
    while store.counts()["done"] < 5 and time.monotonic() < deadline:  # training is under way
        time.sleep(0.05)
    assert client.poll() is None  # the run is mid-way when the service dies
    svc.kill()
    time.sleep(1.0)
    svc.start()
    out, err = client.communicate(timeout=300)
    svc.stop()
    assert client.returncode == 0, err
    remote = json.loads((tmp_path / "remote" / "result.json").read_text())
    assert abs(remote["energy"] - json.loads((tmp_path / "local" / "result.json").read_text())["energy"]) <= 1e-6
    jobs = store.list(limit=1000)
    assert len(jobs) == remote["num_jobs"] == 41  # no step made a second job
    assert all(j.status == "done" for j in jobs)
    assert "fallbacks" not in remote
    assert "no answer" in out + err or "retrying" in out + err  # it did meet the dead service


def test_the_final_evaluation_is_sized_up_to_the_services_shot_limit_in_one_job(tmp_path):
    """H2 on remote → ibm_fake with the hardware defaults (readout_rem, final_precision 0.3 mHa): the final job wants
    millions of shots per parameter set; a service started with --max-shots 20000 says so in /readyz, and the run
    sends one final job of exactly that many (more than the 4096 training shots), with one warning line."""
    import httpx

    with ServiceProcess(tmp_path / "capped", [KEY], args=["--max-shots", "20000"]) as svc:
        assert httpx.get(svc.url + "/readyz", timeout=30).json()["limits"]["max_shots"] == 20000
        proc = train(
            tmp_path,
            "+experiment=vqe",
            "backend=remote",
            f"backend.url={svc.url}",
            "backend.target=ibm_fake",
            "trainer.steps=2",
            "hydra.run.dir=run",
        )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["num_jobs"] == 3  # two steps and ONE final job
    assert result["final_shots"] == 2 * 20000  # the parameters' row and REM's reference row, 20000 shots each
    warned = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if "--max-shots" in line]
    assert len(warned) == 1 and "at most 20000" in warned[0], proc.stderr
