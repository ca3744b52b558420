"""Paths into an AppImage: the custom resource's mapped to the REST spelling, and how
a path is written in a message.

Pure, no I/O. Rules find problems on the custom resource (``spec.deployTemplates[0]
.spec.containers``); Kuscia's callers know the REST spelling (``deploy_templates[0]
.containers``), so every message names a field by ``format_path(rest_path(path))``.
A message that names another field (``also at …``, a handler's name) holds it as a
``ref`` or ``field``, which ``spelled`` writes in the caller's spelling when the message
is shown: a REST answer never shows a custom-resource path.
A map's keys are a user's words: always in brackets, and abbreviated past the longest
name the rules allow.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable

from webhook.core import model

Token = str | int
Path = model.Path


def _rest_tail(node: model.Node, tokens: tuple[Token, ...]) -> Path:
    if not tokens:
        return ()
    head, rest = tokens[0], tokens[1:]
    if isinstance(node, model.Array) and isinstance(head, int):
        return (head, *_rest_tail(node.item, rest))
    if isinstance(node, model.Map):
        return (head, *_rest_tail(node.value, rest))
    f = node.by_cr.get(str(head)) if isinstance(node, model.Message) else None
    if f is None:
        return tokens
    if f.flatten:
        return _rest_tail(f.node, rest)
    return (f.rest, *_rest_tail(f.node, rest))


def rest_path(path: Path) -> Path:
    """A CR path (``spec.deployTemplates[0].spec.containers``) in REST spelling
    (``deploy_templates[0].containers``)."""
    if path[:2] == ("metadata", "name"):
        return ("name",)
    if path[:1] == ("spec",):
        return _rest_tail(model.spec_message(), path[1:])
    return path


@functools.cache
def _map_fields() -> frozenset[str]:
    """Names (both spellings) of the fields whose values are maps: the token after one
    of them is a user's key, always shown in brackets."""
    names = {"custom_headers", "customHeaders"}
    pending, seen = [model.spec_message()], set()
    while pending:
        message = pending.pop()
        if id(message) in seen:
            continue
        seen.add(id(message))
        for f in message.fields:
            node = f.node.item if isinstance(f.node, model.Array) else f.node
            if isinstance(node, model.Map):
                names.update((f.cr, f.rest))
            elif isinstance(node, model.Message):
                pending.append(node)
    return frozenset(names)


def format_path(path: Iterable[Token]) -> str:
    """``('spec', 'deployTemplates', 0, 'name')`` -> ``spec.deployTemplates[0].name``;
    map keys in brackets: ``spec.configTemplates[task-config.conf]``."""
    out, previous = "", None
    maps = _map_fields()
    for token in path:
        if isinstance(token, int) or previous in maps or not _IDENT.fullmatch(token):
            out += f"[{abbreviate(token) if isinstance(token, str) else token}]"
        else:
            out += f".{token}" if out else token
        previous = token
    return out


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# No name or key the rules allow is longer (RFC 1123 subdomains, ConfigMap keys): past
# it a value is shown abbreviated, so a message about a 3 MB key stays readable.
LONGEST_SHOWN = 253


def abbreviate(text: str) -> str:
    """``text``, or its start and its length when it is longer than ``LONGEST_SHOWN``."""
    if len(text) <= LONGEST_SHOWN:
        return text
    return f"{text[:64]}…({len(text)} characters)"


# A path inside a message, between two characters no name or key the rules allow holds:
# a tag saying how to write it (whole, or only its last token), and the path as JSON.
_REF = re.compile("\u2063([PF])(\\[[^\u2063]*\\])\u2063")


def ref(path: Path) -> str:
    """``path`` inside a message: ``spelled`` writes it in the caller's spelling."""
    return f"\u2063P{json.dumps(list(path))}\u2063"


def field(path: Path) -> str:
    """The name of the field at ``path`` inside a message, spelled as ``ref`` is."""
    return f"\u2063F{json.dumps(list(path))}\u2063"


def spelled(message: str, rest: bool) -> str:
    """``message`` with its ``ref`` and ``field`` paths in the REST spelling (``rest``) or
    the custom resource's."""
    if "\u2063" not in message:
        return message

    def write(found: re.Match[str]) -> str:
        path = tuple(json.loads(found[2]))
        shown = rest_path(path) if rest else path
        return format_path(shown) if found[1] == "P" else str(shown[-1])

    return _REF.sub(write, message)
