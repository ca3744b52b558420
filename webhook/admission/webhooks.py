"""The admission webhook's HTTP glue: POST /mutate and /validate.

An unreadable body (wrong content type, malformed JSON, not an admission.k8s.io/v1
AdmissionReview) is HTTP 400 with the reason in plain text, as controller-runtime
answers; a readable review always gets HTTP 200 and a review, allowed or denied.
Nothing here decides anything: that is ``handlers`` (and ``links`` for what the
validating webhook asks of the cluster).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from webhook.admission import handlers, links, responses, reviews
from webhook.core import bodies, podspec, validation
from webhook.core.kuscia import workloads
from webhook.ops import metrics, routing

log = logging.getLogger(__name__)

Decide = Callable[[reviews.Request], Awaitable[reviews.Review]]


async def _review(request: web.BaseRequest, decide: Decide, body_timeout: float) -> web.Response:
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return web.Response(status=400, text=f"Content-Type: must be application/json, "
                                             f"not {content_type!r}")
    try:
        # A body that has all arrived (the usual case) is read without a timer: wait_for
        # costs a task and a timer handle per review (~4% of a /validate's CPU).
        raw = await (request.read() if request.content.is_eof()
                     else asyncio.wait_for(request.read(), body_timeout))
        review = reviews.parse(bodies.parse(raw, strict=False))
    except web.HTTPRequestEntityTooLarge as e:
        return web.Response(status=413, text=f"body: {e.text}")
    except TimeoutError:
        return web.Response(status=408, text=f"body: not received within "
                                             f"{body_timeout:g} s")
    except bodies.Unreadable as e:
        return web.Response(status=400, text=f"body: {e}")
    except reviews.Unreadable as e:
        return web.Response(status=400, text=f"not an AdmissionReview: {e}")
    if review.get("dryRun"):
        log.debug("dry-run review", extra={"uid": review["uid"]})
    try:
        answer = await decide(review)
    except Exception:
        # A bug must not become a 500 the API server retries into a stuck write:
        # answer a well-formed review that refuses, and log the cause.
        log.exception("admission handler failed", extra={"uid": review["uid"]})
        answer = responses.errored(review["uid"], "the AppImage webhook failed; see its log")
    return web.Response(body=orjson.dumps(answer), content_type="application/json")


def routes(*, checker: podspec.Checker, figures: metrics.Metrics, body_limit: int,
           timeout: float, drain: routing.Drain | None = None,
           policy: validation.Policy = validation.Policy(),
           guard: workloads.Guard = workloads.NO_GUARD) -> routing.Routes:
    """The webhook listener's routes: POST /mutate and /validate."""
    async def mutate(request: reviews.Request) -> reviews.Review:
        return handlers.mutate(request, checker, policy)

    async def validate(request: reviews.Request) -> reviews.Review:
        return await links.validate(request, checker, policy, guard)

    webhooks: dict[str, Decide] = {"/mutate": mutate, "/validate": validate}
    table = routing.Routes(body_limit)
    drain = drain or routing.Drain()
    for path, decide in webhooks.items():
        async def serve(request: web.BaseRequest, decide: Decide = decide
                        ) -> tuple[routing.Labels, web.Response]:
            response = await _review(request, decide, timeout)
            return (str(response.status),), response

        table.add("POST", path, routing.instrumented(serve, figures.webhook(path), drain))
    return table
