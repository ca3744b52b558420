"""String formats Kubernetes and OCI define: names, image references, quantities.

Pure. Each check returns ``None`` when the value is fine, else a short reason, and
uses ``re.fullmatch`` (a ``$`` anchor would let ``"name\\n"`` through).
Results are memoized: the same names and quantities recur in every review.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

DNS_LABEL_MAX = 63  # RFC 1123
DNS_SUBDOMAIN_MAX = 253
PORT_NAME_MAX = 15  # IANA_SVC_NAME, RFC 6335
TAG_MAX = 128  # OCI distribution spec
IMAGE_NAME_MAX = 255  # docker/distribution reference: NameTotalLengthMax
CONFIG_KEY_MAX = 253  # ConfigMap keys

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PORT_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_TAG = re.compile(r"[\w][\w.-]*")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # RFC 7230 token
# docker/distribution reference grammar: [domain[:port]/]component(/component)*
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_QUANTITY = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?")
# Bounded memo for the checks below: names and quantities repeat across reviews. Only
# short strings are kept: a value longer than any valid one is checked each time, else
# 4096 distinct 4 MiB names (one per request) would pin 16 GiB in the cache. A full
# memo starts over: cheaper per lookup than an LRU (a plain dict, no wrapper), and the
# names of a cluster's AppImages fit many times over.
MEMO_SIZE = 4096
MEMO_MAX_LENGTH = 256
_R = TypeVar("_R")
_caches: list[dict[Any, Any]] = []
"""Every memo's dict (tests count what they hold)."""


def _memo(check: Callable[[Any], _R]) -> Callable[[Any], _R]:
    cache: dict[str, _R] = {}
    _caches.append(cache)

    @functools.wraps(check)
    def memoized(value: Any) -> _R:
        if type(value) is not str or len(value) > MEMO_MAX_LENGTH:
            return check(value)
        if value in cache:
            return cache[value]
        if len(cache) >= MEMO_SIZE:
            cache.clear()
        result = cache[value] = check(value)
        return result

    return memoized


_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}


@_memo
def dns_label(value: str) -> str | None:
    if len(value) > DNS_LABEL_MAX:
        return f"must be at most {DNS_LABEL_MAX} characters (RFC 1123 label)"
    if not _DNS_LABEL.fullmatch(value):
        return ("must be an RFC 1123 label: lowercase letters, digits and '-', "
                "starting and ending with a letter or digit")
    return None


@_memo
def dns_subdomain(value: str) -> str | None:
    if len(value) > DNS_SUBDOMAIN_MAX or not _DNS_SUBDOMAIN.fullmatch(value):
        return "must be an RFC 1123 subdomain: lowercase letters, digits, '-' and '.'"
    return None


@_memo
def port_name(value: str) -> str | None:
    if len(value) > PORT_NAME_MAX:
        return f"must be at most {PORT_NAME_MAX} characters (IANA_SVC_NAME)"
    if not _PORT_NAME.fullmatch(value) or "--" in value:
        return ("must be an IANA_SVC_NAME: lowercase letters, digits and single '-', "
                "starting and ending with a letter or digit")
    if not any(c.isalpha() for c in value):
        return "must contain at least one letter (IANA_SVC_NAME)"
    return None


@_memo
def image_name(value: str) -> str | None:
    if len(value) > IMAGE_NAME_MAX:
        return f"must be at most {IMAGE_NAME_MAX} characters"
    if not _IMAGE_NAME.fullmatch(value):
        if ":" in value.rsplit("/", 1)[-1] or "@" in value:
            return "must be a repository without tag or digest; put the tag in image.tag"
        return "must be an image repository such as secretflow/app or registry:5000/team/app"
    return None


@_memo
def image_tag(value: str) -> str | None:
    if len(value) > TAG_MAX or not _TAG.fullmatch(value):
        return f"must be a tag: letters, digits, '_', '.', '-', not starting with '.' or '-', ≤ {TAG_MAX}"
    return None


@_memo
def image_id(value: str) -> str | None:
    """An image ID as Kuscia's agent compares it: ``sha256:`` and 64 hex digits."""
    if not _IMAGE_ID.fullmatch(value):
        return "is not of the form sha256:<64 hex digits>"
    return None


@_memo
def config_key(value: str) -> str | None:
    if len(value) > CONFIG_KEY_MAX or not _CONFIG_KEY.fullmatch(value) or value in (".", ".."):
        return "must be a file name of letters, digits, '-', '_' and '.'"
    return None


@_memo
def header_name(value: str) -> str | None:
    return None if _HEADER_NAME.fullmatch(value) else "must be an HTTP header name (RFC 7230 token)"


def env_name(value: str) -> str | None:
    if not value:
        return "must not be empty"
    return "must not contain '='" if "=" in value else None


@_memo
def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity's value; ``ValueError`` with the reason if it is not one."""
    match = _QUANTITY.fullmatch(str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise ValueError("must be a Kubernetes quantity such as 100m, 0.5, 1Gi or 128974848")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIX[suffix]
    except ArithmeticError as e:  # decimal's InvalidOperation and Overflow among them
        raise ValueError("is out of range for a Kubernetes quantity") from e
