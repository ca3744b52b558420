"""Hypothesis strategies for the two shapes of an AppImage, and broken documents.

Hand-written over the compiled model (``model.spec_message()``: ``Message`` / ``Array`` /
``Map`` / ``Scalar`` nodes) and the keywords of ``schemas/appimage.schema.json`` beside
each field, so a field added to the schema is generated without touching this file.

What "valid" means here: generated objects pass the JSON Schemas (both shapes) — every
keyword is honoured: ``required``, ``enum``, ``minItems``, ``minimum``/``maximum``, and on
the REST side the patterns, lengths and alternatives (one probe handler) that
``schemagen`` states there. That is the cheap part, read off the schemas, and it lets the
tests assert "no schema error at all" instead of sorting errors into structural and
semantic kinds. The rules the schemas cannot state (``unstated``: unique names, requests
within limits…) are *not* honoured, and custom resource strings are arbitrary text. Only
the AppImage ``name`` is a DNS label on both sides.

* ``rest_appimages``: the REST shape in canonical *full* protobuf JSON form, what
  ``model.to_rest`` emits: every field present, ``""`` / ``0`` / ``[]`` / ``{}`` for
  empty ones and ``null`` for an absent message; int64 as a decimal string, int32 as a
  number, quantities and probe ports as strings.
* ``cr_appimages``: the custom resource in canonical *omitempty* form: no zero scalar
  field but the ones Kuscia's CRD requires (``x-rest-zero``), no empty list or map field,
  messages present (possibly ``{}``) or absent, ``spec`` on every deploy template,
  quantities strings.
* ``broken``: a document with 1 to 3 mutations (wrong type, unknown key, bad enum value,
  deleted key or item), for comparing validators.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hypothesis import strategies as st

from webhook.core import crd, formats, model, paths, schemas, sources

Strategy = st.SearchStrategy[Any]

MAX_ITEMS = 3  # lists and maps stay small: nesting multiplies them

# The REST schema's int64 pattern allows 18 digits (webhook/core/schemagen.py: they always
# fit an int64), below the CR schema's maximum; stay within both.
INT64_TEXT_MAX = 10**18 - 1

TEXT = st.text(max_size=8)
NAMES = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?\Z")
QUANTITIES = st.one_of(
    st.builds("{}{}".format, st.integers(0, 4096),
              st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi"])),
    st.sampled_from(["0.5", "1.5Gi", "1e3", "100m"]),
)


def _body(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    return model.resolve(schema, sources.cr_schema())[1]


def _spec_schema() -> Mapping[str, Any]:
    return sources.cr_schema()["properties"]["spec"]


def _fields(message: model.Message, schema: Mapping[str, Any]
            ) -> Iterator[tuple[model.Field, Mapping[str, Any], bool]]:
    """The CR fields of a message with their property schema and whether it is required."""
    body = _body(schema)
    required = set(body.get("required", ()))
    for f in message.fields:
        yield f, body["properties"][f.cr], f.cr in required or f.flatten


# --- REST, full form -------------------------------------------------------------
# Read off the REST schema (schemas/appimage-rest.schema.json), which states more than the
# custom resource's: the formats of names, bounds of integers given as text, one probe
# handler, non-empty lists (schemagen derives them from the rules of validation.py).


def _rest(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A REST property's schema with its ``$ref`` followed; keywords beside the ``$ref``
    (a narrower ``properties`` for one use of a message) are kept."""
    if "$ref" not in schema:
        return dict(schema)
    name = schema["$ref"].removeprefix("#/$defs/")
    body = dict(schemas.rest_document()["$defs"][name])
    narrower = schema.get("properties", {})
    body["properties"] = {k: {**v, **narrower.get(k, {})} for k, v in body["properties"].items()}
    return body


# What a JSON text can carry: no lone surrogate (a negated class would draw one, and
# jsonschema-rs reads it as U+FFFD, so two different ones compare equal).
JSON_TEXT = st.characters(codec="utf-8")
# Short values of the formats whose patterns, drawn freely, run past their maxLength.
SHORT = {
    "dns-label": NAMES,
    "dns-subdomain": NAMES,
    "port-name": st.from_regex(r"\A[a-z][a-z0-9]{0,6}\Z"),
    "image-name": st.from_regex(r"\A[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}\Z"),
    "image-tag": st.from_regex(r"\A[A-Za-z0-9_][-.A-Za-z0-9_]{0,6}\Z"),
    "quantity": st.just("") | QUANTITIES,
}
_SHORT = {formats.SCHEMAS[name]["pattern"]: values for name, values in SHORT.items()}


def _text(schema: Mapping[str, Any], required: bool) -> Strategy:
    low = max(schema.get("minLength", 0), int(required))
    if "pattern" in schema:  # the pattern's own values, non-empty when required
        values = _SHORT.get(schema["pattern"], st.from_regex(schema["pattern"], alphabet=JSON_TEXT))
        if "not" in schema:  # a line break (Python's $ lets one through at the end)
            values = values.filter(lambda text: not re.search(schema["not"]["pattern"], text))
        return values.filter(bool) if low else values
    return st.text(min_size=low, max_size=8)


def _full_scalar(kind: model.ScalarKind, schema: Mapping[str, Any], required: bool) -> Strategy:
    low, high = schema.get("minimum"), schema.get("maximum")
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if v or not required])
    if kind == "integer":
        return st.integers(low, high)
    if kind == "int64":
        return st.integers(max(low or 0, 0), min(high or INT64_TEXT_MAX, INT64_TEXT_MAX)).map(str)
    return _text(schema, required)


@st.composite
def _alternatives(draw: Draw, fields: dict[str, Strategy], set_fields: dict[str, Strategy],
                  schema: Mapping[str, Any]) -> Doc:
    """A message's fields with its ``oneOf`` (exactly one set) or ``anyOf`` (at least one)
    of alternative fields honoured: the others null, as absent messages are rendered."""
    branches = schema.get("oneOf") or schema.get("anyOf") or ()
    options = [branch["required"][0] for branch in branches if "required" in branch]
    if "oneOf" in schema:
        chosen = [draw(st.sampled_from(options))]
    else:
        chosen = draw(st.lists(st.sampled_from(options), min_size=1, unique=True))
    values = draw(st.fixed_dictionaries({k: v for k, v in fields.items() if k not in options}))
    for name in options:
        values[name] = draw(set_fields[name]) if name in chosen else None
    return dict(sorted(values.items(), key=lambda item: list(fields).index(item[0])))


def _same_json(value: Any) -> str:
    """One text for values JSON Schema's ``uniqueItems`` counts as the same: objects
    whatever their key order."""
    return json.dumps(value, sort_keys=True)


def _full(node: model.Node, schema: Mapping[str, Any], required: bool = False) -> Strategy:
    body = _rest(schema)
    if isinstance(node, model.Scalar):
        return _full_scalar(node.kind, body, required)
    if isinstance(node, model.Array):
        return st.lists(_full(node.item, body["items"]), min_size=body.get("minItems", 0),
                        max_size=MAX_ITEMS, unique_by=_same_json if body.get("uniqueItems") else None)
    if isinstance(node, model.Map):
        keys = _text(body["propertyNames"], True) if "propertyNames" in body else TEXT
        return st.dictionaries(keys, _full(node.value, body["additionalProperties"]),
                               max_size=MAX_ITEMS)
    assert isinstance(node, model.Message)
    needed = set(body.get("required", ()))
    fields, set_fields = {}, {}
    for rest, child in node.rest_fields.items():
        value = set_fields[rest] = _full(child, body["properties"][rest], rest in needed)
        optional_message = isinstance(child, model.Message) and rest not in needed
        fields[rest] = st.none() | value if optional_message else value
    if "oneOf" in body or "anyOf" in body:
        return _alternatives(fields, set_fields, body)
    return st.fixed_dictionaries(fields)


def rest_appimages() -> Strategy:
    """A REST AppImage in full protobuf JSON form, with a DNS-label ``name``."""
    name = _text(schemas.rest_document()["$defs"]["AppImage"]["properties"]["name"], True)
    spec = _full(model.spec_message(), {"$ref": "#/$defs/AppImage"})
    return st.tuples(name, spec).map(lambda pair: {"name": pair[0], **pair[1]})


# --- Custom resource, omitempty form ---------------------------------------------


def _cr_scalar(kind: model.ScalarKind, schema: Mapping[str, Any], zero_ok: bool) -> Strategy:
    low, high = schema.get("minimum"), schema.get("maximum")
    if "enum" in schema:
        return st.sampled_from([v for v in schema["enum"] if v or zero_ok])
    if kind == "string":
        return st.text(min_size=0 if zero_ok else 1, max_size=8)
    if kind == "integer":
        return st.integers(low, high).filter(lambda n: zero_ok or n != 0)
    if kind == "int64":
        return st.integers(1, min(high or INT64_TEXT_MAX, INT64_TEXT_MAX))
    return QUANTITIES


def _cr(node: model.Node, schema: Mapping[str, Any], *, zero_ok: bool = False) -> Strategy:
    """``zero_ok``: a list item or map value, kept as is (omitempty drops fields only)."""
    body = _body(schema)
    if isinstance(node, model.Scalar):
        return _cr_scalar(node.kind, body, zero_ok)
    if isinstance(node, model.Array):
        return st.lists(_cr(node.item, body["items"], zero_ok=True),
                        min_size=max(body.get("minItems", 0), 1), max_size=MAX_ITEMS)
    if isinstance(node, model.Map):
        return st.dictionaries(TEXT, _cr(node.value, body["additionalProperties"], zero_ok=True),
                               min_size=1, max_size=MAX_ITEMS)
    required, optional = {}, {}
    for f, prop, req in _fields(node, schema):
        (required if req else optional)[f.cr] = _cr(f.node, prop, zero_ok=f.zero)
    return st.fixed_dictionaries(required, optional=optional)


def cr_appimages() -> Strategy:
    """An AppImage custom resource in omitempty form, with a DNS-label name."""
    return st.fixed_dictionaries({
        "apiVersion": st.just(model.API_VERSION),
        "kind": st.just(model.KIND),
        "metadata": st.fixed_dictionaries({"name": NAMES}),
        "spec": _cr(model.spec_message(), _spec_schema()),
    })


# --- Broken documents ------------------------------------------------------------

# Every JSON type, out-of-range numbers, and strings that fail enums and patterns
# (copied when used: a later mutation may add a key to a {} put in the document).
WRONG_VALUES = st.sampled_from([
    None, True, False, -1, 0, 1.5, 2**63, "", "x", "-1", "01", [], ["x"], [1], {}, {"k": "v"},
])
BAD_ENUM_VALUES = st.sampled_from(["Nope", "http", "always", " HTTP"])


def _enum_fields(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            if "enum" in prop:
                yield from (name, model.snake(name))
        for value in schema.values():
            yield from _enum_fields(value)


ENUM_FIELDS = frozenset(_enum_fields(sources.cr_schema()))

Doc = Any
Nodes = list[tuple[paths.Path, Any]]
Draw = Callable[[Strategy], Any]


def _walk(value: Any, path: paths.Path = ()) -> Iterator[tuple[paths.Path, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, i))


def at(doc: Doc, path: paths.Path) -> Any:
    """The node of ``doc`` at ``path``."""
    for token in path:
        doc = doc[token]
    return doc


def _replace(draw: Draw, doc: Doc, nodes: Nodes) -> None:
    candidates = [p for p, _ in nodes if p]
    if candidates:
        path = draw(st.sampled_from(candidates))
        at(doc, path[:-1])[path[-1]] = copy.deepcopy(draw(WRONG_VALUES))


def _bad_enum(draw: Draw, doc: Doc, nodes: Nodes) -> None:
    candidates = [p for p, _ in nodes if p and p[-1] in ENUM_FIELDS]
    if candidates:
        path = draw(st.sampled_from(candidates))
        at(doc, path[:-1])[path[-1]] = draw(BAD_ENUM_VALUES)


def _unknown_key(draw: Draw, doc: Doc, nodes: Nodes) -> None:
    parent = draw(st.sampled_from([v for _, v in nodes if isinstance(v, dict)]))
    key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in parent))
    parent[key] = copy.deepcopy(draw(WRONG_VALUES))


def _delete(draw: Draw, doc: Doc, nodes: Nodes) -> None:
    candidates = [p for p, _ in nodes if p]
    if candidates:
        path = draw(st.sampled_from(candidates))
        del at(doc, path[:-1])[path[-1]]


MUTATIONS = (_replace, _bad_enum, _unknown_key, _delete)


@st.composite
def broken(draw: Draw, documents: Strategy, max_mutations: int = 3) -> Doc:
    """A document from ``documents`` with 1..``max_mutations`` mutations applied."""
    doc = copy.deepcopy(draw(documents))
    for _ in range(draw(st.integers(1, max_mutations))):
        mutate = draw(st.sampled_from(MUTATIONS))
        mutate(draw, doc, list(_walk(doc)))
    return doc


# --- Anything the CRD's structural schema stores ------------------------------------

WORDS = st.text(alphabet="abcdefghij-._/", min_size=1, max_size=8)


def _structural_scalar(schema: Mapping[str, Any]) -> Strategy:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("x-kubernetes-int-or-string"):
        if "pattern" in schema:  # a quantity
            return QUANTITIES | st.integers(0, 10**6)
        return st.integers(1, 65535) | WORDS
    kind = schema.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        bits = 63 if schema.get("format") == "int64" else 31
        return st.integers(max(schema.get("minimum", -(2**bits)), -(2**bits)),
                           min(schema.get("maximum", 2**bits - 1), 2**bits - 1))
    return WORDS


def _exactly_one(props: Mapping[str, Any], fields: tuple[str, ...]) -> Strategy:
    return st.sampled_from(fields).flatmap(
        lambda name: structural(props[name]).map(lambda value: {name: value}))


def _merged(parts: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


def structural(schema: Mapping[str, Any]) -> Strategy:
    """A value a structural (CRD) schema keeps as it is: every field it names, required
    ones always, list-map keys unique, enums, patterns and the CEL rules
    (``crd.VALIDATIONS``: exactly one of some fields) honoured."""
    kind = schema.get("type")
    if kind == "array":
        keys = schema.get("x-kubernetes-list-map-keys")
        unique = (lambda item: tuple(item.get(k) for k in keys)) if keys else None
        low = schema.get("minItems", 0)
        most = max(low, min(schema.get("maxItems", 2), 2))
        return st.lists(structural(schema["items"]), min_size=low, max_size=most,
                        unique_by=unique)
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", ()))
        props = schema["properties"]
        texts = {v["rule"] for v in schema.get("x-kubernetes-validations", ())}
        rules = [r for rs in crd.VALIDATIONS.values() for r in rs if r.rule in texts]
        chosen = {name for r in rules for name in r.one_of}
        rest = st.fixed_dictionaries(
            {k: structural(v) for k, v in props.items() if k in required and k not in chosen},
            optional={k: structural(v) for k, v in props.items()
                      if k not in required and k not in chosen})
        return st.tuples(rest, *(_exactly_one(props, r.one_of) for r in rules)).map(_merged)
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        return st.dictionaries(WORDS, structural(schema["additionalProperties"]), max_size=2)
    if kind == "object":
        return st.just({})
    return _structural_scalar(schema)
