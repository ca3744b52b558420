"""render.check against the real Go: every generated template goes both through our Python port
and through our Go oracle (``hack/gotemplate``: our own Go version of Kuscia's ``{{{ }}}``
rewrite and ``kuscia`` function, then Go's ``text/template`` with Kuscia's options, executed over
``template_strategies.DATA``), and the two must agree.

What is compared:

* Parsing, exactly: Go refuses the text if and only if our parser does, at the line Go names;
  our message contains Go's (its ``config-template:N`` written ``line N``); and ``check`` reports
  that error at that line.
* Execution, where Go gives a place (line and column, mapped back through the rewrite to code
  points of the text as written; our columns must match): when Go's ``Execute`` fails, ``check``
  reports an error at that place. For the structured templates, which Go runs action by action
  (the generator knows which branch DATA takes and writes only harmless content elsewhere), also
  the converse: when ``check`` reports an execution error, Go's ``Execute`` fails.

What is left out, and why:

* Warnings (a variable Kuscia does not provide): Go renders them empty; nothing to compare.
* Errors about ports (``ALLOCATED_PORTS`` selections, ``KUSCIA_PORT_<NAME>_NUMBER`` naming no
  declared port): Go does not fail on them, ``kuscia`` renders "" and a missing key renders "".
  The data is built from the same ports ``check`` is told of (``PORTS``), so both sides see the
  same ports, but only our checker calls that an error.
* Execution errors inside content Go does not run (another branch, an uncalled define): our
  checker is path-insensitive by design (it flags an action that fails whenever it runs), Go is
  not, so the converse is checked only on the structured templates, where nothing failing is
  left unrun. Go stops at its first failure; ours may list more.
* Execution failures that hang on the data's values (an index past the end of a variable's
  value, a variable Kuscia may lack deciding ``and``/``or``): Go's failure counts only if Go fails
  at the same place over ``alternative`` data too, whose every value differs and which holds every
  name the text reads.
* Anything Go's text/template does past its data (Kuscia's config manager, a write error): the
  oracle renders into memory with a 1 MiB cap, and answers past it are skipped.

Budget: ``EXAMPLES`` (10,000 templates in all, fixed seeds) times ``FUZZ_SCALE`` (default 1):
``FUZZ_SCALE=10`` runs 100,000. The Go release and the count land in the run's "guarantees".
"""

from __future__ import annotations

import bisect
import json
import pathlib
import re
import time
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from tests.support import figures, gotemplate, template_strategies
from tests.support.render_data import DATA, ENV, PORTS, alternative
from webhook.core.kuscia import render, rewrite
from webhook.core.kuscia.gotemplate import parse, stream, tables

pytestmark = pytest.mark.differential

STRUCTURED = 6000
NOISY = 4000
EXAMPLES = STRUCTURED + NOISY
MANIFESTS = pathlib.Path(render.__file__).parents[2] / "rest" / "examples" / "manifests"
# Our errors about ports: not Go's refusals (see the docstring).
PORT_PROBLEM = re.compile(r"names no declared port|^ALLOCATED_PORTS\.\S* (is out of range|selects nothing)")

# Seeds: Kuscia-shaped config templates (the shapes of Kuscia's shipped app images, written
# anew), and the ones of our example manifests.
SEEDS = [
    '{\n  "task_id": "{{.TASK_ID}}",\n  "task_input_config": "{{.TASK_INPUT_CONFIG}}",\n'
    '  "task_cluster_def": "{{.TASK_CLUSTER_DEFINE}}",\n'
    '  "progress": "http://reporter.master.svc/report/progress?task_id={{.TASK_ID}}",\n'
    '  "allocated_ports": "{{.ALLOCATED_PORTS}}"\n}\n',
    'serving:\n  id: "{{.SERVING_ID}}"\n  ports: "{{.ALLOCATED_PORTS}}"\n'
    "  image: {{.IMAGE_NAME}}:{{.IMAGE_TAG}}\n",
    'self: "{{{.TASK_CLUSTER_DEFINE.parties[.TASK_CLUSTER_DEFINE.selfPartyIdx].name}}}"\n'
    "port: {{{.ALLOCATED_PORTS.ports[name=fed].port}}}\n"
    'peer: "{{{.TASK_CLUSTER_DEFINE.parties[name=bob].services[0].endpoints[0]}}}"\n',
    "listen {{{.ALLOCATED_PORTS.ports[name=global].port}}};\n# port: {{.METRIC_PORT}}\n",
]


def _manifest_templates() -> list[str]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            templates = (doc or {}).get("spec", {}).get("configTemplates") or {}
            found += [text for text in templates.values() if "{{" in text]
    return found


ALL_SEEDS = SEEDS + _manifest_templates()


@pytest.fixture(scope="module")
def go_binary() -> str:
    binary = gotemplate.gotemplate_binary()
    figures.record("Go template differential: Go release", gotemplate.run(binary, "-version").strip())
    return binary


@pytest.fixture(scope="module")
def oracle(go_binary: str) -> Iterator[gotemplate.Oracle]:
    with gotemplate.Oracle(go_binary) as running:
        yield running


@pytest.fixture(scope="module")
def go_tables(go_binary: str) -> dict[str, Any]:
    tables: dict[str, Any] = json.loads(gotemplate.run(go_binary, "-tables"))
    return tables


def _member(bounds: list[int], cp: int) -> bool:
    return bisect.bisect_right(bounds, cp) % 2 == 1


def disagreeing(go_tables: dict[str, Any]) -> list[str]:
    """Code points Go's identifiers take and Python's tables refuse, or the other way round
    (Go's unicode.IsLetter/IsDigit against str.isalpha/isdecimal)."""
    letter, digit = go_tables["letter"], go_tables["digit"]
    disagree = []
    for cp in range(0x80, 0x110000):
        c = chr(cp)
        if (_member(letter, cp) or _member(digit, cp)) != (c.isalpha() or c.isdecimal()):
            disagree.append(c)
    return disagree


@pytest.fixture(scope="module")
def letters(go_tables: dict[str, Any]) -> list[str]:
    """The disagreeing code points, and a few common letters."""
    disagree = disagreeing(go_tables)
    assert disagree, (
        f"Go ({go_tables['unicode']}) and Python ({unicodedata.unidata_version}) agree everywhere"
    )
    figures.record(
        "Go template differential: identifier code points Go and Python disagree on",
        f"{len(disagree)} (Go's Unicode {go_tables['unicode']}, Python's {unicodedata.unidata_version})",
    )
    return disagree + list("éΩ日ǅʰ٣")


def _go_text(message: str) -> str:
    """Go's message as ours words it: ``config-template:N`` is ``line N``."""
    return re.sub(r"config-template:(\d+)", r"line \1", message)


def agree(oracle: gotemplate.Oracle, text: str, *, precise: bool) -> None:
    """Go and the port agree on ``text`` (what that means: the module docstring)."""
    answer = oracle.ask(text, DATA)
    if answer["inconclusive"]:
        return
    problems = render.check(text, ports=PORTS, env=ENV)
    errors = [p for p in problems if p.error and not PORT_PROBLEM.search(p.message)]
    try:
        parse.parse(render.NAME, rewrite.Rewrite(text).text, render.FUNCTIONS)
        refused = None
    except stream.ParseError as e:
        refused = e
    except RecursionError:
        return  # the port gives up on 3,000-deep nesting (a warning): not Go's answer
    go_parse = answer["parse"]
    if go_parse:
        assert refused is not None, f"Go refuses {text!r}: {go_parse}"
        assert refused.line == go_parse["line"], (
            f"{text!r}: Go stops at line {go_parse['line']}, ours at {refused.line}"
        )
        expected = _go_text(go_parse["message"])
        at_line = [p for p in errors if p.line == go_parse["line"]]
        assert at_line, (
            f"Go refuses {text!r} at line {go_parse['line']}: {go_parse['message']}; ours: {problems}"
        )
        assert any(expected in p.message for p in at_line), f"{text!r}: Go says {expected!r}; ours: {at_line}"
        return
    assert refused is None, f"Go parses {text!r}; our parser refuses it: {refused}"
    go_exec = answer["exec"]
    if go_exec:
        assert go_exec["line"] > 0, f"Go failed without a place: {go_exec}"
        place = (go_exec["line"], go_exec["column"])
        other = oracle.ask(text, alternative(text))["exec"]
        if not other or (other["line"], other["column"]) != place:
            return  # it hangs on the values (a string's length, a variable Kuscia may lack)
        assert place in {(p.line, p.column) for p in errors}, (
            f"Go fails executing {text!r} at {place}: {go_exec['message']} (at <{go_exec['context']}>); "
            f"ours: {problems}"
        )
    elif precise:
        assert not errors, f"Go executes {text!r} without failing; ours: {errors}"


def _counting(name: str, examples: int) -> Any:
    return settings(
        max_examples=examples * figures.scale(),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def test_the_ports_unicode_tables_are_gos(go_tables):
    """gotemplate/tables.py (written by hack/gotemplate-tables.py) holds the tables of this Go."""
    assert go_tables["unicode"] == tables.UNICODE
    assert tuple(sorted(set(go_tables["letter"]) ^ set(go_tables["digit"]))) == tables.ALNUM
    assert tuple(go_tables["print"]) == tables.PRINT


def test_seed_templates_agree_with_go(oracle):
    for text in ALL_SEEDS:
        agree(oracle, text, precise=True)


def test_generated_templates_agree_with_go(oracle, letters):
    start = time.monotonic()

    @_counting("structured", STRUCTURED)
    @given(text=template_strategies.structured(letters))
    def run(text: str) -> None:
        agree(oracle, text, precise=True)

    run()
    figures.record(
        "Go template differential: structured templates",
        f"{STRUCTURED * figures.scale()} in {time.monotonic() - start:.1f}s",
    )


def test_broken_templates_agree_with_go(oracle, letters):
    start = time.monotonic()

    @_counting("noisy", NOISY)
    @given(text=template_strategies.noisy(letters, ALL_SEEDS))
    def run(text: str) -> None:
        agree(oracle, text, precise=False)

    run()
    figures.record(
        "Go template differential: broken templates",
        f"{NOISY * figures.scale()} in {time.monotonic() - start:.1f}s",
    )
