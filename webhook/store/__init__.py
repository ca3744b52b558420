"""Storage backends behind one protocol (``storage.Store``) and the single wiring point.

``open_store`` picks the backend from the ``--store`` setting, for ``serve`` and
``audit`` alike; optional backends are imported only when chosen, so a missing optional
dependency fails with a clear message only for those who use it.
"""

from __future__ import annotations

import pathlib

from webhook.core import errors, storage


async def _open(url: str, kubeconfig: pathlib.Path | None) -> storage.Store:
    if url.startswith("sqlite:///"):
        from webhook.store import sqlite

        return await sqlite.SQLiteStore.open(url.removeprefix("sqlite:///"))
    from webhook.store import kube, kubernetes

    return await kubernetes.KubernetesStore.open(kube.from_kubeconfig(kubeconfig) if kubeconfig else None)


async def open_store(url: str, kubeconfig: pathlib.Path | None = None) -> storage.Store:
    """``sqlite:///PATH`` or ``kubernetes`` as an opened store; Kubernetes credentials from
    ``kubeconfig``, else where ``kube.load_config`` finds them (``KUBECONFIG``,
    ``~/.kube/config``, the pod's service account). A store that cannot be opened is a
    ``ValueError`` naming ``--store`` and the reason: a one-line start-up error."""
    if not (url == "kubernetes" or url.startswith("sqlite:///")):
        raise ValueError(f"--store: expected sqlite:///PATH or kubernetes, not {url!r}")
    try:
        return await _open(url, kubeconfig)
    except OSError as e:  # a kubeconfig or service-account file that cannot be read
        where = f"{e.filename}: " if e.filename else ""
        raise ValueError(f"--store: {url}: {where}{e.strerror}") from None
    except (ValueError, errors.StoreUnavailable) as e:
        raise ValueError(f"--store: {url}: {e}") from None
