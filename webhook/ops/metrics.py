"""Prometheus metrics: one registry per service instance (no process globals).

Webhook metrics use controller-runtime's names so existing dashboards and alerts for
Go webhooks work unchanged; REST metrics follow the same pattern under ``appimage_api``;
gRPC calls have go-grpc-prometheus's names (``grpc_server_started_total``,
``grpc_server_handled_total``, ``grpc_server_handling_seconds``), as Kuscia's Go servers.
Latency buckets start at 1 ms: a webhook answer is expected in a few.

Requests update plain numbers (``Endpoint``), and the registry's collector turns them
into metric families when scraped. prometheus_client's own metric objects take a lock
for every increment and observation, a cost paid on every request; here every
update and every scrape runs on the one event-loop thread, so none is needed.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import prometheus_client
from prometheus_client import metrics_core, registry

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LE = (*(repr(bound) for bound in BUCKETS), "+Inf")  # "le" labels as prometheus_client writes them
Labels = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Names:
    """One family of endpoint metrics: names, help texts and labels."""

    requests: str
    requests_help: str
    latency: str
    latency_help: str
    in_flight: str
    in_flight_help: str
    endpoint_label: str
    count_labels: Labels
    """The labels ``Endpoint.count`` is given, after the endpoint's."""


WEBHOOK = Names(
    "controller_runtime_webhook_requests_total",
    "Total number of admission requests by HTTP status code.",
    "controller_runtime_webhook_latency_seconds",
    "Histogram of the latency of processing admission requests.",
    "controller_runtime_webhook_requests_in_flight",
    "Current number of admission requests being served.",
    "webhook", ("code",))
API = Names(
    "appimage_api_requests_total",
    "Total number of REST API requests by endpoint, HTTP status and Kuscia code.",
    "appimage_api_request_duration_seconds",
    "Histogram of the latency of REST API requests.",
    "appimage_api_requests_in_flight",
    "Current number of REST API requests being served.",
    "endpoint", ("http_status", "code"))


class Endpoint:
    """One endpoint's figures, updated by ``routing.instrumented`` on the event-loop thread."""

    __slots__ = ("buckets", "counts", "in_flight", "name", "sum")

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_flight = 0
        self.counts: dict[Labels, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)
        """Observations per bucket, not cumulative; the last is above every bound."""
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1  # bounds are inclusive
        self.sum += seconds

    def count(self, *labels: str) -> None:
        """One request answered, by the remaining labels (status, code)."""
        self.counts[labels] = self.counts.get(labels, 0) + 1


class Metrics:
    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self._families: dict[Names, dict[str, Endpoint]] = {WEBHOOK: {}, API: {}}
        self._rpcs: dict[tuple[str, str], Endpoint] = {}
        self.registry.register(_Collector(self._families))
        self.registry.register(_GrpcCollector(self._rpcs))

    def exposition(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)

    def webhook(self, name: str) -> Endpoint:
        return self._endpoint(WEBHOOK, name)

    def api(self, endpoint: str) -> Endpoint:
        return self._endpoint(API, endpoint)

    def grpc(self, service: str, method: str) -> Endpoint:
        """A unary RPC's figures; ``Endpoint.count`` takes the gRPC code (Go's name)."""
        return self._rpcs.setdefault((service, method), Endpoint(method))

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value ``read`` gives when scraped."""
        prometheus_client.Gauge(name, documentation, registry=self.registry).set_function(read)

    def _endpoint(self, family: Names, name: str) -> Endpoint:
        return self._families[family].setdefault(name, Endpoint(name))


class _Collector(registry.Collector):
    def __init__(self, families: dict[Names, dict[str, Endpoint]]) -> None:
        self._families = families

    def collect(self) -> Iterator[metrics_core.Metric]:
        for names, endpoints in self._families.items():
            requests = metrics_core.CounterMetricFamily(
                names.requests, names.requests_help, labels=[names.endpoint_label, *names.count_labels])
            latency = metrics_core.HistogramMetricFamily(
                names.latency, names.latency_help, labels=[names.endpoint_label])
            in_flight = metrics_core.GaugeMetricFamily(
                names.in_flight, names.in_flight_help, labels=[names.endpoint_label])
            for name, endpoint in endpoints.items():
                for labels, count in endpoint.counts.items():
                    requests.add_metric([name, *labels], count)
                latency.add_metric([name], _cumulative(endpoint), endpoint.sum)
                in_flight.add_metric([name], endpoint.in_flight)
            yield from (requests, latency, in_flight)


def _cumulative(endpoint: Endpoint) -> list[tuple[str, float]]:
    cumulative, total = [], 0
    for le, observed in zip(_LE, endpoint.buckets, strict=True):
        total += observed
        cumulative.append((le, float(total)))
    return cumulative


class _GrpcCollector(registry.Collector):
    def __init__(self, rpcs: dict[tuple[str, str], Endpoint]) -> None:
        self._rpcs = rpcs

    def collect(self) -> Iterator[metrics_core.Metric]:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        started = metrics_core.CounterMetricFamily(
            "grpc_server_started_total", "Total number of RPCs started on the server.", labels=labels)
        handled = metrics_core.CounterMetricFamily(
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            labels=[*labels, "grpc_code"])
        seconds = metrics_core.HistogramMetricFamily(
            "grpc_server_handling_seconds",
            "Histogram of response latency (seconds) of gRPC that had been application-level "
            "handled by the server.", labels=labels)
        for (service, method), endpoint in self._rpcs.items():
            names = ["unary", service, method]
            started.add_metric(names, sum(endpoint.counts.values()) + endpoint.in_flight)
            for (code, *_), count in endpoint.counts.items():
                handled.add_metric([*names, code], count)
            seconds.add_metric(names, _cumulative(endpoint), endpoint.sum)
        yield from (started, handled, seconds)
