"""Metrics (``webhook.metrics``): plain numbers per endpoint, exposed in Prometheus'
text format under controller-runtime's names."""

from __future__ import annotations

import pytest
from prometheus_client import parser

from webhook.ops import metrics


def samples(m: metrics.Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(m.exposition().decode())
            for s in family.samples}


def test_latency_buckets_are_cumulative_with_inclusive_bounds():
    m = metrics.Metrics()
    endpoint = m.webhook("/validate")
    for seconds in (0.001, 0.002, 30.0):
        endpoint.observe(seconds)
    found = samples(m)

    def bucket(le: str) -> float:
        return found[("controller_runtime_webhook_latency_seconds_bucket",
                      (("le", le), ("webhook", "/validate")))]

    assert (bucket("0.001"), bucket("0.0025"), bucket("10.0"), bucket("+Inf")) == (1, 2, 2, 3)
    endpoint_only = (("webhook", "/validate"),)
    assert found[("controller_runtime_webhook_latency_seconds_count", endpoint_only)] == 3
    assert found[("controller_runtime_webhook_latency_seconds_sum", endpoint_only)] == pytest.approx(30.003)


def test_requests_are_counted_per_label_set_and_in_flight_is_a_gauge():
    m = metrics.Metrics()
    query = m.api("query")
    query.count("200", "0")
    query.count("200", "0")
    query.count("200", "13105")
    query.in_flight = 4
    found = samples(m)
    key = "appimage_api_requests_total"
    assert found[(key, (("code", "0"), ("endpoint", "query"), ("http_status", "200")))] == 2
    assert found[(key, (("code", "13105"), ("endpoint", "query"), ("http_status", "200")))] == 1
    assert found[("appimage_api_requests_in_flight", (("endpoint", "query"),))] == 4


def test_one_endpoint_name_is_one_set_of_figures():
    m = metrics.Metrics()
    assert m.webhook("/mutate") is m.webhook("/mutate")
    assert m.webhook("/mutate") is not m.api("/mutate")
