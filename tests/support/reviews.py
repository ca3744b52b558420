"""Admission reviews over HTTP, as the API server sends them: the webhook tests' way to post
one and read the answer.

Rule: every answer is checked to be an ``admission.k8s.io/v1`` AdmissionReview with status
200 before its ``response`` is handed back, so a test asserts on the verdict alone.
"""

from __future__ import annotations

from typing import Any

from aiohttp import test_utils


async def post(client: test_utils.TestClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    return answer["response"]
