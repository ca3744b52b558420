"""The kopf peer of bench/run: kopf's admission server answering with our rules.

``python bench/peers/kopf_peer.py --port PORT --cert-dir DIR`` serves POST /validate and
/mutate over TLS (``server.crt``/``server.key`` of DIR) with kopf's own parts: its
``WebhookServer`` (aiohttp), ``serve_admission_request`` (review -> cause -> handlers ->
response) and handlers registered with ``kopf.on.validate``/``kopf.on.mutate``. The
handlers call this project's validation core (``validation.validate``,
``defaulting.default``), so the work per review is ours and what differs is the
framework's cost. What ``kopf.run`` would add is left out because it needs a cluster:
resource discovery (the AppImage resource is declared here instead), watching, peering
and managing webhook configurations; none of it runs per admission request.

The event loop is uvloop when it is installed, as ``kopf run`` chooses.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import pathlib
from typing import Any

import kopf
from kopf._cogs.structs import ephemera, references
from kopf._core.engines import admission, indexing
from kopf._core.intents import registries
from kopf._core.reactor import inventory

from webhook.core import defaulting, model, paths, podspec, validation

registry = registries.OperatorRegistry()
checker = podspec.checker()


@kopf.on.validate(model.GROUP, "v1alpha1", model.PLURAL, id="validate", registry=registry)
def validate(body: Any, warnings: list[str], **_: Any) -> None:
    report = validation.validate(dict(body), checker)
    warnings.extend(f"{paths.format_path(p)}: {m}" for p, m in report.warnings)
    if report.errors:
        raise kopf.AdmissionError("; ".join(f"{paths.format_path(p)}: {m}" for p, m in report.errors),
                                  code=422)


@kopf.on.mutate(model.GROUP, "v1alpha1", model.PLURAL, id="mutate", registry=registry)
def mutate(body: Any, patch: Any, warnings: list[str], **_: Any) -> None:
    obj = dict(body)
    out, found = defaulting.default(obj)
    warnings.extend(f"{paths.format_path(p)}: {m}" for p, m in found)
    if out.get("spec") != obj.get("spec"):
        # A merge patch; kopf turns it into the JSON Patch of the answer (lists whole).
        patch["spec"] = {"deployTemplates": out["spec"]["deployTemplates"]}


async def serve(port: int, cert_dir: pathlib.Path) -> None:
    settings = kopf.OperatorSettings()
    insights = references.Insights()
    insights.webhook_resources.add(references.Resource(
        group=model.GROUP, version="v1alpha1", plural=model.PLURAL, kind=model.KIND,
        singular="appimage", shortcuts=["aimg"], namespaced=False,
        verbs=["create", "update"]))
    webhookfn = functools.partial(
        admission.serve_admission_request, settings=settings, registry=registry,
        insights=insights, memories=inventory.ResourceMemories(),
        memobase=ephemera.AnyMemo(ephemera.Memo()), indices=indexing.OperatorIndexers().indices)
    server = kopf.WebhookServer(addr="127.0.0.1", port=port, certfile=str(cert_dir / "server.crt"),
                                pkeyfile=str(cert_dir / "server.key"))
    async with server:
        async for _ in server(webhookfn):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=pathlib.Path, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args.port, args.cert_dir))
    else:
        uvloop.run(serve(args.port, args.cert_dir))


if __name__ == "__main__":
    main()
