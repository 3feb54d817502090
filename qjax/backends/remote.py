"""``backend=remote``: a qjax execution service (``python -m qjax.serve``) as a backend.

The service evaluates parameter sets, so this backend is a sampling-style one:
gradients are parameter shift (or SPSA), every row of a step goes out as ONE
service job through the same :class:`~qjax.backends.jobs.JobRunner` as IBM runs
(journal, re-attach after a restart, retries, budget, fallback chain). Service job
ids survive restarts of both sides (the service's store is durable), so a resumed
run re-attaches to the job its step was waiting for.

Requests carry an ``Idempotency-Key`` derived from the batch (a retried request
never creates a second job) and an ``X-Request-ID``; the ids of the submissions
go into the run manifest (``request_ids``). Connection errors, ``429`` (after
``Retry-After``) and ``5xx`` are retried with exponential backoff. The API key
comes from ``QJAX_API_KEY`` only; a missing or refused key is a clear error.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
import time
import uuid
from typing import Any

import numpy as np

from qjax.backends.base import Capabilities, JobBackend, Objective
from qjax.backends.executor import Evaluation, angle_circuit
from qjax.backends.jobs import SECONDS_PER_SHOT, JobRunner
from qjax.backends.sampled import chained_objective
from qjax.errors import BackendError, BackendUnavailable, ConfigError
from qjax.ir.circuit import Circuit
from qjax.ir.pauli import PauliSum
from qjax.sim.gradients import SAMPLED_GRADIENTS

__all__ = ["RemoteBackend", "RemoteExecutor", "RemoteSampler", "ServiceClient", "RemoteRefused"]

log = logging.getLogger("qjax")

KEY_VARIABLE = "QJAX_API_KEY"
SAMPLING_TARGETS = ("ibm_fake", "ibm")
SAMPLED_TARGETS = ("noisy_simulator", "ibm_fake", "ibm")  # the service takes samples jobs for them (noise)
DEFAULT_SHOTS = 4096  # backend.shots=null on a sampling target
OLD_SERVICE_MAX_SHOTS = 1_000_000  # the per-job shot limit of a service whose /readyz does not say its limits
_RETRY_STATUS = (429, 500, 502, 503, 504)  # 500: e.g. a database briefly locked
_STATES = {"queued": "queued", "running": "running", "done": "done", "failed": "error", "cancelled": "cancelled"}


class RemoteRefused(BackendError, ValueError):
    """The service refused a request (4xx other than 429): sending it again cannot help."""


class ServiceUnreachable(Exception):
    """The service did not answer after every retry (connection errors, 429, 5xx): transient."""


class ServiceClient:
    """JSON over HTTP to one service, with the API key, request ids and retries (``retries``, ``backoff_s``)."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        transport=None,
        sleep=time.sleep,
    ):
        import httpx

        self.url, self.retries, self.backoff_s, self._sleep = url.rstrip("/"), int(retries), float(backoff_s), sleep
        self._http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            headers={"Authorization": f"Bearer {key}", "User-Agent": "qjax-remote"},
            transport=transport,
        )
        self.request_ids: list[str] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        headers: dict | None = None,
        record: bool = False,
        allow: tuple[int, ...] = (),
    ) -> tuple[int, dict]:
        """``(status, json)``; retries transient failures, raises :class:`RemoteRefused` for a 4xx not in ``allow``."""
        import httpx

        attempt = 0
        while True:
            rid = f"qjax-{uuid.uuid4().hex}"
            try:
                response = self._http.request(method, path, json=body, headers={"X-Request-ID": rid, **(headers or {})})
            except httpx.TransportError as exc:
                status, detail, wait = None, f"{type(exc).__name__}: {exc}", None
            else:
                status = response.status_code
                if status < 400 or status in allow:
                    if record:
                        self.request_ids.append(response.headers.get("x-request-id", rid))
                    return status, response.json()
                detail = _message(response)
                wait = _retry_after(response)
                if status == 401 or status == 403:
                    raise RemoteRefused(
                        f"the service at {self.url} refused the API key in {KEY_VARIABLE} ({status}: "
                        f"{detail}); set {KEY_VARIABLE} to a key the service accepts"
                    ) from None
                if status not in _RETRY_STATUS:
                    raise RemoteRefused(f"the service at {self.url} refused the request ({status}: {detail})") from None
            if attempt >= self.retries:
                raise ServiceUnreachable(f"{self.url}{path}: {detail} (after {attempt + 1} attempts)")
            delay = self.backoff_s * 2**attempt if wait is None else min(max(wait, self.backoff_s), 300.0)
            log.warning(
                "remote: %s %s failed (%s); retrying in %.1f s (%d of %d)",
                method,
                path,
                detail,
                delay,
                attempt + 1,
                self.retries,
            )
            self._sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._http.close()


def _message(response) -> str:
    try:
        doc = response.json()
        return str(doc.get("error") or doc)[:500]
    except ValueError:
        return response.text[:200] or response.reason_phrase


def _retry_after(response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class RemoteJob:
    """A service job through the :class:`~qjax.backends.executor.Job` protocol; ``status`` long-polls."""

    def __init__(self, client: ServiceClient, job_id: str, executor: "RemoteExecutor", wait_s: float):
        self._client, self.job_id, self._executor, self._wait_s = client, job_id, executor, wait_s
        self._doc: dict | None = None

    def status(self) -> str:
        try:
            _, self._doc = self._client.request("GET", f"/v1/jobs/{self.job_id}?wait={self._wait_s:g}")
        except ServiceUnreachable as exc:  # the service is restarting: the job is in its store, keep waiting
            log.warning("remote: job %s: no answer from the service (%s); still waiting", self.job_id, exc)
            return "running"  # backend.timeout_s bounds the wait
        return _STATES.get(str(self._doc.get("status")), "running")

    def result(self) -> Evaluation:
        doc = self._doc if self._doc is not None and self._doc.get("status") in ("done", "failed") else None
        if doc is None:
            _, doc = self._client.request("GET", f"/v1/jobs/{self.job_id}")
        if doc.get("status") != "done":
            raise RuntimeError(f"service job {self.job_id} {doc.get('status')}: {doc.get('error')}")
        r = doc["result"]
        self._executor.ran = {k: r.get(k) for k in ("device", "depth", "two_qubit_gates")}
        if r.get("kind") == "samples":  # counts of the outcomes that occurred: dense, (1, 2**n), as a local Sampler's
            counts = np.zeros((1, self._executor.num_observables))  # 2**n of the circuit sent, whatever came back
            for outcome, count in r["counts"]:
                if not 0 <= int(outcome) < counts.shape[1]:
                    raise RuntimeError(f"service job {self.job_id}: outcome {outcome} of {counts.shape[1]} possible")
                counts[0, int(outcome)] = float(count)
            if isinstance(self._executor, RemoteSampler):
                self._executor.sampled_on = r.get("sampled_on")
            return Evaluation(
                counts, np.zeros_like(counts), None, int(r.get("shots", 0)), float(r.get("qpu_seconds", 0))
            )
        unmitigated = None if r.get("unmitigated") is None else np.asarray(r["unmitigated"], dtype=float)
        return Evaluation(
            np.asarray(r["values"], dtype=float),
            np.asarray(r["stds"], dtype=float),
            unmitigated,
            int(r.get("shots", 0)),
            float(r.get("qpu_seconds", 0.0)),
        )

    def cancel(self) -> None:
        try:
            self._client.request("POST", f"/v1/jobs/{self.job_id}/cancel", allow=(404, 409))
        except Exception:  # noqa: BLE001 - best effort
            pass


class RemoteExecutor:
    """One circuit's observables evaluated by the service's ``target``, batch by batch."""

    name = "remote"
    persistent_ids = True

    def __init__(
        self,
        client: ServiceClient,
        circuit: Circuit,
        observables: list[PauliSum],
        *,
        target: str,
        device: str | None,
        shots: int | None,
        seed: int | None,
        mitigation: dict,
        wait_s: float = 10.0,
        max_shots: int | None = None,
    ):
        from qjax.wire import encode_circuit, encode_observable

        angles = angle_circuit(circuit)
        self.client, self.target, self.device, self.shots, self.seed = client, target, device, shots, seed
        self.num_params, self.num_observables = angles.num_params, len(observables)
        self._circuit, self._observables = encode_circuit(angles), [encode_observable(o) for o in observables]
        self._mitigation, self._wait_s, self.max_shots = mitigation, wait_s, max_shots
        self._capped: set[int] = set()  # final shot counts the service's limit capped, warned about
        self._submissions: collections.Counter = collections.Counter()
        self.ran: dict | None = None  # device, depth and two-qubit gates as the service last ran the circuit
        self._fingerprint = self._fingerprint_of(shots)

    def _fingerprint_of(self, shots: int | None) -> str:
        blob = [self.client.url, self.target, self.device, shots, self.seed, self._mitigation, self._circuit]
        return hashlib.sha256(json.dumps(blob + [self._observables], sort_keys=True).encode()).hexdigest()[:16]

    def set_shots(self, shots: int) -> None:
        """Shots per parameter set of later jobs (the final evaluation's ``backend.final_precision``), at most the
        service's per-job limit (one warning line when that caps them); exact targets stay exact. The fingerprint,
        hence the result cache's key, and :meth:`planned_cost` follow."""
        if self.shots is None:
            return
        shots = int(shots)
        if self.max_shots is not None and shots > self.max_shots:
            if shots not in self._capped:  # once: the loss at the end and the report share the final job
                self._capped.add(shots)
                log.warning(
                    "backend=remote: the final evaluation wants %d shots per parameter set, but the service at %s takes "
                    "at most %d in one job (its --max-shots), so its energy is less precise than backend.final_precision "
                    "asks; raise the service's --max-shots, or set backend.final_precision higher",
                    shots,
                    self.client.url,
                    self.max_shots,
                )
            shots = self.max_shots
        self.shots, self._fingerprint = shots, self._fingerprint_of(shots)

    def _body(self, params: np.ndarray, mitigate: bool) -> dict:
        return {
            "version": 1,
            "target": self.target,
            "device": self.device,
            "circuit": self._circuit,
            "observables": self._observables,
            "params": params.tolist(),
            "shots": self.shots,
            "seed": self.seed,
            "mitigation": self._mitigation if mitigate else {"name": "none"},
        }

    def submit(self, params, *, mitigate: bool = True) -> RemoteJob:
        params = np.asarray(params, dtype=np.float64)
        batch = hashlib.sha256(self._fingerprint.encode() + params.tobytes() + bytes([mitigate])).hexdigest()[:32]
        while True:
            # n = answered submissions of this batch so far: a request that got no answer (the service died, the
            # connection broke) is sent again with the same key and finds the job it may have made; a retry of a
            # job that failed gets the next key, hence a new job
            n = self._submissions[batch]
            _, doc = self.client.request(
                "POST",
                "/v1/jobs",
                body=self._body(params, mitigate),
                headers={"Idempotency-Key": f"{batch}-{n}"},
                record=True,
            )
            self._submissions[batch] += 1
            if doc.get("created") or doc.get("status") not in ("failed", "cancelled"):
                return RemoteJob(self.client, doc["id"], self, self._wait_s)

    def attach(self, job_id: str) -> RemoteJob | None:
        status, _ = self.client.request("GET", f"/v1/jobs/{job_id}", allow=(404,))
        return None if status == 404 else RemoteJob(self.client, job_id, self, self._wait_s)

    def planned_cost(self, batch_size: int, *, mitigate: bool = True) -> tuple[int, float]:
        shots = batch_size * self.num_observables * (self.shots or 0)
        return shots, shots * SECONDS_PER_SHOT if self.target in ("ibm", "ibm_fake") else 0.0

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict:
        return {
            "name": self.name,
            "url": self.client.url,
            "target": self.target,
            "device": self.device,
            "shots": self.shots,
        }


class RemoteSampler(RemoteExecutor):
    """``shots`` measurements of every wire of one circuit, taken by the service's noisy or hardware ``target`` as
    ONE ``kind: samples`` job (on ``ibm_fake`` / ``ibm`` the same transpiled circuit and qubits as its expectation
    jobs); an Executor whose values are the counts ``(1, 2**n)``, wire 0 the most significant bit, like a local
    :class:`~qjax.backends.runtime_sampler.RuntimeSampler`. ``sampled_on``: where the service says it sampled."""

    def __init__(
        self,
        client: ServiceClient,
        circuit: Circuit,
        *,
        target: str,
        device: str | None,
        shots: int,
        seed: int | None,
        wait_s: float = 10.0,
    ):
        super().__init__(
            client,
            circuit,
            [],
            target=target,
            device=device,
            shots=int(shots),
            seed=seed,
            mitigation={"name": "none"},
            wait_s=wait_s,
        )
        self.num_observables = 2**circuit.num_wires
        self.sampled_on: str | None = None
        self._fingerprint = hashlib.sha256(f"samples|{self._fingerprint}".encode()).hexdigest()[:16]

    def _body(self, params: np.ndarray, mitigate: bool) -> dict:
        body = super()._body(params, False)
        del body["observables"]
        return {**body, "kind": "samples"}

    def planned_cost(self, batch_size: int, *, mitigate: bool = False) -> tuple[int, float]:
        shots = batch_size * int(self.shots or 0)
        return shots, shots * SECONDS_PER_SHOT if self.target in ("ibm", "ibm_fake") else 0.0


def api_key(environ=os.environ) -> str:
    key = environ.get(KEY_VARIABLE, "").strip()
    if not key:
        raise ConfigError(
            f"backend=remote needs an API key: set {KEY_VARIABLE}=<key> in the environment "
            "(keys are never read from the config)"
        )
    return key


class RemoteBackend(JobBackend):
    """The :class:`~qjax.backends.base.Backend` of a qjax service (see the module docstring)."""

    name = "remote"

    def __init__(
        self,
        *,
        url: str = "http://127.0.0.1:8765",
        target: str = "simulator",
        device: str | None = None,
        shots: int | None = None,
        seed_simulator: int | None = None,
        mitigation=None,
        seed: int = 0,
        transport=None,
        max_qubits: int = 26,
        max_operations: int | None = None,
        **options,  # the job settings of JobBackend: fallback, state_dir, budget, timeouts and retries
    ):
        # the service's target decides how it computes (make_backend drops the run's dtype) and owns the queue
        # (every execution_mode runs as job mode)
        from qjax.schemas import MAX_OPERATIONS, MitigationConfig

        if shots is None and target in SAMPLING_TARGETS:  # hardware samples: its usual default, as backend=ibm_fake
            shots = DEFAULT_SHOTS
        self.url, self.target, self.device_name, self.shots = url, target, device, shots
        self.max_qubits = int(max_qubits)
        self.max_operations = int(max_operations if max_operations is not None else MAX_OPERATIONS)
        self.seed = seed_simulator if seed_simulator is not None else seed
        self.mitigation = mitigation if mitigation is not None else MitigationConfig("none")
        super().__init__(**options)
        self.client = ServiceClient(
            url, api_key(), retries=self.control.retries, backoff_s=self.control.backoff_s, transport=transport
        )
        self.runner: JobRunner | None = None
        self._executor: RemoteExecutor | None = None
        self._probed: dict | None = None

    def probe(self) -> dict:
        """Ask the service whether it is ready and offers ``target``; the key is checked on the way."""
        if self._probed is None:
            try:
                _, ready = self.client.request("GET", "/readyz", allow=(503,))
                self.client.request("GET", "/v1/jobs?limit=1")  # authenticated: a refused key fails here
            except ServiceUnreachable as exc:
                raise BackendUnavailable(
                    f"backend=remote: the service at {self.url} does not answer ({exc}); start "
                    "it (python -m qjax.serve) or fix backend.url"
                ) from None
            if self.target not in ready.get("targets", ()):
                raise BackendError(
                    f"backend.target={self.target}: the service at {self.url} offers "
                    f"{', '.join(ready.get('targets', ())) or 'no targets'}; pick one of them"
                )
            self._probed = ready
        return self._probed

    def check(self, circuit: Circuit, observable: PauliSum) -> None:
        self.check_limits(circuit, observable)  # this run's own limits first: past them, nothing is encoded and sent
        self.probe()  # the service checks width and settings against its target when the first batch arrives

    def executor(self, circuit: Circuit, observables) -> RemoteExecutor:
        self._executor = RemoteExecutor(
            self.client,
            circuit,
            list(observables),
            target=self.target,
            device=self.device_name,
            shots=self.shots,
            seed=self.seed,
            mitigation=dataclasses.asdict(self.mitigation),  # JSON: tuples become lists
            wait_s=min(10.0, self.control.timeout_s),
            # what one job may hold (its /readyz says; a service from before it did takes at most a million)
            max_shots=int(((self._probed or {}).get("limits") or {}).get("max_shots") or OLD_SERVICE_MAX_SHOTS),
        )
        return self._executor

    def objective(self, circuit: Circuit, observable: PauliSum, *, gradient: str = "auto") -> Objective:
        return chained_objective(
            self, circuit, observable, lambda: self.executor(circuit, [observable]), gradient=gradient
        )

    def sample(self, circuit: Circuit, params, shots: int, *, seed: int = 0):
        """``shots`` samples of ``circuit`` at ``params``: on a noisy or hardware target (``noisy_simulator``,
        ``ibm_fake``, ``ibm``) ONE ``samples`` job of the service (:class:`RemoteSampler`), through the run's
        :class:`JobRunner`: journalled, budgeted, counted, ``sampled_on`` = ``<target>:<device>``. On
        ``target=simulator`` (as ``backend=simulator`` does), before any job, or after a fallback off the service:
        the base class's ideal samples, labelled ``simulator``."""
        from qjax.backends.base import Samples
        from qjax.backends.runtime_sampler import bits_from_counts

        runner = self.runner
        if self.target not in SAMPLED_TARGETS or runner is None or not isinstance(runner.executor, RemoteExecutor):
            return super().sample(circuit, params, shots, seed=seed)
        sampler = RemoteSampler(
            self.client,
            circuit,
            target=self.target,
            device=self.device_name,
            shots=shots,
            seed=self.seed,
            wait_s=min(10.0, self.control.timeout_s),
        )
        lm = circuit.linear_map()
        angles = np.asarray(lm.A) @ np.asarray(params, dtype=np.float64) + np.asarray(lm.c)
        runner.step = "final"
        ev = runner.evaluate(angles[None], purpose="samples", mitigate=False, executor=sampler)
        where = sampler.sampled_on  # None when the result came from the run's cache: named from the config
        if where is None:
            where = self.target if self.device_name is None else f"{self.target}:{self.device_name}"
        return Samples(bits_from_counts(ev.values[0], circuit.num_wires, seed=seed), where)

    def describe(self) -> dict:
        out: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "target": self.target,
            "device": self.device_name,
            "shots": self.shots,
            "seed_simulator": self.seed,
        }
        ran = self._executor.ran if self._executor is not None else None
        if ran:  # what the service reported for the last job: the circuit as it ran there
            out["device"] = ran["device"] or self.device_name
            out["transpiled"] = {"depth": ran["depth"], "two_qubit_gates": ran["two_qubit_gates"]}
        return out

    @property
    def capabilities(self) -> Capabilities:
        # every evaluation is a service job: gradients from shifted or perturbed evaluations, even on a simulator
        return Capabilities(
            gradients=SAMPLED_GRADIENTS,
            max_qubits=self.max_qubits,
            max_operations=self.max_operations,
            shots=True,
            persistent_job_ids=True,
        )

    def stats(self) -> dict:
        return super().stats() | {"request_ids": list(self.client.request_ids)}
