"""Prometheus metrics of the service (``GET /metrics``), in a registry of its own per app.

Requests by route and status code, refusals (401, 429 by reason, 4xx), jobs
submitted / ended per target and status, queue length (read from the job store
at scrape time), queue and run time per target, shots and QPU seconds per target.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Metrics:
    """The service's counters; ``queue_length`` is called at every scrape."""

    def __init__(self, queue_length: Callable[[], float]):
        self.registry = r = CollectorRegistry()
        self.requests = Counter(
            "qjax_http_requests", "HTTP requests by route and status code", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "qjax_http_request_seconds", "HTTP request latency", ["route"], buckets=_SECONDS, registry=r
        )
        self.refused = Counter(
            "qjax_refused_requests", "Requests refused before any work (401, 413, 422, 429)", ["reason"], registry=r
        )
        self.submitted = Counter("qjax_jobs_submitted", "Jobs accepted", ["target"], registry=r)
        self.ended = Counter("qjax_jobs_ended", "Jobs that ended, by final status", ["target", "status"], registry=r)
        self.errors = Counter("qjax_job_errors", "Jobs that failed, per backend", ["target"], registry=r)
        self.queue_seconds = Histogram(
            "qjax_job_queue_seconds", "Time from acceptance to start", ["target"], buckets=_SECONDS, registry=r
        )
        self.run_seconds = Histogram(
            "qjax_job_run_seconds", "Time from start to result", ["target"], buckets=_SECONDS, registry=r
        )
        self.shots = Counter("qjax_shots", "Shots spent", ["target"], registry=r)
        self.qpu_seconds = Counter(
            "qjax_qpu_seconds", "QPU seconds spent (reported or estimated)", ["target"], registry=r
        )
        self.queue = Gauge("qjax_queue_length", "Jobs waiting to run", registry=r)
        self.queue.set_function(queue_length)

    def render(self) -> bytes:
        return generate_latest(self.registry)
