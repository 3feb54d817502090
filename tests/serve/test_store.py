"""The service's job store, on SQLite and on PostgreSQL (each test runs on both: ``store_url``): idempotency,
exactly-once results, concurrent claims, leases that expire and come back, the rate limit and quotas shared by
processes, schema creation by processes starting together, and durability across a kill -9 of the process that
held jobs (a real SIGKILL of a subprocess)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import qjax.serve.store as store_module
from qjax.serve import JobStore
from qjax.serve.store import MAX_ATTEMPTS, Quota, QuotaExceeded


@pytest.fixture
def url(store_url):
    return store_url


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


# The subprocesses load the store module alone (it needs SQLAlchemy only): importing the qjax package (JAX) would
# take seconds per process on a loaded machine, and the store's code is what these tests are about.
_LOAD_STORE = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("qjax_store", {str(store_module.__file__)!r})
store_module = importlib.util.module_from_spec(spec)
sys.modules["qjax_store"] = store_module
spec.loader.exec_module(store_module)
JobStore = store_module.JobStore
"""

_HOLDER = (
    _LOAD_STORE
    + """
import os, sys, time
store = JobStore(sys.argv[1], lease_s=float(sys.argv[2]))
for i in range(3):
    store.submit(key_id="k", payload={"i": i}, target="simulator", idempotency_key=f"s{i}")
sim = store.claim_next("dying/w0")           # a simulated job: no backend id
ibm = store.claim_next("dying/w1")           # an IBM job: its backend id recorded before waiting
store.set_remote_id(ibm.id, "ibm-job-123")
print(sim.id, ibm.id, flush=True)
while True:                                  # its heartbeat renews the leases ... until the kill
    store.renew(["dying/w0", "dying/w1"])
    time.sleep(0.1)
"""
)


def test_kill_9_loses_no_accepted_job_and_its_expired_leases_requeue_or_reattach(url):
    lease = 30.0
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, url, str(lease)], stdout=subprocess.PIPE, text=True)
    sim_id, ibm_id = proc.stdout.readline().split()
    store = JobStore(url, lease_s=lease)  # another process (a restarted one, or another machine's)
    first = store.get(sim_id).lease_until
    for _ in range(600):  # the holder's heartbeat renews the leases (until the kill)
        if store.get(sim_id).lease_until > first:
            break
        time.sleep(0.05)
    assert store.get(sim_id).lease_until > first
    assert store.release_expired() == {"requeued": [], "reattach": [], "failed": []}  # alive: nothing moves
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert store.counts() == {"queued": 1, "running": 2, "done": 0, "failed": 0, "cancelled": 0}
    later = time.time() + lease + 1  # no heartbeat any more: one lease on, both leases have expired
    recovered = store.release_expired(now=later)
    assert recovered == {"requeued": [sim_id], "reattach": [ibm_id], "failed": []}
    assert store.release_expired(now=later) == {"requeued": [], "reattach": [], "failed": []}  # moved once
    ibm = store.get(ibm_id)
    assert ibm.remote_id == "ibm-job-123" and ibm.status == "queued" and ibm.worker is None
    # every accepted job now ends with exactly one result; the IBM job keeps its backend id for re-attaching
    finished = {}
    while (job := store.claim_next("w")) is not None:
        finished[job.id] = job.remote_id
        assert store.finish(job.id, {"i": job.payload["i"]}, "w")
    assert finished[ibm_id] == "ibm-job-123" and finished[sim_id] is None and len(finished) == 3
    assert store.counts()["done"] == 3
    assert store.get(sim_id).attempts == 2  # claimed before the kill, and again after
    again, created = store.submit(key_id="k", payload={}, target="simulator", idempotency_key="s0")
    assert not created and again.result is not None  # a retried submission finds the finished job
    assert json.loads(json.dumps(again.result)) == again.result


def test_a_late_worker_whose_lease_expired_cannot_store_a_second_result(url):
    store = JobStore(url, lease_s=5)
    job, _ = _submit(store)
    store.claim_next("slow")
    assert store.holds(job.id, "slow")
    assert store.release_expired(now=time.time() + 10)["requeued"] == [job.id]
    assert not store.holds(job.id, "slow")
    assert store.claim_next("fast").id == job.id
    assert not store.finish(job.id, {"by": "slow"}, "slow") and not store.fail(job.id, "late", "slow")
    assert store.finish(job.id, {"by": "fast"}, "fast")
    assert store.get(job.id).result == {"by": "fast"} and store.get(job.id).attempts == 2


def test_a_heartbeat_keeps_a_long_job_and_only_its_own(url):
    store = JobStore(url, lease_s=5)
    mine, _ = _submit(store, 0)
    other, _ = _submit(store, 1)
    store.claim_next("p1/w0")
    store.claim_next("p2/w0")
    before = store.get(mine.id).lease_until
    time.sleep(0.05)
    assert store.renew(["p1/w0"]) == 1
    assert store.get(mine.id).lease_until > before
    # just after the other (not renewed) lease ran out, the renewed one still holds
    at = store.get(other.id).lease_until + 0.01
    assert store.get(mine.id).lease_until > at
    assert store.release_expired(now=at) == {"requeued": [other.id], "reattach": [], "failed": []}


def test_a_job_whose_worker_dies_at_every_attempt_fails_instead_of_running_again(url):
    store = JobStore(url, lease_s=1)
    job, _ = _submit(store)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = store.claim_next("w")  # a worker starts it ... and dies
        assert claimed.id == job.id and claimed.attempts == attempt
        found = store.release_expired(now=time.time() + 2)
        assert found["failed"] == ([job.id] if attempt == MAX_ATTEMPTS else [])
    failed = store.get(job.id)
    assert failed.status == "failed" and f"stopped {MAX_ATTEMPTS} times" in failed.error
    assert store.claim_next("w") is None


def test_workers_claim_only_jobs_of_their_targets(url):
    store = JobStore(url)
    sim, _ = _submit(store)
    ibm, _ = store.submit(key_id="k", payload={}, target="ibm_fake")
    assert store.claim_next("w", ["ibm_fake"]).id == ibm.id
    assert store.claim_next("w", ["ibm_fake"]) is None
    assert store.claim_next("w", ["simulator", "noisy_simulator"]).id == sim.id


def test_the_rate_limit_is_one_bucket_per_key_across_processes(url):
    a, b = JobStore(url), JobStore(url)  # two API processes' stores
    now = time.time()
    taken = [store.take_token("key", 2.0, 3, now) for store in (a, b, a)]
    assert taken == [0.0, 0.0, 0.0]  # the burst of 3, shared
    assert b.take_token("key", 2.0, 3, now) == pytest.approx(0.5)  # one token refills in 1/rate s
    assert a.take_token("other", 2.0, 3, now) == 0.0  # buckets are per key
    assert a.take_token("key", 2.0, 3, now + 0.5) == 0.0 and b.take_token("key", 2.0, 3, now + 0.5) > 0
    assert [b.take_token("key", 2.0, 3, now + 100) for _ in range(4)][:3] == [0.0] * 3  # refills up to the burst only
    assert b.take_token("key", 2.0, 3, now + 100) > 0


def test_concurrent_submissions_from_two_processes_never_exceed_a_quota(url):
    stores = [JobStore(url), JobStore(url)]
    quota = Quota(time.time() - 60, jobs=10, shots=None)
    created, refused = [], []
    lock = threading.Lock()

    def api(i):
        for j in range(8):
            try:
                job, _ = stores[i % 2].submit(key_id="k", payload={}, target="simulator", quota=quota)
                with lock:
                    created.append(job.id)
            except QuotaExceeded as exc:
                assert exc.what == "jobs" and exc.limit == 10
                with lock:
                    refused.append(j)

    threads = [threading.Thread(target=api, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 10 and len(refused) == 22 and stores[0].counts()["queued"] == 10
    with pytest.raises(QuotaExceeded) as info:
        stores[1].submit(key_id="k", payload={}, target="simulator", shots=50, quota=Quota(0.0, None, 40))
    assert (info.value.what, info.value.used, info.value.more) == ("shots", 0, 50)


_OPENER = (
    _LOAD_STORE
    + """
import sys, time
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # every process opens the empty database at the same moment
store = JobStore(sys.argv[1])
job, _ = store.submit(key_id="k", payload={}, target="simulator", idempotency_key=sys.argv[3])
print(job.id)
"""
)


def test_processes_starting_together_on_an_empty_database_create_the_schema_once(url):
    start = time.time() + 2.0  # after the interpreters have started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPENER, url, str(start), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-800:] for _, err in outs]
    assert JobStore(url).counts()["queued"] == 4


def test_processes_register_and_leave(url):
    store = JobStore(url, lease_s=2)
    store.beat("h:1:a", role="worker", workers=3, targets=["simulator"], started_at=time.time())
    store.beat("h:2:b", role="api", workers=0, targets=["simulator"], started_at=time.time())
    assert sorted((p["role"], p["workers"]) for p in store.processes()) == [("api", 0), ("worker", 3)]
    store.leave("h:1:a")
    assert [p["role"] for p in store.processes()] == ["api"]
    assert store.processes(within_s=-1) == []  # none seen in the future: stale rows are not live


def test_a_database_of_the_earlier_schema_gets_the_lease_column_when_opened(url):
    import sqlalchemy as sa

    old = JobStore(url)
    job, _ = _submit(old)
    with old.engine.begin() as conn:  # the jobs table as the previous release made it
        conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN lease_until")
    old.close()
    store = JobStore(url)
    assert "lease_until" in {c["name"] for c in sa.inspect(store.engine).get_columns("jobs")}
    assert store.claim_next("w").id == job.id and store.get(job.id).lease_until > time.time()


def test_leases_heartbeats_and_tokens_keep_the_database_clock_not_the_machines(pg_url, monkeypatch):
    """Processes on machines whose clocks disagree share one PostgreSQL store: a worker whose clock runs an hour
    ahead must neither release a lease another worker just took, nor drop a process it sees beating, nor refill a
    rate-limit bucket early. (On SQLite the store is one machine's, so its clock is the clock.)"""
    store = JobStore(pg_url, lease_s=30)
    job, _ = _submit(store)
    assert store.claim_next("w-on-time").id == job.id
    store.beat("p-on-time", role="worker", workers=1, targets=["simulator"], started_at=time.time())
    assert store.take_token("key", 0.001, 1) == 0.0  # the only token; the next comes back after 1000 s

    real = time.time
    monkeypatch.setattr(store_module.time, "time", lambda: real() + 3600)  # this process's clock: an hour ahead
    fast = JobStore(pg_url, lease_s=30)
    assert fast.release_expired() == {"requeued": [], "reattach": [], "failed": []}
    assert fast.holds(job.id, "w-on-time")
    assert [p["id"] for p in fast.processes()] == ["p-on-time"]
    assert fast.take_token("key", 0.001, 1) > 900  # still empty: an hour of this clock is not an hour passed
