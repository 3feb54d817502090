"""The service's job store: idempotency, exactly-once results, concurrent claims, and durability
across a kill -9 of the process that held it (a real SIGKILL of a subprocess)."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from qjax.serve import JobStore


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'jobs.db'}"


def _submit(store, i=0, key="k1", idem=None):
    return store.submit(
        key_id=key, payload={"params": [[0.1 * i]]}, target="simulator", shots=None, idempotency_key=idem
    )


def test_an_idempotency_key_never_makes_a_second_job(url):
    store = JobStore(url)
    first, created = _submit(store, idem="step-7")
    again, created_again = _submit(store, 1, idem="step-7")
    assert created and not created_again and again.id == first.id and again.payload == {"params": [[0.0]]}
    other_key, created_other = _submit(store, idem="step-7", key="k2")  # keys are per API key
    assert created_other and other_key.id != first.id
    assert store.counts()["queued"] == 2


def test_a_job_is_claimed_once_and_finished_once(url):
    store = JobStore(url)
    job, _ = _submit(store)
    claimed = store.claim_next("w1")
    assert claimed.id == job.id and claimed.status == "running" and claimed.attempts == 1
    assert store.claim_next("w2") is None
    assert store.finish(job.id, {"values": [[1.0]]})
    assert not store.finish(job.id, {"values": [[2.0]]})  # a second result is refused, the first stays
    assert not store.fail(job.id, "late failure")
    done = store.get(job.id)
    assert done.status == "done" and done.result == {"values": [[1.0]]} and done.queue_s >= 0 and done.run_s >= 0
    assert not store.cancel(job.id)


def test_jobs_are_private_to_their_key(url):
    store = JobStore(url)
    job, _ = _submit(store, key="alice")
    assert store.get(job.id, key_id="bob") is None and not store.cancel(job.id, key_id="bob")
    assert [j.id for j in store.list(key_id="alice")] == [job.id] and store.list(key_id="bob") == []


def test_concurrent_workers_claim_each_job_exactly_once(url):
    store = JobStore(url)
    ids = {_submit(store, i)[0].id for i in range(40)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name):
        mine = JobStore(url)  # its own engine, as separate service processes would have
        while (job := mine.claim_next(name)) is not None:
            with lock:
                claimed.append(job.id)
            mine.finish(job.id, {"by": name})

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids) and store.counts()["done"] == 40


_HOLDER = """
import os, sys, time
from qjax.serve import JobStore
store = JobStore(sys.argv[1])
for i in range(3):
    store.submit(key_id="k", payload={"i": i}, target="simulator", idempotency_key=f"s{i}")
sim = store.claim_next("dying")              # a simulated job: no backend id
ibm = store.claim_next("dying")              # an IBM job: its backend id recorded before waiting
store.set_remote_id(ibm.id, "ibm-job-123")
print(sim.id, ibm.id, flush=True)
time.sleep(60)                               # killed here, mid-run
"""


def test_kill_9_loses_no_accepted_job_and_recovery_requeues_or_reattaches(url, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
    sim_id, ibm_id = proc.stdout.readline().split()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    store = JobStore(url)  # the restarted service
    assert store.counts() == {"queued": 1, "running": 2, "done": 0, "failed": 0, "cancelled": 0}
    recovered = store.recover()
    assert recovered == {"requeued": [sim_id], "reattach": [ibm_id], "failed": []}
    assert store.get(ibm_id).remote_id == "ibm-job-123" and store.get(ibm_id).status == "running"
    # every accepted job now ends with exactly one result
    while (job := store.claim_next("w")) is not None:
        assert store.finish(job.id, {"i": job.payload["i"]})
    assert store.finish(ibm_id, {"reattached": True})
    assert store.counts()["done"] == 3
    assert store.get(sim_id).attempts == 2  # claimed before the kill, and again after
    again, created = store.submit(key_id="k", payload={}, target="simulator", idempotency_key="s0")
    assert not created and again.result is not None  # a retried submission finds the finished job
    assert json.loads(json.dumps(again.result)) == again.result
