"""What the tests send, built in one place: one builder per concept, keyword arguments
for what a test changes.

* ``doc`` and ``doc_appimage``: the API document's examples (``webhook/rest/examples``), as
  request bodies and as a custom resource;
* ``appimage`` and ``container``: the smallest AppImage custom resource Kuscia's CRD
  takes (an image tag, a ``workingDir`` in every container);
* ``rest_appimage`` and ``rest_container``: the same as a REST create or update body;
* ``review``: an AdmissionReview as the API server sends it;
* ``oversized``: a string that alone takes a body past a size limit (HTTP 413).
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from webhook.core import api, defaulting, model

EXAMPLES = pathlib.Path(__file__).parents[2] / "webhook" / "rest" / "examples"
"""The API document's example requests, as the package ships them."""

IMAGE_DIGEST = "sha256:" + "0123456789abcdef" * 4
"""An image ID as Kuscia's agent compares it (the API document's example has another
form, which validation warns of)."""

REVIEW_UID = "0df28fbd-5f5f-11e8-bc74-36e6bb280816"


def doc(example: str, /, **fields: Any) -> dict[str, Any]:
    """A request body of the API document (``webhook/rest/examples/doc_<example>.json``);
    keyword arguments replace its top-level fields."""
    body: dict[str, Any] = json.loads((EXAMPLES / f"doc_{example}.json").read_text())
    return {**body, **fields}


def doc_appimage(name: str = "", *, defaulted: bool = True) -> dict[str, Any]:
    """The API document's create example as a custom resource, defaulted unless told
    (undefaulted, its envFrom entry still names a ConfigMap and a Secret)."""
    obj = model.to_cr(api.parse("CreateAppImageRequest", doc("create")))
    if name:
        obj["metadata"]["name"] = name
    if defaulted:
        obj, _ = defaulting.default(obj)
    return obj


def container(**fields: Any) -> dict[str, Any]:
    """A container of a custom resource's deploy template; ``fields`` add or replace."""
    return {"name": "app", "workingDir": "/app", **fields}


def appimage(name: str = "app", *, tag: str = "1.0", replicas: int | None = 1,
             containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    """A valid AppImage custom resource with one deploy template (``replicas`` of
    ``containers``, one ``container()`` unless given; ``replicas=None`` leaves the field
    out, for the webhook or the CRD to default). Keyword arguments replace spec fields."""
    template: dict[str, Any] = {"name": "app", "spec": {"containers": containers or [container()]}}
    if replicas is not None:
        template["replicas"] = replicas
    return {
        "apiVersion": model.API_VERSION,
        "kind": model.KIND,
        "metadata": {"name": name},
        "spec": {"image": {"name": "secretflow/app", "tag": tag}, "deployTemplates": [template],
                 **spec},
    }


def rest_container(**fields: Any) -> dict[str, Any]:
    """A container of a REST deploy template; ``fields`` add or replace."""
    return {"name": "app", "working_dir": "/app", **fields}


def rest_appimage(name: str = "app", *, tag: str = "1.0",
                  containers: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    """A valid REST create (or update) body with one deploy template of ``containers``
    (one ``rest_container()`` unless given). Keyword arguments replace its fields."""
    return {
        "name": name,
        "image": {"name": "secretflow/app", "tag": tag},
        "deploy_templates": [{"name": "app", "containers": containers or [rest_container()]}],
        **fields,
    }


def review(obj: Any, *, operation: str = "CREATE", uid: str = REVIEW_UID, old: Any = None,
           kind: dict[str, str] | None = None, dry_run: bool = False) -> dict[str, Any]:
    """An AdmissionReview (``admission.k8s.io/v1``) as the API server sends it for an
    AppImage write: ``obj`` is the object, ``old`` the stored one (UPDATE, DELETE)."""
    request = {
        "uid": uid,
        "kind": kind or {"group": model.GROUP, "version": "v1alpha1", "kind": model.KIND},
        "resource": {"group": model.GROUP, "version": "v1alpha1", "resource": model.PLURAL},
        "name": (obj or old or {}).get("metadata", {}).get("name", ""),
        "operation": operation,
        "userInfo": {"username": "admin"},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def oversized(limit: int) -> str:
    """A string one byte longer than ``limit``: put anywhere in a body, the body is over
    a body limit of ``limit`` bytes (HTTP 413)."""
    return "x" * (limit + 1)
