"""The validating webhook, links included: ``handlers.validate``, then what the guard of
Kuscia's workloads says (``workloads.Guard``).

No aiohttp. An AppImage DELETE is refused while a workload runs it; an AppImage UPDATE
that the rules allow is refused when it would leave a workload's role without a
template or drop a container a deployment names (a new image is a warning naming the
deployments that roll); a KusciaJob, KusciaTask or KusciaDeployment created, or updated
in what links it to AppImages, must name AppImages that exist and serve its parties.
Everything else is ``handlers.validate``'s to answer. Denials are Invalid (422) with
each problem at its field, as the rules' are; under ``--kuscia-references warn`` the
same findings come back as warnings.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.admission import handlers, responses, reviews
from webhook.core import model, podspec, validation
from webhook.core.kuscia import workloads


def _name(request: reviews.Request) -> str:
    obj = request.get("object") or request.get("oldObject") or {}
    metadata = obj.get("metadata")
    found = metadata.get("name") if isinstance(metadata, dict) else None
    return str(found or request.get("name", ""))


def _answered(request: reviews.Request, verdict: workloads.Verdict,
              warnings: Sequence[str] = ()) -> reviews.Review:
    said = [*warnings, *verdict.warnings]
    if not verdict.errors:
        return responses.allowed(request["uid"], said)
    return responses.denied(request["uid"], request["kind"], _name(request), verdict.errors, said)


async def validate(request: reviews.Request, checker: podspec.Checker, policy: validation.Policy,
                   guard: workloads.Guard) -> reviews.Review:
    """Allowed with warnings, or denied as Invalid naming every bad field and link."""
    kind, operation = request["kind"], request["operation"]
    if kind["group"] == model.GROUP and kind["kind"] in workloads.PLURALS:
        if operation not in ("CREATE", "UPDATE") or not guard.active:
            return responses.allowed(request["uid"])
        old = request.get("oldObject") if operation == "UPDATE" else None
        return _answered(request, await guard.workload(old, request.get("object") or {}))
    if kind["group"] != model.GROUP or kind["kind"] != model.KIND:
        return handlers.validate(request, checker, policy)
    if operation == "DELETE":
        return _answered(request, await guard.delete(_name(request)))
    answer = handlers.validate(request, checker, policy)
    if operation != "UPDATE" or not answer["response"]["allowed"] or not guard.active:
        return answer
    verdict = await guard.update(_name(request), request.get("oldObject") or {}, request.get("object") or {})
    return _answered(request, verdict, answer["response"].get("warnings", ()))
