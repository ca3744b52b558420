"""Each pattern of Kuscia's own manifests (``webhook/rest/examples/manifests``) stored by a real
API server with our CRD and both webhooks: nothing pruned or changed, leaf by leaf,
apart from our defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.apiserver import APPIMAGES, Webhooks, delete_all, kube, stored
from tests.support.k8s.controlplane import ControlPlane
from tests.support.patterns import DEFAULTED, IDS, PATTERNS, leaves, manifest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

@pytest.fixture(autouse=True)
def _clean(control_plane: ControlPlane) -> Iterator[None]:
    delete_all(control_plane)
    yield
    delete_all(control_plane)


@pytest.mark.parametrize("path", PATTERNS, ids=IDS)
def test_each_pattern_is_stored_with_nothing_pruned_or_changed(
        control_plane: ControlPlane, webhooks: Webhooks, path) -> None:
    applied = manifest(path)

    answer = kube(control_plane, "POST", APPIMAGES, applied)

    assert answer.status == 201, answer
    assert answer.warnings == []
    got = stored(control_plane, applied["metadata"]["name"])
    assert got is not None
    sent, kept = dict(leaves(applied["spec"])), dict(leaves(got["spec"]))
    assert {p: v for p, v in sent.items() if kept.get(p, "<pruned>") != v} == {}
    added = {p: v for p, v in kept.items() if p not in sent}
    assert all({p[-1]} in DEFAULTED for p in added), added
