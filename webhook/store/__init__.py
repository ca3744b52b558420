"""Storage backends behind one protocol (``base.Store``) and the single wiring point.

``open_store`` picks the backend from the ``--store`` setting; optional backends are
imported only when chosen, so a missing optional dependency fails with a clear message
only for those who use it.
"""

from __future__ import annotations

from webhook.store import base


async def open_store(url: str) -> base.Store:
    """``sqlite:///PATH`` or ``kubernetes`` as an opened store."""
    if url.startswith("sqlite:///"):
        from webhook.store import sqlite

        return await sqlite.SQLiteStore.open(url.removeprefix("sqlite:///"))
    if url == "kubernetes":
        from webhook.store import kubernetes

        return await kubernetes.KubernetesStore.open()
    raise ValueError(f"--store: expected sqlite:///PATH or kubernetes, not {url!r}")
