"""AppImages as the custom resource in the Kubernetes API server (and so in etcd).

For clusters and for running several replicas: the API server is the shared state, and
its ``resourceVersion`` is the store's version, so compare-and-swap is the API server's
own optimistic concurrency (a stale PUT is 409 Conflict). Writes go through the API
server's admission chain, our own webhooks included. Calls map as Kuscia's do:
create -> POST (409 AlreadyExists), get -> GET (404), replace -> PUT with
``resourceVersion``, delete -> DELETE, list -> ``limit``/``continue``, get_many ->
concurrent GETs. Writes ask for ``fieldValidation=Strict`` so an unknown field is an
error rather than silently pruned. The client's own errors (``kube.Error``) are turned
into store errors here, at the boundary (``raise … from e``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from webhook.core import errors, formats, model, storage
from webhook.store import kube

# get_many fans out at most this many GETs at once: enough to hide round trips,
# few enough not to trip the API server's per-client rate limits.
MAX_CONCURRENT_GETS = 32

_PATH = f"/apis/{model.API_VERSION}/{model.PLURAL}"
_WRITE = {"fieldValidation": "Strict"}


def _record(obj: dict[str, Any]) -> storage.Record:
    metadata = obj.get("metadata", {})
    return storage.Record(name=metadata.get("name", ""), obj=obj,
                       version=str(metadata.get("resourceVersion", "")))


def _message(body: Mapping[str, Any], status: int) -> str:
    return str(body.get("message") or f"HTTP {status}")


def _failure(status: int, body: Mapping[str, Any], name: str) -> errors.StoreError:
    """The store error for an API server answer that is not a success."""
    reason = body.get("reason", "")
    if status == 404:
        return errors.NotFound(f"appimage {name!r} does not exist")
    if status == 409 and reason == "AlreadyExists":
        return errors.AlreadyExists(f"appimage {name!r} already exists")
    if status == 409:
        return errors.Conflict(f"appimage {name!r} was changed by another writer")
    if status in (400, 422):
        # Refused by the API server's validation, the CRD's rules or an admission webhook.
        return errors.Refused(_message(body, status))
    return errors.StoreUnavailable(f"Kubernetes API server answered {status}: {_message(body, status)}")


class KubernetesStore(storage.Store):
    """AppImages through one API server; ``await KubernetesStore.open()`` from the
    environment's credentials (``KUBECONFIG`` or the pod's service account)."""

    def __init__(self, client: kube.Client) -> None:
        self.client = client

    @classmethod
    async def open(cls, config: kube.Config | None = None) -> KubernetesStore:
        return cls(kube.Client(config or kube.load_config()))

    async def _request(self, method: str, path: str, *, body: Any = None,
                       params: Mapping[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        try:
            return await self.client.request(method, path, body=body, params=params)
        except kube.Error as e:
            raise errors.StoreUnavailable(str(e)) from e

    async def _call(self, method: str, name: str, *, body: Any = None,
                    params: Mapping[str, str] | None = None) -> dict[str, Any]:
        if method != "POST" and name and formats.dns_subdomain(name):
            # No object has such a name, and it must not become a path of another resource.
            raise errors.NotFound(f"appimage {name!r} does not exist")
        path = f"{_PATH}/{name}" if name and method != "POST" else _PATH
        status, answer = await self._request(method, path, body=body, params=params)
        if status >= 300:
            raise _failure(status, answer, name)
        return answer

    async def create(self, obj: Mapping[str, Any]) -> storage.Record:
        name = obj.get("metadata", {}).get("name", "")
        body = {**obj, "metadata": {k: v for k, v in obj.get("metadata", {}).items()
                                    if k not in ("resourceVersion", "uid")}}
        return _record(await self._call("POST", name, body=body, params=_WRITE))

    async def get(self, name: str) -> storage.Record:
        return _record(await self._call("GET", name))

    async def get_many(self, names: Sequence[str]) -> list[storage.Record | None]:
        gate = asyncio.Semaphore(MAX_CONCURRENT_GETS)

        async def one(name: str) -> storage.Record | None:
            async with gate:
                try:
                    return await self.get(name)
                except errors.NotFound:
                    return None

        return list(await asyncio.gather(*(one(name) for name in names)))

    async def replace(self, obj: Mapping[str, Any], version: str) -> storage.Record:
        metadata = dict(obj.get("metadata", {}))
        metadata["resourceVersion"] = version
        name = metadata.get("name", "")
        return _record(await self._call("PUT", name, body={**obj, "metadata": metadata}, params=_WRITE))

    async def delete(self, name: str) -> None:
        await self._call("DELETE", name)

    async def list(self, limit: int, token: str = "") -> storage.Page:
        params = {"limit": str(limit)}
        if token:
            params["continue"] = token
        status, answer = await self._request("GET", _PATH, params=params)
        if token and status in (400, 410, 422):  # 410 Gone: the continue token expired
            raise errors.Refused("page_token: is not a token this server issued, or it expired; "
                                 "list again from the start")
        if status >= 300:
            raise _failure(status, answer, "")
        records = [_record(item) for item in answer.get("items", [])]
        return storage.Page(records=records, next_token=answer.get("metadata", {}).get("continue", ""))

    async def ready(self) -> bool:
        try:
            status, _ = await self.client.request("GET", f"/apis/{model.API_VERSION}")
        except kube.Error:
            return False
        return status == 200

    async def close(self) -> None:
        await self.client.close()
