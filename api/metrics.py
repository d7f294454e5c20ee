"""Prometheus metrics, served at ``GET /metrics``.

Under gunicorn each worker is a process of its own. prometheus_client's
multiprocess mode (chosen when it is imported with ``PROMETHEUS_MULTIPROC_DIR``
set, as ``gunicorn.conf.py`` does) keeps every process' values in files of
that directory, and a scrape, whichever worker answers it, reads them all:
the numbers are the service's (and every replica's that shares the directory).
Without it (the Flask test client, ``flask run``) the values live in this
process, in a registry of the app's own.

The request log's counters are kept here too: ``/stats`` reads them from the
same place as ``/metrics``, so the two can't disagree.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4 as CONTENT_TYPE  # what generate_latest writes

# Seconds. A prediction takes ~0.3 ms on the sample corpus and up to ~20 ms for
# the costliest request the limits allow; the rest is for a loaded machine.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# /stats' names for the request log's counters -> the metrics' (each exposed with "_total").
REQUEST_LOG_COUNTERS = {
    "queued": ("palestras_request_log_queued_rows", "rows taken from the request handlers' queue by the writer threads"),
    "written": ("palestras_request_log_written_rows", "rows written to the request log's database"),
    "failed_writes": ("palestras_request_log_failed_writes", "batch writes that failed (database unavailable); retried"),
    "rejected_rows": ("palestras_request_log_rejected_rows", "rows the database refused; dropped"),
    "dropped_rows": ("palestras_request_log_dropped_rows", "rows dropped: the database was unavailable too long, or at shutdown"),
}
PENDING_ROWS = "palestras_request_log_pending_rows"


def in_multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in files (it decided when it was imported)."""
    return values.ValueClass is not values.MutexValue


def _read(registry: CollectorRegistry, multiprocess_mode: bool):
    """The metric families of the whole service: every process' in multiprocess mode."""
    if multiprocess_mode:
        return multiprocess.MultiProcessCollector(None).collect()
    return registry.collect()


class RequestLogCounters:
    """The request log's counters and its pending rows (a gauge summed over the
    live processes); each process adds to them, every process reads the sum."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.multiprocess = in_multiprocess_mode()
        self._counters = {key: Counter(name, help_text, registry=self.registry)
                          for key, (name, help_text) in REQUEST_LOG_COUNTERS.items()}
        self._pending = Gauge(PENDING_ROWS, "rows waiting to be written by the request log",
                              registry=self.registry, multiprocess_mode="livesum")

    def add(self, name: str, amount: int = 1) -> None:
        self._counters[name].inc(amount)

    def set_pending(self, rows: int) -> None:
        self._pending.set(rows)

    def snapshot(self) -> dict[str, int]:
        """Every counter (with ``pending``), summed over the service's processes."""
        samples = {sample.name: sample.value
                   for family in _read(self.registry, self.multiprocess) for sample in family.samples}
        counts = {key: int(samples.get(name + "_total", 0)) for key, (name, _) in REQUEST_LOG_COUNTERS.items()}
        return {**counts, "pending": int(samples.get(PENDING_ROWS, 0))}


class Metrics:
    """The app's metrics; ``instrument(app)`` counts and times every request."""

    def __init__(self):
        self.multiprocess = in_multiprocess_mode()
        self.registry = CollectorRegistry()
        self.requests = Counter("palestras_http_requests", "HTTP requests answered, by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.request_seconds = Histogram("palestras_http_request_duration_seconds",
                                         "time to answer a request, in the app (from routing to the response)",
                                         ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.prediction_seconds = Histogram("palestras_prediction_duration_seconds",
                                            "the model's own time to rank the talks of a prediction",
                                            ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        # Multiprocess mode has no Info metric: a gauge at 1, the largest of the
        # live processes', so a version shows while a worker serves it and goes
        # with the last one (gunicorn.conf.py's child_exit marks the dead).
        self.model_info = Gauge("palestras_model_info", "the model version served (1), with its training time and configuration",
                                ["version", "trained_at", "configuration"], multiprocess_mode="livemax", registry=self.registry)
        self.request_log = RequestLogCounters(self.registry)
        # Labelled children, looked up once: labels() costs more than the increment.
        self._request_children: dict = {}
        self._prediction_children: dict = {}
        self._model = None
        self._model_labels: tuple | None = None

    def instrument(self, app: Flask, model_holder) -> None:
        @app.before_request
        def _start_clock():
            g.metrics_started = time.perf_counter()

        @app.after_request
        def _count(response):
            self.follow_model(model_holder.model)
            started = g.get("metrics_started")
            if started is not None:
                # request.endpoint is None when no route matched (404, 405).
                self.observe_request(request.endpoint or "unmatched", response.status_code, time.perf_counter() - started)
            return response

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        children = self._request_children.get((endpoint, status))
        if children is None:
            children = (self.requests.labels(endpoint, str(status)), self.request_seconds.labels(endpoint))
            self._request_children[endpoint, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_prediction(self, endpoint: str, seconds: float) -> None:
        child = self._prediction_children.get(endpoint)
        if child is None:
            child = self._prediction_children[endpoint] = self.prediction_seconds.labels(endpoint)
        child.observe(seconds)

    def follow_model(self, model) -> None:
        """Label ``palestras_model_info`` with the served model's version.

        Called per request, not when the model is loaded: gunicorn's master
        loads it and never answers, and its value would outlive a reload.
        """
        if model is self._model:
            return
        labels = (model.version, str(model.metadata.get("trained_at", "")), str(model.metadata.get("configuration", "")))
        if self._model_labels is not None and self._model_labels != labels:
            if self.multiprocess:  # no removal there: 0 in this process' file, gone with the process
                self.model_info.labels(*self._model_labels).set(0)
            else:
                self.model_info.remove(*self._model_labels)
        self.model_info.labels(*labels).set(1)
        self._model, self._model_labels = model, labels

    def exposition(self) -> Response:
        """The whole service's metrics in Prometheus' text format."""
        if self.multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), content_type=CONTENT_TYPE)
