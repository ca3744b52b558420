"""String formats Kubernetes and OCI define: names, image references, quantities.

Pure. Each check returns ``None`` when the value is fine, else a short reason, and
uses ``re.fullmatch`` (a ``$`` anchor would let ``"name\\n"`` through).
Results are memoized: the same names and quantities recur in every review. ``SCHEMAS``
states each format in JSON Schema, as the REST schema carries it, and ``integer_text``
an integer given as text within bounds; both read alike in every engine.
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

# Each format's grammar is written once, as a regex body that Python's ``re`` and ECMA 262
# (jsonschema-rs) read alike: explicit classes only, since ``\w``, ``\d`` and ``.`` differ
# between engines. The checks below full-match it; ``SCHEMAS`` states it in JSON Schema.
_DNS_LABEL_BODY = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_BODY = rf"{_DNS_LABEL_BODY}(?:\.{_DNS_LABEL_BODY})*"
_PORT_NAME_BODY = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_CONFIG_KEY_CHAR = r"[-._a-zA-Z0-9]"
_HEADER_NAME_BODY = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"  # RFC 7230 token
# The reference grammar of docker/distribution (Kuscia's agent parses with v2.8.2, the
# kubelet with distribution/reference v0.6.0): [domain[:port]/]component(/component)*,
# where both agree: no IPv6 host (v2.8.2 has none), and lowercase throughout, since a
# runtime reads a first component with capitals as a registry host.
_DOMAIN_COMPONENT = r"(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_IMAGE_NAME_BODY = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG_BODY = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_QUANTITY_BODY = r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?"

_DNS_LABEL = re.compile(_DNS_LABEL_BODY)
_DNS_SUBDOMAIN = re.compile(_DNS_SUBDOMAIN_BODY)
_PORT_NAME = re.compile(_PORT_NAME_BODY)
_TAG = re.compile(_TAG_BODY)
_IMAGE_ID_LIKE = re.compile(r"[a-f0-9]{64}")
_CONFIG_KEY = re.compile(f"{_CONFIG_KEY_CHAR}+")
_IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")
_HEADER_NAME = re.compile(_HEADER_NAME_BODY)
_IMAGE_NAME = re.compile(_IMAGE_NAME_BODY)
_QUANTITY = re.compile(_QUANTITY_BODY)
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


DEFAULT_REGISTRY = "docker.io"


def registry_and_path(name: str) -> tuple[str, str]:
    """The registry host (with its port) and repository path a container runtime pulls
    ``name`` from, as docker/distribution normalises it: no host means docker.io (and
    a one-component path there is under library/); index.docker.io is docker.io."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_REGISTRY, name
    if domain == "index.docker.io":
        domain = DEFAULT_REGISTRY
    if domain == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return domain, path


@_memo
def image_name(value: str) -> str | None:
    if not _IMAGE_NAME.fullmatch(value):
        if ":" in value.rsplit("/", 1)[-1] or "@" in value:
            return "must be a repository without tag or digest; put the tag in image.tag"
        if value.lower() != value:
            return "must be lowercase (a runtime reads capitals in the first part as a registry host)"
        return "must be an image repository such as secretflow/app or registry:5000/team/app"
    if _IMAGE_ID_LIKE.fullmatch(value):
        return "must not be 64 hexadecimal digits: runtimes read that as an image ID"
    domain, path = registry_and_path(value)
    if len(domain) + 1 + len(path) > IMAGE_NAME_MAX:
        return (f"must be at most {IMAGE_NAME_MAX} characters as runtimes spell it "
                f"({domain}/{path[:20]}…, {len(domain) + 1 + len(path)})")
    return None


@_memo
def image_tag(value: str) -> str | None:
    if len(value) > TAG_MAX or not _TAG.fullmatch(value):
        return (f"must be a tag: ASCII letters, digits, '_', '.', '-', not starting with '.' "
                f"or '-', at most {TAG_MAX}")
    return None


def allowed_registry(name: str, allowed: tuple[str, ...]) -> str | None:
    """Why the image ``name`` (a valid repository) comes from no registry of ``allowed``
    (hosts, ``host:port``, or ``host/path`` prefixes, compared once normalised); None
    when it does, or when nothing is listed."""
    if not allowed:
        return None
    domain, path = registry_and_path(name)
    where = f"{domain}/{path}"
    for entry in allowed:
        host, sep, prefix = entry.partition("/")
        host = DEFAULT_REGISTRY if host == "index.docker.io" else host
        within = f"{host}/{prefix}"
        if host == domain and (not sep or where == within or where.startswith(within + "/")):
            return None
    return f"comes from {where!r}, which is not in the allowed registries ({', '.join(allowed)})"


@_memo
def image_id(value: str) -> str | None:
    """An image ID as Kuscia's agent compares it: ``sha256:`` and 64 hex digits."""
    if not _IMAGE_ID.fullmatch(value):
        return "is not of the form sha256:<64 hex digits>"
    return None


@_memo
def config_key(value: str) -> str | None:
    """A ConfigMap key (Kubernetes' IsConfigMapKey): Kuscia copies the templates into one."""
    if (len(value) > CONFIG_KEY_MAX or not _CONFIG_KEY.fullmatch(value) or value == "."
            or value.startswith("..")):
        return (f"must be a file name of at most {CONFIG_KEY_MAX} letters, digits, '-', '_' and '.', "
                "not '.' or starting with '..' (a ConfigMap key)")
    return None


@_memo
def header_name(value: str) -> str | None:
    return None if _HEADER_NAME.fullmatch(value) else "must be an HTTP header name (RFC 7230 token)"


def env_name(value: str) -> str | None:
    if not value:
        return "must not be empty"
    return env_prefix(value)


def env_prefix(value: str) -> str | None:
    return "must not contain '='" if "=" in value else None


def sub_path(value: str) -> str | None:
    """A path inside the config volume: relative, without a ``..`` segment."""
    if value.startswith("/") or ".." in value.split("/"):
        return "must be a relative path without '..'"
    return None


def quantity(value: str) -> str | None:
    """A quantity a container may request: ``parse_quantity``'s, not negative."""
    try:
        return f"must not be negative, not {value!r}" if parse_quantity(value) < 0 else None
    except ValueError as e:
        return f"{value!r} {e}"


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


# --- The formats in JSON Schema ---------------------------------------------------------
# What the REST schema states of each format (``schemagen`` reads ``x-rest-format``), equal
# to the check above: tests/core/test_formats.py holds each pattern to its check in jsonschema-rs
# and in the reference jsonschema.


def full_match(body: str) -> str:
    """A JSON Schema ``pattern`` matching what ``re.fullmatch(body)`` matches, in ECMA 262
    engines and in Python's ``re.search`` alike: there ``$`` also matches before a final
    newline, which ``(?!\\n)`` forbids (``\\Z`` would be a literal Z in ECMA 262). For
    bodies that take no newline and a bounded length: a lookaround moves jsonschema-rs to
    its backtracking engine, which gives up on texts past a million characters."""
    return f"^(?:{body})(?!\\n)$"


NO_LINE_BREAK = {"pattern": "\\n"}
"""``not`` this: what ``(?!\\n)$`` says, for a format of unbounded length, whose pattern
then ends in a bare ``$`` (in Python's engine it would take a final newline)."""


def _unbounded(body: str) -> dict[str, Any]:
    """``body`` full-matched, without a lookaround (see ``full_match``)."""
    return {"pattern": f"^(?:{body})$", "not": NO_LINE_BREAK}


_END = r"(?![\s\S])"  # the end of the text in both engines, even inside a lookahead
# A path segment other than "..", said without lookarounds: they would take jsonschema-rs
# from its linear engine to a backtracking one, which gives up on a long value.
_SEGMENT = r"(?:[^/.][^/]*|\.(?:[^/.][^/]*|\.[^/]+)?)"
# parse_quantity reads the suffixes E and Ei as an exponent without digits and refuses
# them: the schema says so too, until the check takes them.
_NON_NEGATIVE_QUANTITY = (r"(?:\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)|-(?:0+(?:\.0*)?|\.0+))"
                          r"(?:[eE][+-]?[0-9]+|[numkMGTP]|[KMGTP]i)?")

SCHEMAS: dict[str, dict[str, Any]] = {
    "dns-label": {"maxLength": DNS_LABEL_MAX, "pattern": full_match(_DNS_LABEL_BODY)},
    "dns-subdomain": {"maxLength": DNS_SUBDOMAIN_MAX, "pattern": full_match(_DNS_SUBDOMAIN_BODY)},
    "port-name": {"maxLength": PORT_NAME_MAX, "pattern": full_match(
        rf"(?![-a-z0-9]*--)(?=[-0-9]*[a-z]){_PORT_NAME_BODY}")},
    # Not 64 hex digits (an image ID to a runtime); the length as runtimes spell the name
    # (docker.io/library/ added) is the check's to refuse: no pattern counts that.
    "image-name": {"maxLength": IMAGE_NAME_MAX, "pattern": full_match(
        rf"(?![a-f0-9]{{64}}{_END}){_IMAGE_NAME_BODY}")},
    "image-tag": {"maxLength": TAG_MAX, "pattern": full_match(_TAG_BODY)},
    "config-key": {"maxLength": CONFIG_KEY_MAX, "pattern": full_match(
        rf"(?!\.{_END}|\.\.){_CONFIG_KEY_CHAR}+")},
    "header-name": _unbounded(_HEADER_NAME_BODY),
    # These three take a newline anywhere, a final one too, so a bare $ cannot be fooled.
    "env-name": {"pattern": "^[^=]+$"},
    "env-prefix": {"pattern": "^[^=]*$"},
    # Relative (the first segment is not empty), no ".." segment; "" is unset.
    "sub-path": {"pattern": rf"^(?:{_SEGMENT}(?:/{_SEGMENT}?)*)?$"},
    # Not negative (-0 is zero); "" is unset. Values too large for the server's arithmetic
    # (exponents past ~10^6) are the check's to refuse.
    "quantity": _unbounded(f"(?:{_NON_NEGATIVE_QUANTITY})?"),
}

CHECKS: dict[str, Callable[[str], str | None]] = {
    "dns-label": dns_label, "dns-subdomain": dns_subdomain, "port-name": port_name,
    "image-name": image_name, "image-tag": image_tag, "config-key": config_key,
    "header-name": header_name, "env-name": env_name, "env-prefix": env_prefix,
    "sub-path": sub_path, "quantity": quantity,
}
"""Each format's check; "" is unset where the schema allows it (a tag, a sub_path…)."""
BY_PATTERN = {schema["pattern"]: name for name, schema in SCHEMAS.items()}
UNBOUNDED = frozenset(schema["pattern"] for schema in SCHEMAS.values() if "not" in schema)
"""Patterns whose format says "no line break" with a ``not`` beside them."""


def reason(fmt: str, value: str) -> str:
    """Why ``value`` fails format ``fmt``'s pattern, in the words of its check."""
    found = CHECKS[fmt](value) if value else "must not be empty"
    return found or f"must be a valid {fmt}"


def integer_text(minimum: int, maximum: int, digits: int, *, negative_zero: bool) -> str:
    """A ``pattern`` for an integer from ``minimum`` to ``maximum`` (both ≥ 0) written as
    text of at most ``digits`` digits, leading zeros allowed, as protobuf JSON takes it;
    ``negative_zero``: "-0" (and "-00"…) is zero too, when the text may carry a sign."""
    alternatives = [f"-0{{1,{digits}}}"] if negative_zero and minimum == 0 else []
    if minimum == 0 and maximum >= 10**digits - 1:
        alternatives.append(f"[0-9]{{1,{digits}}}")
    else:
        # By the number of significant digits, each after its optional leading zeros.
        for width in range(1, len(str(maximum)) + 1):
            low = max(minimum, 10 ** (width - 1) if width > 1 else 0)
            high = min(maximum, 10**width - 1)
            if low <= high:
                zeros = digits - width
                alternatives.append(("0?" if zeros == 1 else f"0{{0,{zeros}}}" if zeros else "")
                                    + _digits_between(str(low), str(high)))
    return full_match("|".join(alternatives))


def _digits(count: int) -> str:
    return "[0-9]" if count == 1 else f"[0-9]{{{count}}}"


def _digits_between(low: str, high: str) -> str:
    """A regex for the digit strings of ``len(low) == len(high)`` from ``low`` to ``high``."""
    if low == high:
        return low
    rest = len(low) - 1
    if low[0] == high[0]:
        return low[0] + _digits_between(low[1:], high[1:])
    # The heads between take every tail; the first and last head only theirs.
    whole_first, whole_last = low[1:] == "0" * rest, high[1:] == "9" * rest
    first, last = int(low[0]) + (not whole_first), int(high[0]) - (not whole_last)
    parts = [] if whole_first else [low[0] + _digits_between(low[1:], "9" * rest)]
    if first <= last:
        heads = str(first) if first == last else f"[{first}-{last}]"
        parts.append(heads + (_digits(rest) if rest else ""))
    if not whole_last:
        parts.append(high[0] + _digits_between("0" * rest, high[1:]))
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
