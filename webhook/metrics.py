"""Prometheus metrics: one registry per service instance (no process globals).

Webhook metrics use controller-runtime's names so existing dashboards and alerts for
Go webhooks work unchanged; REST metrics follow the same pattern under ``appimage_api``.
Latency buckets start at 1 ms: a webhook answer is expected in a few.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import prometheus_client

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.webhook_requests = prometheus_client.Counter(
            "controller_runtime_webhook_requests_total",
            "Total number of admission requests by HTTP status code.",
            ["webhook", "code"], registry=self.registry)
        self.webhook_latency = prometheus_client.Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Histogram of the latency of processing admission requests.",
            ["webhook"], buckets=BUCKETS, registry=self.registry)
        self.webhook_in_flight = prometheus_client.Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Current number of admission requests being served.",
            ["webhook"], registry=self.registry)
        self.api_requests = prometheus_client.Counter(
            "appimage_api_requests_total",
            "Total number of REST API requests by endpoint, HTTP status and Kuscia code.",
            ["endpoint", "http_status", "code"], registry=self.registry)
        self.api_latency = prometheus_client.Histogram(
            "appimage_api_request_duration_seconds",
            "Histogram of the latency of REST API requests.",
            ["endpoint"], buckets=BUCKETS, registry=self.registry)
        self.api_in_flight = prometheus_client.Gauge(
            "appimage_api_requests_in_flight",
            "Current number of REST API requests being served.",
            ["endpoint"], registry=self.registry)

    def exposition(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)

    def webhook(self, name: str) -> Endpoint:
        return Endpoint(name, self.webhook_in_flight, self.webhook_latency, self.webhook_requests)

    def api(self, endpoint: str) -> Endpoint:
        return Endpoint(endpoint, self.api_in_flight, self.api_latency, self.api_requests)


class Endpoint:
    """One endpoint's metrics, its labelled children bound once: looking a child up on
    every request costs more than updating it (FACTS: ~1 µs bound)."""

    def __init__(self, name: str, in_flight: prometheus_client.Gauge,
                 latency: prometheus_client.Histogram, requests: prometheus_client.Counter) -> None:
        self.name = name
        self._in_flight = in_flight.labels(name)
        self._latency = latency.labels(name)
        self._requests = requests
        self._counters: dict[tuple[str, ...], prometheus_client.Counter] = {}

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """In flight while inside; the latency is observed on the way out."""
        self._in_flight.inc()
        started = time.perf_counter()
        try:
            yield
        finally:
            self._in_flight.dec()
            self._latency.observe(time.perf_counter() - started)

    def count(self, *labels: str) -> None:
        """One request answered, by the remaining labels (status, code)."""
        counter = self._counters.get(labels)
        if counter is None:
            counter = self._counters[labels] = self._requests.labels(self.name, *labels)
        counter.inc()
