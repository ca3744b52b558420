"""Self-managed webhook certificates: a CA and a serving certificate kept in one Secret,
the CA published as ``caBundle`` of our two webhook configurations, renewed before expiry.

Every replica runs ``Manager.run``: read the Secret, decide (``renewal.plan``: pure),
write what the decision changed — the Secret first (create, or update with its
``resourceVersion``: on a conflict another replica won and its certificates are used),
then ``caBundle`` of every webhook in both configurations, then ``ca.crt``,
``server.crt`` and ``server.key`` in the certificate directory, which the listeners'
``tls.ReloadingContext`` serves — and check again every interval, which is also how a
Secret renewed by another replica reaches this one. When certificates are renewed, and
the Secret's keys: ``renewal``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import logging
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

from webhook.ops import certificates, renewal
from webhook.store import kube

log = logging.getLogger(__name__)

# A Secret type, not a secret.
SECRET_TYPE = "kubernetes.io/tls"  # nosec B105
FIELD_MANAGER = "appimage-webhook"
ADMISSION_API = "/apis/admissionregistration.k8s.io/v1"
WEBHOOK_CONFIGURATIONS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
# A write that loses a race is re-read and decided again; losing this many times in one
# round means something keeps rewriting the object: give up until the next round.
MAX_ATTEMPTS = 3


class SyncError(Exception):
    """The API server refused a read or write (RBAC, validation, …); retried next round."""


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """What one service manages."""

    namespace: str
    secret: str
    webhook_configuration: str
    """Name of both webhook configurations to publish ``caBundle`` to; '' publishes none."""
    names: tuple[str, ...]
    """DNS names (and IP addresses) the serving certificate must hold."""
    cert_dir: pathlib.Path


class _Conflict(Exception):
    """Another writer changed the object between our read and our write."""


class Manager:
    """Keeps ``target``'s certificates made, stored, published and on disk."""

    def __init__(self, client: kube.Client, target: Target,
                 policy: renewal.Policy = renewal.Policy(), *,
                 on_files: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
                 ) -> None:
        self.client = client
        self.target = target
        self.policy = policy
        self._on_files = on_files
        self._clock = clock
        self._secret_path = f"/api/v1/namespaces/{target.namespace}/secrets"
        self._missing: set[str] = set()
        """Configurations found missing, said once (the chart may install only the
        validating one)."""

    async def run(self, interval: float) -> None:
        """``sync`` now and every ``interval`` seconds, forever (run it as a task); a
        failed round is logged and retried on the next."""
        while True:
            try:
                await self.sync()
            except (SyncError, kube.Error) as e:
                log.warning("self-managed certificates: %s", e)
            except Exception:
                # An unexpected error must not end the task: renewals would stop silently.
                log.exception("self-managed certificates: round failed")
            await asyncio.sleep(interval)

    async def sync(self) -> renewal.Decision:
        """One round: read, decide, write the Secret, publish caBundle, write the files."""
        target = self.target
        for _ in range(MAX_ATTEMPTS):
            secret = await self._read_secret()
            decision = renewal.plan(renewal.secret_pems(secret), target.names, self._clock(),
                                    self.policy)
            if not decision.changed:
                break
            try:
                await self._write_secret(secret, decision.certificates)
            except _Conflict:
                log.info("Secret %s/%s changed under us; reading it again",
                         target.namespace, target.secret)
                continue
            log.info("certificates in Secret %s/%s renewed: %s", target.namespace,
                     target.secret, "; ".join(decision.reasons))
            break
        else:
            raise SyncError(f"Secret {target.namespace}/{target.secret} kept changing; "
                            "trying again next round")
        failure: SyncError | None = None
        try:
            await self._publish(decision.certificates.ca_bundle())
        except SyncError as e:
            failure = e  # the files are still written: serving must not wait for it
        if self._write_files(decision.certificates):
            log.info("certificate files in %s updated", target.cert_dir)
            self._on_files()
        if failure is not None:
            raise failure
        return decision

    async def close(self) -> None:
        await self.client.close()

    async def _read_secret(self) -> dict[str, Any] | None:
        status, body = await self.client.request("GET", f"{self._secret_path}/{self.target.secret}")
        if status == 404:
            return None
        if status != 200:
            raise _refused("read Secret", f"{self.target.namespace}/{self.target.secret}", status, body)
        return body

    async def _write_secret(self, current: dict[str, Any] | None, certs: renewal.Certificates) -> None:
        name = f"{self.target.namespace}/{self.target.secret}"
        params = {"fieldManager": FIELD_MANAGER}
        if current is None:
            body: dict[str, Any] = {
                "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
                "metadata": {"name": self.target.secret, "namespace": self.target.namespace,
                             "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
                "data": certs.secret_data(),
            }
            status, answer = await self.client.request("POST", self._secret_path, body=body,
                                                       params=params)
        else:  # the resourceVersion read makes this a compare-and-swap
            body = {**current, "data": {**(current.get("data") or {}), **certs.secret_data()}}
            status, answer = await self.client.request(
                "PUT", f"{self._secret_path}/{self.target.secret}", body=body, params=params)
        if status == 409:
            raise _Conflict(name)
        if status >= 300:
            raise _refused("write Secret", name, status, answer)

    async def _publish(self, bundle: bytes) -> None:
        """Set ``caBundle`` of every webhook in both configurations where it differs."""
        name = self.target.webhook_configuration
        if not name:
            return
        wanted = base64.b64encode(bundle).decode()
        for plural in WEBHOOK_CONFIGURATIONS:
            path = f"{ADMISSION_API}/{plural}/{name}"
            for _ in range(MAX_ATTEMPTS):
                status, body = await self.client.request("GET", path)
                if status == 404:
                    if plural not in self._missing:
                        self._missing.add(plural)
                        log.warning("%s %s not found: caBundle not published (yet)", plural, name)
                    break
                self._missing.discard(plural)
                if status != 200:
                    raise _refused("read", f"{plural}/{name}", status, body)
                stale = [hook for hook in body.get("webhooks") or []
                         if (hook.get("clientConfig") or {}).get("caBundle") != wanted]
                if not stale:
                    break
                for hook in stale:
                    hook.setdefault("clientConfig", {})["caBundle"] = wanted
                status, answer = await self.client.request(
                    "PUT", path, body=body, params={"fieldManager": FIELD_MANAGER})
                if status == 409:
                    continue
                if status >= 300:
                    raise _refused("update", f"{plural}/{name}", status, answer)
                log.info("caBundle of %s %s published (%d webhooks)", plural, name, len(stale))
                break
            else:
                raise SyncError(f"{plural}/{name} kept changing; trying again next round")

    def _write_files(self, certs: renewal.Certificates) -> bool:
        paths = certificates.Paths.in_dir(self.target.cert_dir)
        cert, key = certs.server_pem()
        self.target.cert_dir.mkdir(parents=True, exist_ok=True)
        changed = False
        # Key before certificate: a reloader that catches the pair half-written fails to
        # load it, keeps serving the previous one and loads the pair on its next look.
        for path, data, mode in ((paths.ca, certs.ca_bundle(), 0o644),
                                 (paths.server_key, key, 0o600),
                                 (paths.server_cert, cert, 0o644)):
            changed = certificates.write_if_changed(path, data, mode) or changed
        return changed


def _refused(what: str, name: str, status: int, body: Mapping[str, Any]) -> SyncError:
    message = body.get("message") or f"HTTP {status}"
    hint = " (check the ServiceAccount's RBAC)" if status == 403 else ""
    return SyncError(f"cannot {what} {name}: HTTP {status}: {message}{hint}")
