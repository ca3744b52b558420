"""Kuscia's workloads as the Kubernetes API server holds them: what ``workloads.Guard``
needs of the cluster.

``Cluster`` is the ``workloads.Lookup`` of the ``kubernetes`` store. The users of an
AppImage are listed from the API server at each AppImage delete or update (rare: a LIST
per kind, in pages, all namespaces), never cached, so a job created a moment ago counts.
The AppImages a new workload names come from ``Index``, what the rules read of every
AppImage kept in memory by one LIST and then a WATCH (an informer's way): a KusciaJob
review asks the API server nothing, and does not wait on it while the API server is busy
admitting the job. The index is a cache: a name it lacks (not synced yet, or created a
moment ago) is read through the store (a GET), and what it makes the rules refuse is
asked again of the API server (``fresh``) before anything is refused. Kuscia's kinds are
looked up only once the API server serves them: discovery says which it does, asked
again after ``DISCOVERY_TTL`` so that CRDs installed later are seen; where it serves
none, nothing is listed and one log line says so. Every failure to ask (no answer, a
refusal such as a missing RBAC permission, an answer that is no list) is
``workloads.Unavailable``, which the guard answers per its policy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from webhook.core import errors, formats, model, storage
from webhook.core.kuscia import workloads
from webhook.store import kube

log = logging.getLogger(__name__)

_GROUP = f"/apis/{model.API_VERSION}"
_APPIMAGES = f"{_GROUP}/{model.PLURAL}"
PAGE = 500
"""Objects per LIST page: the API server's own paging, so no answer grows unbounded."""
DISCOVERY_TTL = 60.0
"""Seconds a discovery answer holds (a Kuscia CRD installed later counts after this)."""
WATCH_SECONDS = 300
"""A WATCH is renewed from where it was after this long: a connection that died without
a word is found out within it."""
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Waits before the index lists again after a failure, then the last one each time: a
WATCH that RBAC refuses must not become a LIST of every AppImage every few seconds."""


class Index:
    """``workloads.essentials`` of every AppImage, by name, kept by one LIST and a WATCH
    from its resourceVersion (renewed every ``WATCH_SECONDS``; listed again when the API
    server says the version is gone, 410, or any call fails). ``synced`` is False until
    the first LIST is in and after a failure until the next one: then nothing is
    answered from it."""

    def __init__(self, client: kube.Client) -> None:
        self._client = client
        self._essentials: dict[str, dict[str, Any]] = {}
        self.synced = False

    def get(self, name: str) -> dict[str, Any] | None:
        return self._essentials.get(name)

    def __len__(self) -> int:
        return len(self._essentials)

    async def run(self) -> None:
        """Keep the index until cancelled."""
        failures = 0
        while True:
            try:
                version = await self._list()
                failures = 0
                while version:
                    version = await self._watch(version)
            except (kube.Error, _Gone) as e:
                self.synced = False
                wait = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning("the AppImage index is behind (%s); listing again in %g s", e, wait)
                await asyncio.sleep(wait)

    async def _list(self) -> str:
        found: dict[str, dict[str, Any]] = {}
        params = {"limit": str(PAGE)}
        while True:
            status, answer = await self._client.request("GET", _APPIMAGES, params=params)
            if status >= 300 or not isinstance(answer.get("items"), list):
                raise _Gone(f"listing AppImages answered {status}: {answer.get('message', 'no list')}")
            for item in answer["items"]:
                self._keep(found, item)
            metadata = answer.get("metadata") or {}
            if not metadata.get("continue"):
                break
            params = {"limit": str(PAGE), "continue": metadata["continue"]}
        self._essentials, self.synced = found, True
        return str(metadata.get("resourceVersion", ""))

    async def _watch(self, version: str) -> str:
        """Apply one WATCH's events; the version to go on from ("" when it ended early)."""
        async for event in self._client.watch(_APPIMAGES, version, WATCH_SECONDS):
            kind, obj = event.get("type"), event.get("object")
            obj = obj if isinstance(obj, dict) else {}
            if kind == "ERROR":
                raise _Gone(f"watching AppImages: {obj.get('code', '?')} {obj.get('message', '')}".rstrip())
            if kind in ("ADDED", "MODIFIED"):
                self._keep(self._essentials, obj)
            elif kind == "DELETED":
                self._essentials.pop(str((obj.get("metadata") or {}).get("name", "")), None)
            version = str((obj.get("metadata") or {}).get("resourceVersion", version))
        return version

    @staticmethod
    def _keep(into: dict[str, dict[str, Any]], obj: Any) -> None:
        name = (obj.get("metadata") or {}).get("name") if isinstance(obj, dict) else None
        if isinstance(name, str):
            into[name] = workloads.essentials(obj)


class _Gone(Exception):
    """The index cannot go on from where it is: it lists again."""


class Cluster:
    """Kuscia's workloads and our AppImages, as one API server holds them."""

    def __init__(self, client: kube.Client, store: storage.Store, index: Index | None = None) -> None:
        self._client = client
        self._store = store
        self._index = index
        self._served: tuple[str, ...] | None = None
        self._asked = 0.0
        self._said: tuple[str, ...] | None = None

    async def _call(self, path: str, params: Mapping[str, str] | None = None
                    ) -> tuple[int, dict[str, Any]]:
        try:
            return await self._client.request("GET", path, params=params)
        except kube.Error as e:
            raise workloads.Unavailable(str(e)) from e

    async def kinds(self) -> tuple[str, ...]:
        """The plurals of Kuscia's workload kinds the API server serves (discovery)."""
        if self._served is not None and time.monotonic() - self._asked < DISCOVERY_TTL:
            return self._served
        status, answer = await self._call(_GROUP)
        if status >= 300:
            raise workloads.Unavailable(f"discovery of {model.API_VERSION} answered {status}: "
                                        f"{answer.get('message', '')}".rstrip(": "))
        names = {r.get("name") for r in answer.get("resources", ()) if isinstance(r, dict)}
        self._served = tuple(plural for plural in workloads.PLURALS.values() if plural in names)
        self._asked = time.monotonic()
        if self._served != self._said:
            self._said = self._served
            if self._served:
                log.info("Kuscia's workloads are served: %s", ", ".join(self._served))
            else:
                log.info("none of Kuscia's workload kinds is served: no workload is looked up")
        return self._served

    async def users(self, appimage: str) -> list[workloads.Workload]:
        lists = await asyncio.gather(*(self._list(plural) for plural in await self.kinds()))
        parsed = (workloads.parse(obj) for objects in lists for obj in objects)
        return [w for w in parsed if w is not None and any(u.appimage == appimage for u in w.uses)]

    async def _list(self, plural: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params = {"limit": str(PAGE)}
        while True:
            status, answer = await self._call(f"{_GROUP}/{plural}", params)
            if status >= 300 or not isinstance(answer.get("items"), list):
                raise workloads.Unavailable(f"listing {plural} answered {status}: "
                                            f"{answer.get('message', 'no list')}")
            found += [item for item in answer["items"] if isinstance(item, dict)]
            token = answer.get("metadata", {}).get("continue")
            if not token:
                return found
            params = {"limit": str(PAGE), "continue": token}

    async def appimages(self, names: Iterable[str], *, fresh: bool = False
                        ) -> dict[str, Mapping[str, Any] | None]:
        names = list(names)
        # A name that is no object name cannot exist (and is no path to ask the store).
        valid = sorted({name for name in names if not formats.dns_subdomain(name)})
        index = self._index
        found: dict[str, Mapping[str, Any]] = {}
        if not fresh and index is not None and index.synced:
            found = {name: kept for name in valid if (kept := index.get(name)) is not None}
        missing = [name for name in valid if name not in found]
        if missing:  # not in the index (yet), or asked fresh: read through the store
            try:
                records = await self._store.get_many(missing)
            except errors.StoreError as e:
                raise workloads.Unavailable(e.message) from e
            found |= {name: record.obj for name, record in zip(missing, records, strict=True) if record}
        return {name: found.get(name) for name in names}
