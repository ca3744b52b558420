"""Prometheus metrics: one registry per service instance (no process globals).

Webhook metrics use controller-runtime's names so existing dashboards and alerts for
Go webhooks work unchanged; REST metrics follow the same pattern under ``appimage_api``.
Latency buckets start at 1 ms: a webhook answer is expected in a few.
"""

from __future__ import annotations

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
