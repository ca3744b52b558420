"""``audit``: every stored AppImage held to today's rules, before an operator sets the
webhook's ``failurePolicy`` to ``Fail`` or upgrades.

Each object is checked as the webhooks would check it on its next write: defaults, then
``validation.validate`` with the configured PodSpec ``checker`` (so an object stored
before the mutating webhook ran is not refused for a default it lacks). Paths are in the
custom-resource spelling (``paths.format_path``).

Memory stays bounded by one page whatever the store holds: ``run`` pages through
``Store.list`` and writes each object's problems as soon as it is checked, keeping only
counts. No aiohttp; the caller owns the store and the output stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, TextIO

from webhook.core import defaulting, errors, paths, podspec, schemas, storage, validation
from webhook.store import open_store

Output = Literal["table", "json"]
OUTPUTS: tuple[Output, ...] = ("table", "json")
# Objects per store call: few round trips to the API server, and a page of AppImages of
# a few KB each is at most a few MB in memory.
PAGE_SIZE = 500


@dataclasses.dataclass(slots=True)
class Counts:
    """How many objects were read, refused (any error) and warned (warnings only)."""

    audited: int = 0
    refused: int = 0
    warned: int = 0

    @property
    def clean(self) -> int:
        return self.audited - self.refused - self.warned

    def as_json(self) -> dict[str, int]:
        return {"audited": self.audited, "refused": self.refused, "warned": self.warned,
                "clean": self.clean}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One object's problems, as ``(field, message)`` pairs in the CR spelling."""

    name: str
    errors: Sequence[tuple[str, str]]
    warnings: Sequence[tuple[str, str]]


def problems(obj: Mapping[str, Any], checker: podspec.Checker,
             policy: validation.Policy = validation.Policy()
             ) -> tuple[list[schemas.Problem], list[schemas.Problem]]:
    """(errors, warnings) of an AppImage custom resource as the webhooks judge it: its
    defaults filled first (their warnings included), then validated."""
    defaulted, defaulting_warnings = defaulting.default(obj)
    report = validation.validate(defaulted, checker, policy)
    return report.errors, [*defaulting_warnings, *report.warnings]


def _fields(found: Sequence[schemas.Problem]) -> list[tuple[str, str]]:
    return [(paths.format_path(path), paths.spelled(message, rest=False)) for path, message in found]


class Writer(Protocol):
    def finding(self, found: Finding) -> None: ...

    def page_done(self) -> None: ...

    def end(self, counts: Counts) -> None: ...


def _one_line(text: str) -> str:
    """A message or name as one table line: a line break in it would start a false row."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


class Table:
    """For a terminal: a header, one line per problem (``NAME VERDICT FIELD MESSAGE``;
    errors ``refused``, warnings ``warned``), and a summary line.

    Columns are aligned page by page, as kubectl aligns each chunk of a long listing:
    a page's rows are held until it is done, never more."""

    HEADER = ("NAME", "VERDICT", "FIELD", "MESSAGE")

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._rows: list[tuple[str, str, str, str]] = []
        self._started = False

    def finding(self, found: Finding) -> None:
        name = _one_line(found.name)
        for verdict, listed in (("refused", found.errors), ("warned", found.warnings)):
            self._rows += [(name, verdict, _one_line(field), _one_line(message))
                           for field, message in listed]

    def page_done(self) -> None:
        if not self._rows:
            return
        rows = self._rows if self._started else [self.HEADER, *self._rows]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for row in rows:
            self.out.write("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
                           + f"  {row[3]}\n")
        self._rows = []
        self._started = True

    def end(self, counts: Counts) -> None:
        self.out.write(f"{counts.audited} AppImage{'' if counts.audited == 1 else 's'} audited: "
                       f"{counts.refused} refused, "
                       f"{counts.warned} with warnings only, {counts.clean} clean\n")


class Json:
    """One JSON document, written as it goes: ``{"appimages": [{name, errors: [{field,
    message}], warnings: [...]}, ...], "counts": {audited, refused, warned, clean}}``;
    only objects with a problem are listed, one per line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._listed = 0

    def finding(self, found: Finding) -> None:
        item = {"name": found.name,
                "errors": [{"field": f, "message": m} for f, m in found.errors],
                "warnings": [{"field": f, "message": m} for f, m in found.warnings]}
        self.out.write(("," if self._listed else '{"appimages": [') + "\n" + json.dumps(item))
        self._listed += 1

    def page_done(self) -> None:
        """Nothing held: each object is written whole as it is checked."""

    def end(self, counts: Counts) -> None:
        self.out.write(("\n" if self._listed else '{"appimages": [')
                       + f'], "counts": {json.dumps(counts.as_json())}}}\n')


async def _page(store: storage.Store, page_size: int, token: str) -> storage.Page:
    """One page; the listing's own failures said in the audit's terms."""
    try:
        return await store.list(page_size, token)
    except errors.NotFound as e:  # the API server serves no such collection
        raise errors.StoreUnavailable("no AppImage collection: is the AppImage "
                                      "CustomResourceDefinition installed?") from e
    except errors.Invalid as e:  # an expired continue token on the Kubernetes API
        raise errors.StoreUnavailable(f"the listing broke off ({e}); run the audit again") from e


async def run(store: storage.Store, out: TextIO, checker: podspec.Checker, *,
              output: Output = "table", page_size: int = PAGE_SIZE,
              policy: validation.Policy = validation.Policy()) -> Counts:
    """Check every stored AppImage, writing each one's problems to ``out`` as found;
    the counts. Store failures raise ``errors.ServiceError``, the output so far written."""
    writer: Writer = Table(out) if output == "table" else Json(out)
    counts = Counts()
    cursor = ""  # the next page's token; "" for the first
    while True:
        page = await _page(store, page_size, cursor)
        for record in page.records:
            found_errors, found_warnings = problems(record.obj, checker, policy)
            counts.audited += 1
            counts.refused += bool(found_errors)
            counts.warned += bool(found_warnings and not found_errors)
            if found_errors or found_warnings:
                writer.finding(Finding(record.name, _fields(found_errors), _fields(found_warnings)))
        writer.page_done()
        out.flush()  # an operator watching a long audit sees each page's problems
        if not page.next_token:
            break
        cursor = page.next_token
    writer.end(counts)
    out.flush()
    return counts


async def _audit(url: str, kubeconfig: pathlib.Path | None, out: TextIO, checker: podspec.Checker,
                 output: Output, page_size: int, policy: validation.Policy) -> Counts:
    store = await open_store(url, kubeconfig)
    try:
        return await run(store, out, checker, output=output, page_size=page_size, policy=policy)
    except errors.ServiceError as e:
        raise ValueError(f"--store: {url}: {e}") from None
    finally:
        await store.close()


def command(url: str, out: TextIO, *, kubeconfig: pathlib.Path | None = None,
            kubernetes_version: str = "", output: Output = "table", page_size: int = PAGE_SIZE,
            policy: validation.Policy = validation.Policy()) -> int:
    """The ``audit`` command: open the store as ``serve`` does, run, close; exit status 1
    when any object is refused, else 0. ``ValueError`` naming the flag for what cannot
    run (a bad flag, a store that cannot be opened or fails on the way)."""
    if not 1 <= page_size <= storage.MAX_PAGE_SIZE:
        raise ValueError(f"--page-size: must be 1..{storage.MAX_PAGE_SIZE}, not {page_size}")
    checker = podspec.checker(kubernetes_version or None)
    if url.startswith("sqlite:///") and not pathlib.Path(url.removeprefix("sqlite:///")).is_file():
        # Opening would create an empty store, and the audit would find it clean.
        raise ValueError(f"--store: {url}: no such file")
    counts = asyncio.run(_audit(url, kubeconfig, out, checker, output, page_size, policy))
    return 1 if counts.refused else 0
