"""JobRunner (journal, events, cache, retries, timeout, fallback, budget) with a scripted executor.

The executor below is written here: each submission follows the next behaviour of
its script (ok, a submit that raises, a job in error, one that never finishes, a
partial result, ...), and an "ok" job answers ``tag · Σ params`` per row, so every
result can be checked by hand. The "remote backend" is a dict of jobs that outlives
a runner, which is how a restart of the process is simulated. Backoffs go to a
list instead of sleeping; only the timeout test waits (50 ms of polling).
"""

import itertools
import json
import re

import numpy as np
import pytest

from qjax.backends.executor import Evaluation, Executor
from qjax.backends.jobs import CACHE_DIR, EVENTS_FILE, JOBS_FILE, Budget, JobRunner, RunControl
from qjax.errors import BackendError, BackendUnavailable, BudgetExceeded

_ids = itertools.count()

# Failures a backend may recover from: each is retried (then falls back).
TRANSIENT = (
    "connection",
    "error",
    "cancelled",
    "hang",
    "wrong_shape",
    "too_wide",
    "nan",
    "status_raises",
    "result_raises",
)


class MockJob:
    def __init__(self, executor, params, mitigate, behaviour):
        self.executor, self.params, self.mitigate, self.behaviour = executor, np.array(params), mitigate, behaviour
        self.job_id = f"{executor.name}-job-{next(_ids)}"
        self.status_calls = 0
        self.cancelled = False
        self.journal_at_first_status = None  # jobs.jsonl as it was when the runner first looked at the job

    def status(self):
        if self.journal_at_first_status is None:
            self.journal_at_first_status = read_rows(self.executor.journal) if self.executor.journal else []
        self.status_calls += 1
        b = self.behaviour
        if b == "abort":  # the process is killed while it waits; the job itself goes on and finishes
            self.behaviour = "ok"
            raise KeyboardInterrupt
        if b == "hang":
            return "running"
        if b == "slow":
            return ("queued", "queued", "running", "done")[min(self.status_calls, 4) - 1]
        if b in ("error", "cancelled"):
            return b
        if b == "status_raises":
            raise ConnectionError("status endpoint unreachable")
        return "done"

    def result(self):
        b = self.behaviour
        if b == "error":
            raise RuntimeError("device calibration fault")
        if b in ("hang", "cancelled"):
            raise RuntimeError(f"no result: job {b}")
        if b == "result_raises":
            raise ConnectionError("result download failed")
        values = self.executor.expected(self.params, self.mitigate)
        if b == "wrong_shape":  # a row missing
            values = values[:-1]
        elif b == "too_wide":  # an observable too many
            values = np.concatenate([values, values], axis=1)
        elif b == "nan":
            values = values.copy()
            values[-1, 0] = np.nan
        B = len(self.params)
        return Evaluation(
            values, np.full_like(values, 0.01), values + 0.5, self.executor.shots * B, self.executor.seconds_per_row * B
        )

    def cancel(self):
        self.cancelled = True


class MockExecutor:
    """An Executor whose submissions follow ``script`` (then ``ok``); ``store`` plays the remote backend."""

    num_observables = 1

    def __init__(
        self,
        script=(),
        *,
        name="mock",
        tag=1.0,
        persistent_ids=False,
        store=None,
        journal=None,
        num_params=3,
        shots=100,
        seconds_per_row=0.5,
    ):
        self.script, self.name, self.tag = list(script), name, tag
        self.persistent_ids, self.num_params = persistent_ids, num_params
        self.shots, self.seconds_per_row = shots, seconds_per_row
        self.store = {} if store is None else store
        self.journal = journal
        self.submitted = []  # behaviour of every submit call, failed ones included
        self.jobs = []  # the jobs handed out
        self.attached = []

    def expected(self, params, mitigate=True):
        return self.tag * np.asarray(params).sum(axis=1, keepdims=True) + (0.0 if mitigate else 1000.0)

    def submit(self, params, *, mitigate=True):
        behaviour = self.script.pop(0) if self.script else "ok"
        self.submitted.append(behaviour)
        if behaviour == "connection":
            raise ConnectionError("connection reset by peer")
        if behaviour == "type_error":
            raise TypeError("parameter array has the wrong dtype")
        if behaviour == "value_error":
            raise ValueError("circuit too wide for the device")
        job = MockJob(self, params, mitigate, behaviour)
        self.store[job.job_id] = job
        self.jobs.append(job)
        return job

    def attach(self, job_id):
        self.attached.append(job_id)
        return self.store.get(job_id)

    def planned_cost(self, batch_size, *, mitigate=True):
        return self.shots * batch_size, self.seconds_per_row * batch_size

    def fingerprint(self):
        return f"{self.name}|{self.tag}|{self.shots}"

    def describe(self):
        return {"name": self.name, "device": None}


def read_rows(path):
    """The rows of a JSON-lines file, skipping lines that do not parse."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return rows


class Harness:
    """A runner over mock executors in ``tmp_path``, with its sleeps recorded and factory calls counted."""

    def __init__(self, tmp_path, *executors, control=None, state_dir=True):
        self.dir = tmp_path
        self.executors = executors
        self.sleeps = []
        self.factory_calls = {e.name: 0 for e in executors}
        for e in executors:
            e.journal = tmp_path / JOBS_FILE

        def factory(e):
            def make():
                self.factory_calls[e.name] += 1
                return e

            return make

        control = control or RunControl(timeout_s=5.0, retries=3, backoff_s=0.5, poll_s=0.01)
        self.control = control
        self.runner = JobRunner(
            [(e.name, factory(e)) for e in executors],
            state_dir=str(tmp_path) if state_dir else None,
            control=control,
            sleep=self.sleeps.append,
        )

    def journal(self):
        return read_rows(self.dir / JOBS_FILE)

    def events(self):
        return read_rows(self.dir / EVENTS_FILE)

    def event_names(self):
        return [e["event"] for e in self.events()]

    def backoffs(self):
        """The sleeps that were not status polls."""
        return [s for s in self.sleeps if s != self.control.poll_s]


P1 = np.array([[0.1, 0.2, 0.3], [1.0, -2.0, 0.5]])
P2 = np.array([[0.4, 0.4, 0.4]])
P3 = np.array([[-1.0, 0.0, 3.0], [0.25, 0.25, 0.25]])


def test_mock_implements_the_executor_protocol():
    assert isinstance(MockExecutor(), Executor)


# -- retries, backoff, timeout -----------------------------------------------------------------


def test_retries_then_success_is_journaled_and_logged(tmp_path):
    ex = MockExecutor(["connection", "error", "ok"])
    h = Harness(tmp_path, ex, control=RunControl(timeout_s=5.0, retries=3, backoff_s=0.5, poll_s=0.01))
    ev = h.runner.evaluate(P1, purpose="gradient")

    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert ex.submitted == ["connection", "error", "ok"]  # three submit calls, two of them made jobs
    failed_job, good_job = ex.jobs
    assert h.sleeps == [0.5, 1.0]  # backoff_s · 2**k before retry k+1; no polls (jobs answer at once)

    # the journal held each job id before the runner first asked the job's status
    for job in ex.jobs:
        assert {"job_id": job.job_id, "state": "submitted"}.items() <= job.journal_at_first_status[-1].items()
    journal = h.journal()
    assert [(r["state"], r["job_id"]) for r in journal] == [
        ("submitted", failed_job.job_id),
        ("submitted", good_job.job_id),
        ("done", good_job.job_id),
    ]
    key = h.runner.request_key(P1, True)
    assert all(r["key"] == key for r in journal)
    assert journal[0]["batch"] == 2 and journal[0]["shots"] == 200 and journal[0]["purpose"] == "gradient"
    np.testing.assert_allclose(journal[0]["params"], P1)

    events = h.events()
    assert [e["event"] for e in events] == ["failed", "retried", "submitted", "failed", "retried", "submitted", "done"]
    assert "ConnectionError" in events[0]["detail"] and "device calibration fault" in events[3]["detail"]
    assert [e["delay_s"] for e in events if e["event"] == "retried"] == [0.5, 1.0]
    assert [e["attempt"] for e in events if e["event"] == "submitted"] == [1, 2]
    assert events[-1]["job_id"] == good_job.job_id
    for e in events:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"])
        assert isinstance(e["t"], float) and e["backend"] == "mock"
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)

    stats = h.runner.stats()
    assert stats["num_jobs"] == 2 and stats["job_ids"] == [failed_job.job_id, good_job.job_id]
    assert stats["shots_total"] == 400 and stats["qpu_seconds"] == pytest.approx(2.0) and stats["fallbacks"] == []


def test_backoff_doubles_with_every_retry(tmp_path):
    ex = MockExecutor(["connection"] * 4)
    h = Harness(tmp_path, ex, control=RunControl(timeout_s=5.0, retries=4, backoff_s=0.25, poll_s=0.01))
    ev = h.runner.evaluate(P2)
    assert h.sleeps == [0.25 * 2**k for k in range(4)]
    assert len(ex.submitted) == 5 and h.runner.num_jobs == 1
    np.testing.assert_allclose(ev.values, [[1.2]])


@pytest.mark.parametrize("failure", TRANSIENT)
def test_each_transient_failure_is_retried(tmp_path, failure):
    ex = MockExecutor([failure])
    h = Harness(tmp_path, ex, control=RunControl(timeout_s=0.05, retries=1, backoff_s=3.0, poll_s=0.01))
    ev = h.runner.evaluate(P1)

    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert ex.submitted == [failure, "ok"]
    assert h.backoffs() == [3.0]
    names = h.event_names()
    assert names.count("retried") == 1 and names[-1] == "done"
    if failure == "hang":
        assert "timeout" in names and ex.jobs[0].cancelled  # a timed-out job is cancelled, not left running
        assert set(h.sleeps) == {0.01, 3.0}  # it was polled at poll_s until the deadline
    else:
        assert "timeout" not in names and names[0] == ("failed" if failure == "connection" else "submitted")
    if failure in ("wrong_shape", "too_wide", "nan"):
        assert any("partial result" in e.get("detail", "") for e in h.events())
    # the failed job is not recorded as done, and its result is not what the runner returned
    assert [r["state"] for r in h.journal()].count("done") == 1


def test_queued_then_running_then_done_is_waited_for(tmp_path):
    ex = MockExecutor(["slow"])
    h = Harness(tmp_path, ex)
    ev = h.runner.evaluate(P1)
    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert len(ex.submitted) == 1 and ex.jobs[0].status_calls == 4
    assert h.sleeps == [0.01] * 3  # polled at poll_s while queued/running, no backoff
    assert h.event_names() == ["submitted", "queued", "running", "done"]  # each state logged once


# -- fallback --------------------------------------------------------------------------------------


def test_exhausted_retries_fall_back_to_the_next_backend(tmp_path, caplog):
    primary = MockExecutor(["connection", "error", "hang"], name="primary")
    fallback = MockExecutor(name="fallback", tag=10.0)
    h = Harness(tmp_path, primary, fallback, control=RunControl(timeout_s=0.05, retries=2, backoff_s=1.0, poll_s=0.01))
    assert h.factory_calls == {"primary": 1, "fallback": 0}  # fallbacks are built only when needed
    h.runner.step = 7
    with caplog.at_level("WARNING", logger="qjax"):
        ev = h.runner.evaluate(P1)

    np.testing.assert_allclose(ev.values, 10.0 * P1.sum(axis=1, keepdims=True))  # the fallback's answer
    assert primary.submitted == ["connection", "error", "hang"] and fallback.submitted == ["ok"]
    assert h.backoffs() == [1.0, 2.0]  # the fallback's first attempt does not wait
    assert h.factory_calls == {"primary": 1, "fallback": 1}
    assert h.runner.backend == "fallback"
    [record] = h.runner.stats()["fallbacks"]
    assert record["from"] == "primary" and record["to"] == "fallback" and record["step"] == 7
    assert "timed out" in record["reason"]
    names = h.event_names()
    assert names.count("fell_back") == 1 and names.index("fell_back") < names.index("done")
    [fell] = [e for e in h.events() if e["event"] == "fell_back"]
    assert "primary" in fell["detail"] and "fallback" in fell["detail"] and fell["step"] == 7
    assert "FALLBACK" in caplog.text  # loudly

    # later batches go straight to the fallback
    np.testing.assert_allclose(h.runner.evaluate(P2).values, [[12.0]])
    assert len(primary.submitted) == 3 and fallback.submitted == ["ok", "ok"]


def test_exhausted_chain_raises_backend_unavailable(tmp_path):
    primary = MockExecutor(["connection"] * 3, name="primary")
    fallback = MockExecutor(["error"] * 3, name="fallback")
    h = Harness(tmp_path, primary, fallback, control=RunControl(timeout_s=5.0, retries=2, backoff_s=1.0, poll_s=0.01))
    with pytest.raises(BackendUnavailable, match="primary → fallback"):
        h.runner.evaluate(P1)
    assert len(primary.submitted) == 3 and len(fallback.submitted) == 3
    assert h.backoffs() == [1.0, 2.0, 1.0, 2.0]
    names = h.event_names()
    assert names.count("fell_back") == 1 and names[-1] == "unavailable" and "done" not in names
    assert not any(r["state"] == "done" for r in h.journal())


@pytest.mark.parametrize("refusal", ["type_error", "value_error"])
def test_malformed_request_is_refused_at_once(tmp_path, refusal):
    primary = MockExecutor([refusal], name="primary")
    fallback = MockExecutor(name="fallback")
    h = Harness(tmp_path, primary, fallback)
    with pytest.raises(BackendError, match="primary refused the job") as info:
        h.runner.evaluate(P1)
    assert not isinstance(info.value, BackendUnavailable)
    assert primary.submitted == [refusal] and h.sleeps == []  # not retried
    assert h.factory_calls["fallback"] == 0 and fallback.submitted == []  # nor handed to the fallback
    assert h.event_names() == ["refused"] and h.journal() == []


# -- no job twice: cache and restart ---------------------------------------------------------------


def test_same_params_are_served_from_the_cache(tmp_path):
    ex = MockExecutor()
    h = Harness(tmp_path, ex)
    first = h.runner.evaluate(P1)
    again = h.runner.evaluate(P1.copy(), purpose="value")
    assert ex.submitted == ["ok"] and h.runner.num_jobs == 1
    np.testing.assert_array_equal(again.values, first.values)
    assert h.event_names() == ["submitted", "done", "cache_hit"]
    # the same parameters without mitigation are a different request
    unmitigated = h.runner.evaluate(P1, mitigate=False)
    assert len(ex.submitted) == 2
    np.testing.assert_allclose(unmitigated.values, P1.sum(axis=1, keepdims=True) + 1000.0)


def test_restart_serves_earlier_results_from_the_persistent_cache(tmp_path):
    before = Harness(tmp_path, MockExecutor())
    first = before.runner.evaluate(P1)
    assert len(list((tmp_path / CACHE_DIR).glob("*.npz"))) == 1

    # a new process: any submission would be refused, so only the cache can answer
    ex = MockExecutor(["type_error"])
    after = Harness(tmp_path, ex)
    ev = after.runner.evaluate(P1)
    assert ex.submitted == [] and after.runner.num_jobs == 0 and ex.attached == []
    np.testing.assert_array_equal(ev.values, first.values)
    np.testing.assert_array_equal(ev.stds, np.full((2, 1), 0.01))
    np.testing.assert_array_equal(ev.unmitigated, first.values + 0.5)
    assert (ev.shots, ev.qpu_seconds) == (200, 1.0)
    assert after.event_names()[-1] == "cache_hit"

    # a runner without a state directory has no memory of it
    ex2 = MockExecutor()
    Harness(tmp_path / "elsewhere", ex2, state_dir=False).runner.evaluate(P1)
    assert ex2.submitted == ["ok"]


def _abort_while_waiting(tmp_path, store, *, persistent_ids):
    """Runner A submits ``P1`` and is killed before its job finishes; returns that job."""
    ex = MockExecutor(["abort"], persistent_ids=persistent_ids, store=store)
    before = Harness(tmp_path, ex)
    with pytest.raises(KeyboardInterrupt):
        before.runner.evaluate(P1)
    [job] = ex.jobs
    assert [(r["state"], r["job_id"]) for r in before.journal()] == [("submitted", job.job_id)]
    return job


def test_restart_reattaches_to_a_pending_job(tmp_path):
    store = {}
    job = _abort_while_waiting(tmp_path, store, persistent_ids=True)

    ex = MockExecutor(["type_error"], persistent_ids=True, store=store)  # a submission would fail loudly
    after = Harness(tmp_path, ex)
    ev = after.runner.evaluate(P1)
    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert ex.attached == [job.job_id] and ex.submitted == []
    assert after.event_names()[-2:] == ["reattached", "done"]
    assert [(r["state"], r["job_id"]) for r in after.journal()][-1] == ("done", job.job_id)
    assert after.runner.totals()["jobs"] == 1  # the job was paid for once, before the restart


def test_restart_resubmits_a_pending_job_whose_id_did_not_survive(tmp_path):
    store = {}
    job = _abort_while_waiting(tmp_path, store, persistent_ids=False)

    ex = MockExecutor(persistent_ids=False, store=store)
    after = Harness(tmp_path, ex)
    ev = after.runner.evaluate(P1)
    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert ex.submitted == ["ok"] and ex.attached == []  # exactly once, no attach attempted
    [resubmitted] = [e for e in after.events() if e["event"] == "resubmitted"]
    assert resubmitted["job_id"] == job.job_id
    assert after.event_names()[-3:] == ["resubmitted", "submitted", "done"]
    # and from then on it is cached: no third job
    after.runner.evaluate(P1)
    assert ex.submitted == ["ok"]


def test_restart_resubmits_when_the_backend_forgot_the_job(tmp_path):
    job = _abort_while_waiting(tmp_path, {}, persistent_ids=True)
    ex = MockExecutor(persistent_ids=True, store={})  # the remote backend no longer knows the id
    after = Harness(tmp_path, ex)
    after.runner.evaluate(P1)
    assert ex.attached == [job.job_id] and ex.submitted == ["ok"]
    [resubmitted] = [e for e in after.events() if e["event"] == "resubmitted"]
    assert "no longer knows" in resubmitted["detail"]


def test_pending_job_written_by_hand_is_reattached(tmp_path):
    # the journal row as a killed process leaves it, written without a runner
    store = {}
    remote = MockExecutor(persistent_ids=True, store=store)
    job = remote.submit(P3)
    ex = MockExecutor(persistent_ids=True, store=store)
    h = Harness(tmp_path, ex)
    key = h.runner.request_key(P3, True)
    (tmp_path / JOBS_FILE).write_text(json.dumps({"key": key, "job_id": job.job_id, "state": "submitted"}) + "\n")
    ev = h.runner.evaluate(P3)
    np.testing.assert_allclose(ev.values, P3.sum(axis=1, keepdims=True))
    assert ex.attached == [job.job_id] and ex.submitted == []


def test_a_line_cut_by_a_crash_does_not_break_the_journal(tmp_path):
    Harness(tmp_path, MockExecutor()).runner.evaluate(P1)
    with open(tmp_path / JOBS_FILE, "a") as f:
        f.write('{"key": "abc", "job_id": "x", "sta')  # killed mid-line
    ex = MockExecutor()
    h = Harness(tmp_path, ex)
    assert h.runner.totals()["jobs"] == 1
    np.testing.assert_allclose(h.runner.evaluate(P2).values, [[1.2]])
    assert ex.submitted == ["ok"]
    h.runner.evaluate(P1)  # still cached
    assert ex.submitted == ["ok"]


def test_rows_written_after_a_cut_line_are_kept(tmp_path):
    (tmp_path / JOBS_FILE).write_text('{"key": "abc", "job_id": "x", "sta')  # killed mid-line
    store = {}
    ex = MockExecutor(["abort"], persistent_ids=True, store=store)
    with pytest.raises(KeyboardInterrupt):
        Harness(tmp_path, ex).runner.evaluate(P1)  # killed again, its job pending
    [job] = ex.jobs
    again = MockExecutor(persistent_ids=True, store=store)
    h = Harness(tmp_path, again)
    assert h.runner.totals()["jobs"] == 1
    h.runner.evaluate(P1)
    assert again.attached == [job.job_id] and again.submitted == []


# -- budget ------------------------------------------------------------------------------------------


def test_max_jobs_stops_before_the_job_that_would_cross_it(tmp_path):
    ex = MockExecutor()
    h = Harness(tmp_path, ex, control=RunControl(budget=Budget(max_jobs=2)))
    h.runner.evaluate(P1)
    h.runner.evaluate(P2)
    with pytest.raises(BudgetExceeded, match="budget.max_jobs=2"):
        h.runner.evaluate(P3)
    assert len(ex.submitted) == 2 and h.runner.num_jobs == 2
    assert h.event_names()[-1] == "budget_stop"
    h.runner.evaluate(P1)  # what is cached costs nothing
    assert len(ex.submitted) == 2


def test_max_shots_uses_the_planned_cost(tmp_path):
    ex = MockExecutor(shots=100)  # 100 shots per row
    h = Harness(tmp_path, ex, control=RunControl(budget=Budget(max_shots=500)))
    h.runner.evaluate(P1)  # 200
    h.runner.evaluate(P3)  # 400
    with pytest.raises(BudgetExceeded, match="budget.max_shots=500"):
        h.runner.evaluate(P1 + 1.0)  # would be 600
    assert len(ex.submitted) == 2
    h.runner.evaluate(P2)  # one row: exactly 500, allowed
    assert len(ex.submitted) == 3 and h.runner.totals()["shots"] == 500


def test_max_qpu_seconds_uses_the_planned_cost(tmp_path):
    ex = MockExecutor(seconds_per_row=2.0)
    h = Harness(tmp_path, ex, control=RunControl(budget=Budget(max_qpu_seconds=5.0)))
    h.runner.evaluate(P1)  # 4 s
    with pytest.raises(BudgetExceeded, match="budget.max_qpu_seconds=5.0"):
        h.runner.evaluate(P3)  # 8 s
    assert len(ex.submitted) == 1


def test_retries_count_against_the_budget(tmp_path):
    ex = MockExecutor(["error"])
    h = Harness(tmp_path, ex, control=RunControl(retries=3, backoff_s=1.0, budget=Budget(max_jobs=1)))
    with pytest.raises(BudgetExceeded):
        h.runner.evaluate(P1)
    assert ex.submitted == ["error"]


def test_budget_counts_jobs_of_earlier_invocations(tmp_path):
    budget = RunControl(budget=Budget(max_jobs=3))
    first = MockExecutor()
    h1 = Harness(tmp_path, first, control=budget)
    h1.runner.evaluate(P1)
    h1.runner.evaluate(P2)

    ex = MockExecutor()
    h2 = Harness(tmp_path, ex, control=budget)  # the same run, restarted
    assert h2.runner.totals() == {"jobs": 2, "shots": 300, "qpu_seconds": pytest.approx(1.5)}
    assert h2.runner.num_jobs == 0  # this invocation's own count starts at zero
    h2.runner.evaluate(P3)
    with pytest.raises(BudgetExceeded, match="3 jobs spent"):
        h2.runner.evaluate(P3 + 1.0)
    assert len(ex.submitted) == 1
    h2.runner.evaluate(P1)  # results of the earlier invocation are still served
    assert len(ex.submitted) == 1


# -- crash safety of the run-state files ---------------------------------------------------------------------------------


def test_unreadable_cache_file_is_a_cache_miss(tmp_path):
    Harness(tmp_path, MockExecutor()).runner.evaluate(P1)
    [path] = (tmp_path / CACHE_DIR).glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])  # e.g. a power cut after the rename, before the data hit the disk
    ex = MockExecutor()
    ev = Harness(tmp_path, ex).runner.evaluate(P1)
    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert ex.submitted == ["ok"]


def test_kill_between_done_row_and_cache_write_does_not_resubmit(tmp_path, monkeypatch):
    store = {}
    ex = MockExecutor(persistent_ids=True, store=store)
    before = Harness(tmp_path, ex)

    def killed(key, ev):
        raise KeyboardInterrupt

    monkeypatch.setattr(before.runner.cache, "put", killed)
    with pytest.raises(KeyboardInterrupt):
        before.runner.evaluate(P1)
    [job] = ex.jobs  # finished on the backend, its result still there

    again = MockExecutor(persistent_ids=True, store=store)
    after = Harness(tmp_path, again)
    ev = after.runner.evaluate(P1)
    np.testing.assert_allclose(ev.values, P1.sum(axis=1, keepdims=True))
    assert again.submitted == [] and again.attached == [job.job_id]
