"""Command line: ``serve``, ``audit``, ``gen-certs``, ``validate FILE…``, ``schema [--crd]``.

Every ``serve`` and ``audit`` flag is also read from an ``APPIMAGE_…`` environment
variable (the flag wins). Exit codes: 0 fine, 1 invalid manifests (``validate``) or a
stored AppImage refused (``audit``), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib.metadata
import os
import pathlib
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import uvloop
import yaml

from webhook.app import audit, server, validate
from webhook.core import crd, kubetypes, schemagen, sources, validation
from webhook.ops import certificates, logs, settings

ENV_PREFIX = "APPIMAGE_"


def _env_default(flag: str, fallback: str | None) -> str | None:
    return os.environ.get(ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper(), fallback)


def _add_flag(p: argparse.ArgumentParser, flag: str, default: Any, help_: str, *,
              unset: str = "none", **kw: Any) -> None:
    """A flag also read from its ``APPIMAGE_…`` variable, its default shown in ``--help``."""
    # The default shown is the one in effect: the variable's value when it is set.
    env = ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()
    value = _env_default(flag, default)
    shown = str(value or unset).replace("%", "%%")  # argparse %-formats help
    p.add_argument(flag, default=value, help=f"{help_} (default: {shown}) [${env}]", **kw)


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the REST API, the admission webhook and probes")
    d = settings.Settings()
    add = functools.partial(_add_flag, p)

    add("--rest-addr", str(d.rest_addr), "REST API address")
    add("--webhook-addr", str(d.webhook_addr), "admission webhook address")
    add("--probe-addr", str(d.probe_addr), "/healthz, /readyz and /metrics address (plain HTTP)")
    add("--grpc-addr", str(d.grpc_addr), "gRPC AppImageService address (TLS as --tls-mode)")
    add("--tls-mode", d.tls_mode, "REST TLS; notls also makes the webhook plain HTTP",
        choices=settings.TLS_MODES)
    add("--cert-dir", str(d.cert_dir), "ca.crt, server.crt, server.key, or gen-certs --kuscia's "
        "layout (a dev set is made if empty)")
    add("--token-file", None, "file with the token REST callers send as the Token header",
        unset="none, no token check")
    _store_flags(add, d)
    add("--dns-name", ",".join(d.dns_names), "comma-separated extra DNS names for a dev certificate")
    add("--request-timeout", str(d.request_timeout), "seconds one request may take")
    add("--idle-timeout", str(d.idle_timeout),
        "seconds a connection may go without a complete request (idle, or trickling headers)")
    add("--handshake-timeout", str(d.handshake_timeout), "seconds a TLS handshake may take")
    add("--max-connections", str(d.max_connections),
        "open connections per listener; more are answered 503")
    add("--shutdown-timeout", str(d.shutdown_timeout), "seconds in-flight requests get on SIGTERM")
    add("--shutdown-delay", str(d.shutdown_delay),
        "seconds to keep serving after SIGTERM while /readyz fails")
    add("--cert-reload-interval", str(d.cert_reload_interval),
        "seconds between checks of the certificate files")
    add("--client-ca-file", None, "CA certificates REST client certificates must chain to (mtls)",
        unset="ca.crt of --cert-dir")
    add("--cert-secret", d.cert_secret, "NAMESPACE/NAME: self-managed certificates kept in this "
        "Secret, renewed, and written into --cert-dir")
    add("--webhook-config-name", d.webhook_config_name,
        "Mutating- and ValidatingWebhookConfiguration to publish the self-managed CA to")
    p.add_argument("--cert-dns-name", action="append", default=None,
                   help="name of the self-managed serving certificate (repeat, or comma-separated)"
                        f" (default: none) [${ENV_PREFIX}CERT_DNS_NAME]")
    add("--log-level", d.log_level, "DEBUG, INFO, WARNING or ERROR")
    add("--kuscia-references", d.kuscia_references, "a broken link from Kuscia's workloads to an "
        "AppImage (deleted in use, missing, no template for a role): deny, warn, or off "
        "(needs --store kubernetes)", choices=settings.REFERENCES)


def _store_flags(add: Callable[..., None], d: settings.Settings) -> None:
    """The flags ``serve`` and ``audit`` share: which store, which rules."""
    add("--store", d.store, "sqlite:///PATH or kubernetes")
    add("--kubernetes-version", d.kubernetes_version,
        f"PodSpec schema version ({', '.join(kubetypes.versions()[-3:])}…)", unset="newest bundled")
    add("--allowed-registries", ",".join(d.allowed_registries),
        "comma-separated registry hosts (host:port) or host/path prefixes images must come from",
        unset="any")
    add("--require-image-digest", str(d.require_image_digest).lower(),
        "true: image.id must be sha256:<64 hex digits>", choices=("true", "false"))


def policy_from(args: argparse.Namespace) -> validation.Policy:
    """The image policy of the ``serve`` or ``audit`` flags."""
    return validation.Policy(tuple(r.strip() for r in args.allowed_registries.split(",") if r.strip()),
                             args.require_image_digest == "true")


def _audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="check every stored AppImage against today's rules "
                       "(exit 1 if any is refused)")
    add = functools.partial(_add_flag, p)
    _store_flags(add, settings.Settings())
    add("--kubeconfig", None, "kubeconfig for --store kubernetes",
        unset="as serve: $KUBECONFIG, ~/.kube/config or the pod's service account")
    add("--output", "table", "table (one line per problem) or json", choices=audit.OUTPUTS)
    add("--page-size", str(audit.PAGE_SIZE), "AppImages read per store call")


def settings_from(args: argparse.Namespace) -> settings.Settings:
    """Settings from parsed ``serve`` flags; ``ValueError`` names a bad flag."""
    def number(flag: str, value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{flag}: expected a number of seconds, got {value!r}") from None

    def count(flag: str, value: str) -> int:
        if not str(value).isdigit():
            raise ValueError(f"{flag}: expected a whole number, got {value!r}")
        return int(value)

    cert_dns_names = args.cert_dns_name or [_env_default("--cert-dns-name", "") or ""]
    policy = policy_from(args)
    return settings.Settings(
        rest_addr=settings.Address.parse(args.rest_addr, "--rest-addr"),
        webhook_addr=settings.Address.parse(args.webhook_addr, "--webhook-addr"),
        probe_addr=settings.Address.parse(args.probe_addr, "--probe-addr"),
        grpc_addr=settings.Address.parse(args.grpc_addr, "--grpc-addr"),
        tls_mode=args.tls_mode,
        cert_dir=pathlib.Path(args.cert_dir),
        token_file=pathlib.Path(args.token_file) if args.token_file else None,
        store=args.store,
        kubernetes_version=args.kubernetes_version,
        dns_names=tuple(n for n in args.dns_name.split(",") if n),
        client_ca_file=pathlib.Path(args.client_ca_file) if args.client_ca_file else None,
        cert_secret=args.cert_secret,
        webhook_config_name=args.webhook_config_name,
        cert_dns_names=tuple(n.strip() for value in cert_dns_names for n in value.split(",")
                             if n.strip()),
        request_timeout=number("--request-timeout", args.request_timeout),
        idle_timeout=number("--idle-timeout", args.idle_timeout),
        handshake_timeout=number("--handshake-timeout", args.handshake_timeout),
        max_connections=count("--max-connections", args.max_connections),
        shutdown_timeout=number("--shutdown-timeout", args.shutdown_timeout),
        shutdown_delay=number("--shutdown-delay", args.shutdown_delay),
        cert_reload_interval=number("--cert-reload-interval", args.cert_reload_interval),
        log_level=args.log_level,
        kuscia_references=args.kuscia_references,
        allowed_registries=policy.allowed_registries,
        require_image_digest=policy.require_image_digest,
    )


def first_request(service: server.Service) -> str:
    """A ready-to-paste curl for the running service's REST listener."""
    s = service.settings
    rest = service.listeners["rest"]
    parts = ["curl"]
    if rest.scheme == "https":
        certs = certificates.Paths.found_in(s.cert_dir.resolve())  # the curl works from any directory
        parts += ["--cacert", str(certs.ca)]
        if s.tls_mode == "mtls":
            parts += ["--cert", str(certs.client_cert), "--key", str(certs.client_key)]
    if s.token_file:
        parts += ["-H", f'"Token: $(cat {s.token_file.resolve()})"']
    parts += ["-H", "'Content-Type: application/json'", "-X", "POST",
              f"{rest.url}/api/v1/appimage/list", "-d", "'{}'"]
    return " ".join(parts)


async def _serve(config: settings.Settings) -> None:
    service = server.Service(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()  # a failed start has closed what it opened, and raises
    try:
        # What start built (modules, compiled schemas) lives as long as the process: frozen
        # out of the collector's sight, a full collection no longer walks it (~12 ms a time;
        # a list page's p99 at one client went from ~24 ms to ~5 ms).
        gc.freeze()
        for listener in service.listeners.values():
            print(f"{listener.name:8} listening on {listener.url}", flush=True)
        print(f"first request:\n  {first_request(service)}", flush=True)
        await stop.wait()
    finally:
        await service.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="appimage-webhook", description=__doc__.splitlines()[0])
    # The installed distribution's version: what an image runs, checked without a shell.
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {importlib.metadata.version('appimage-webhook')}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _audit_parser(sub)
    gen = sub.add_parser("gen-certs", help="write a CA, a serving and a client certificate")
    gen.add_argument("--out", required=True, help="directory for ca.crt, server.crt, client.crt…")
    gen.add_argument("--dns", action="append", default=[], help="DNS name for the server (repeat)")
    gen.add_argument("--ip", action="append", default=[], help="IP address for the server (repeat)")
    gen.add_argument("--force", action="store_true", help="replace existing files")
    gen.add_argument("--kuscia", action="store_true",
                     help="Kuscia's layout, as the API document's curls read ${CTR_CERTS_ROOT}: "
                          "ca.crt, ca.key, kusciaapi-server.crt/.key (serving and client "
                          "certificate in one) and a random token; serve --cert-dir DIR uses it")
    check = sub.add_parser("validate", help="validate AppImage manifests or REST request bodies "
                           "(.json as JSON, else YAML, multi-doc)")
    check.add_argument("files", nargs="+", help="files, - for standard input")
    schema = sub.add_parser("schema", help="print the JSON Schema, or the CRD manifest")
    schema.add_argument("--crd", action="store_true", help="print the CustomResourceDefinition")
    schema.add_argument("--rest", action="store_true", help="print the REST request/answer schema")
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            config = settings_from(args)
            logs.configure(config.log_level)
            with contextlib.suppress(KeyboardInterrupt):
                # uvloop: its TLS and transports are C, where asyncio's are Python; the
                # profile of a review spent ~12% of the CPU there (bench/results/latest.md).
                uvloop.run(_serve(config))
        elif args.command == "gen-certs":
            dns = args.dns or ([] if args.ip else list(certificates.LOCAL_DNS_NAMES))
            ips = args.ip or ([] if args.dns else list(certificates.LOCAL_IP_ADDRESSES))
            if args.kuscia:
                written = certificates.write_kuscia_set(pathlib.Path(args.out), dns, ips,
                                                        overwrite=args.force)
                print(f"wrote {written.ca.parent}: ca.crt ca.key {certificates.KUSCIA_SERVER_CERT} "
                      f"{certificates.KUSCIA_SERVER_KEY} {certificates.KUSCIA_TOKEN}")
            else:
                written = certificates.write_cert_set(pathlib.Path(args.out), dns, ips, overwrite=args.force)
                print(f"wrote {written.ca.parent}: ca.crt ca.key server.crt server.key client.crt client.key")
        elif args.command == "audit":
            if not args.page_size.isdigit():
                raise ValueError(f"--page-size: expected a whole number, got {args.page_size!r}")
            sys.exit(audit.command(
                args.store, sys.stdout, kubeconfig=pathlib.Path(args.kubeconfig) if args.kubeconfig else None,
                kubernetes_version=args.kubernetes_version, output=args.output,
                page_size=int(args.page_size), policy=policy_from(args)))
        elif args.command == "validate":
            sys.exit(validate.files(args.files))
        elif args.crd:
            print(yaml.safe_dump(crd.manifest(), sort_keys=False), end="")
        else:
            document = (schemagen.rest_schema(sources.cr_schema()) if args.rest else sources.cr_schema())
            print(schemagen.render(document), end="")
    except ValueError as e:
        print(f"appimage-webhook: {e}", file=sys.stderr)
        sys.exit(2)
