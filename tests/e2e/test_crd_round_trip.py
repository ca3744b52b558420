"""Any object the CRD's schema (a superset of Kuscia's) takes, generated from the schema,
is stored by the CRD alone (no webhook) with nothing pruned or changed: a manifest
written for Kuscia's CRD keeps every field under ours."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from tests.support import figures, strategies
from tests.support.apiserver import APPIMAGES, delete_all, kube
from tests.support.k8s.controlplane import ControlPlane
from tests.support.patterns import DEFAULTED, leaves
from webhook.core import crd, crdcheck, model

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUND_TRIPS = 25


@pytest.fixture(autouse=True, scope="module")
def _clean(control_plane: ControlPlane) -> Iterator[None]:
    yield
    delete_all(control_plane)


@settings(max_examples=ROUND_TRIPS * figures.scale(), deadline=None, derandomize=True,
          database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(spec=strategies.structural(crd.openapi_schema()["properties"]["spec"]))
def test_any_object_the_crd_schema_takes_is_stored_unchanged(control_plane: ControlPlane,
                                                             spec: dict[str, Any]) -> None:
    obj = {"apiVersion": model.API_VERSION, "kind": model.KIND,
           "metadata": {"name": "round-trip"}, "spec": spec}
    assume(not crdcheck.refuses(obj))  # what the CEL rules refuse is not stored at all
    delete_all(control_plane)

    answer = kube(control_plane, "POST", APPIMAGES, obj)

    assert answer.status == 201, answer
    sent, kept = dict(leaves(spec)), dict(leaves(answer.body["spec"]))
    assert {p: v for p, v in sent.items() if kept.get(p, "<pruned>") != v} == {}
    added = {p: v for p, v in kept.items() if p not in sent}
    assert all({p[-1]} in DEFAULTED for p in added), added
