"""What the benchmark sends: the API document's create example in every shape, a large
AppImage, AdmissionReviews, REST bodies, and the cases built from them.

Pure (reads webhook/rest/examples once). The document's example is one deploy template with one
container; ``large_appimage`` repeats that container to 10 templates x 10 containers
(names and port names made unique, probes pointing at each container's own port), so
"cost per container" compares like with like.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from webhook.core import api, defaulting, model

ROOT = Path(__file__).resolve().parent.parent
DOC_CREATE = ROOT / "webhook" / "rest" / "examples" / "doc_create.json"
DOC_UPDATE = ROOT / "webhook" / "rest" / "examples" / "doc_update.json"

QUERY_NAME = "bench-query"
NAME_PLACEHOLDER = "__NAME__"  # bench/wrk/post.lua puts a fresh or pooled name here
SEED_PREFIX = "seed-"  # names of the AppImages stored before the run: seed-000000, ...
KUSCIA_OK = '{"status":{"code":0,'  # orjson's rendering of the REST success envelope
LARGE_TEMPLATES = 10
LARGE_CONTAINERS = 10
BATCH_NAMES = 1000
LIST_PAGE_SIZE = 100
REST = "/api/v1/appimage/"  # the REST API's paths: REST + "create", ...

Server = Literal["bare", "service", "kopf", "go"]


def seed_name(i: int) -> str:
    return f"{SEED_PREFIX}{i:06d}"


def create_body() -> dict[str, Any]:
    """The API document's create example (webhook/rest/examples/doc_create.json), as sent over REST."""
    body: dict[str, Any] = json.loads(DOC_CREATE.read_text())
    return body


def update_body() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(DOC_UPDATE.read_text())
    return body


def appimage() -> dict[str, Any]:
    """The create example as an AppImage custom resource, before defaulting."""
    return model.to_cr(api.parse("CreateAppImageRequest", create_body()))


def large_appimage(templates: int = LARGE_TEMPLATES, containers: int = LARGE_CONTAINERS) -> dict[str, Any]:
    """The example's container repeated: ``templates`` deploy templates of ``containers``
    containers each, before defaulting."""
    obj = appimage()
    template = obj["spec"]["deployTemplates"][0]
    source = template["spec"]["containers"][0]
    out = []
    for t in range(templates):
        copy_ = copy.deepcopy(template)
        copy_["name"] = f"app-{t}"
        copy_["role"] = f"role-{t}"  # Kuscia selects a template by role: one each
        copy_["spec"]["containers"] = []
        for c in range(containers):
            container = copy.deepcopy(source)
            container["name"] = f"app-{c}"
            port = f"port-{c}"
            container["ports"][0]["name"] = port
            for probe in ("livenessProbe", "startupProbe"):
                container[probe]["httpGet"]["port"] = port
            copy_["spec"]["containers"].append(container)
        out.append(copy_)
    obj["spec"]["deployTemplates"] = out
    obj["metadata"]["name"] = "bench-large"
    return obj


def containers_of(obj: dict[str, Any]) -> int:
    return sum(len(t["spec"]["containers"]) for t in obj["spec"]["deployTemplates"])


def without_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the defaulted ``replicas`` removed, so mutation has work to do (the
    example's envFrom entry naming two sources is split by defaulting as well)."""
    out = copy.deepcopy(obj)
    for template in out["spec"]["deployTemplates"]:
        template.pop("replicas", None)
    return out


def defaulted(obj: dict[str, Any]) -> dict[str, Any]:
    return defaulting.default(obj)[0]


def invalid(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` broken in three ways every implementation must refuse: a port protocol
    outside the enum, a request above its limit, a probe with two handlers."""
    out = copy.deepcopy(obj)
    container = out["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    container["ports"][0]["protocol"] = "UDP"
    container["resources"]["requests"]["cpu"] = "2"
    container["livenessProbe"]["exec"] = {"command": ["true"]}
    return out


def admission_review(obj: dict[str, Any], uid: str) -> bytes:
    """An admission.k8s.io/v1 AdmissionReview of a CREATE, as the API server sends it."""
    gvk = {"group": model.GROUP, "version": "v1alpha1", "kind": model.KIND}
    gvr = {"group": model.GROUP, "version": "v1alpha1", "resource": model.PLURAL}
    return orjson.dumps({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"]["name"],
            "operation": "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    })


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    server: Server
    path: str
    body: bytes
    expect: str
    """Text that every good answer's body contains."""
    group: str
    """Row group in the report: admission, peers, rest."""
    baseline: str = ""
    """The case this one's ratio is taken against ("" for none)."""
    names: str = ""
    """"" for a fixed body; "fresh" or "pool:PREFIX:COUNT" (see bench/wrk/post.lua)."""
    connections: int = 0
    """Fixed concurrency; 0 means the run's --connections."""
    containers: int = 1


def cases(seeded: int) -> list[Case]:
    """Every closed-loop case, in the order one round runs them (bare first, so each
    ratio's baseline is measured next to it)."""
    small = appimage()
    large = large_appimage()
    review = admission_review(defaulted(small), "bench-validate")
    review_large = admission_review(defaulted(large), "bench-validate-large")
    mutate = admission_review(without_defaults(small), "bench-mutate")
    mutate_large = admission_review(without_defaults(large), "bench-mutate-large")
    n_large = containers_of(large)
    batch = [seed_name(i * max(seeded // BATCH_NAMES, 1) % seeded) for i in range(min(BATCH_NAMES, seeded))]
    update = {**update_body(), "name": NAME_PLACEHOLDER}
    create = {**create_body(), "name": NAME_PLACEHOLDER}
    page = {"page_size": LIST_PAGE_SIZE, "page_token": page_token(seed_name(seeded // 2))}
    allowed, patched = '"allowed":true', '"patchType":"JSONPatch"'
    return [
        Case("bare", "bare", "/", review, '"kind":"AdmissionReview"', "admission"),
        Case("validate", "service", "/validate", review, allowed, "admission", "bare"),
        Case("mutate", "service", "/mutate", mutate, patched, "admission", "bare"),
        Case("bare-large", "bare", "/", review_large, '"kind":"AdmissionReview"', "admission",
             containers=n_large),
        Case("validate-large", "service", "/validate", review_large, allowed, "admission",
             "bare-large", containers=n_large),
        Case("mutate-large", "service", "/mutate", mutate_large, patched, "admission",
             "bare-large", containers=n_large),
        Case("go-validate", "go", "/validate", review, allowed, "peers"),
        Case("go-mutate", "go", "/mutate", mutate, patched, "peers"),
        # kopf answers with json.dumps' default separators.
        Case("kopf-validate", "kopf", "/validate", review, '"allowed": true', "peers"),
        Case("kopf-mutate", "kopf", "/mutate", mutate, '"patchType": "JSONPatch"', "peers"),
        Case("create", "service", REST + "create", orjson.dumps(create), KUSCIA_OK, "rest", "bare",
             names="fresh"),
        Case("update", "service", REST + "update", orjson.dumps(update), KUSCIA_OK, "rest", "bare",
             names=f"pool:{SEED_PREFIX}:{seeded}"),
        Case("query", "service", REST + "query", orjson.dumps({"name": QUERY_NAME}), KUSCIA_OK,
             "rest", "bare"),
        Case(f"batch_query {len(batch)}", "service", REST + "batch_query",
             orjson.dumps({"names": batch}), KUSCIA_OK, "rest", connections=1),
        Case(f"list {LIST_PAGE_SIZE} of {seeded:,}", "service", REST + "list", orjson.dumps(page),
             KUSCIA_OK, "rest", connections=1),
    ]


def page_token(after: str) -> str:
    """A list request's page_token: the page starts after the name ``after`` (stored or not)."""
    from webhook.core import storage  # the token format is the store's, not ours to copy

    return storage.encode_token(after)


OPEN_LOOP = ("bare", "validate", "mutate", "query", "go-validate", "kopf-validate")
"""The cases also driven open-loop at a fixed rate (p99 at e.g. 500 req/s)."""
