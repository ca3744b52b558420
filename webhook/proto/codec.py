"""Kuscia's AppImageService messages, converted to and from the REST API's JSON.

Pure, no I/O. Both protobuf front ends (the gRPC service and REST bodies of type
``application/x-protobuf``) decode a request message into the JSON body REST reads and
run the same ``api.AppImages`` operation on it; the ``calls.Answer`` is encoded back into
the method's response message. So every rule, default, code and message is the REST
API's: only the encoding differs. Which RPC runs which operation is ``operations``' to say.

proto3 has no "absent": a field at its zero value is not sent, which is how REST reads
an absent field. A message field the proto does not declare (an unknown field number)
is refused with 11100, as REST refuses unknown JSON keys: nothing a caller sent is
silently dropped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import descriptor, message, message_factory, unknown_fields

from webhook.core import calls, errors, operations, rendered
from webhook.proto import appimage_pb2

SERVICE = appimage_pb2.DESCRIPTOR.services_by_name["AppImageService"]
SERVICE_NAME = SERVICE.full_name
"""``kuscia.proto.api.v1alpha1.kusciaapi.AppImageService``"""

@dataclass(frozen=True, slots=True)
class Method:
    """One RPC of the service, the operation it runs and its messages."""

    op: operations.Operation
    request: type[message.Message]
    response: type[message.Message]

    @property
    def name(self) -> str:
        """The RPC's name (``CreateAppImage``)."""
        return self.op.method

    @property
    def path(self) -> str:
        """The gRPC path, ``/package.Service/Method``."""
        return f"/{SERVICE_NAME}/{self.name}"


def _method(op: operations.Operation) -> Method:
    rpc = SERVICE.methods_by_name[op.method]
    return Method(op, message_factory.GetMessageClass(rpc.input_type),
                  message_factory.GetMessageClass(rpc.output_type))


_BY_METHOD = {op.method: op for op in operations.ALL}
METHODS: dict[str, Method] = {rpc.name: _method(_BY_METHOD[rpc.name]) for rpc in SERVICE.methods}
"""By gRPC method name, in the service's order."""


def error_fields(method: Method) -> dict[str, Any]:
    """The fields besides ``status`` of ``method``'s error answer in JSON. Kuscia renders
    its response messages with every field (protojson, EmitUnpopulated): an unset
    ``data`` message (query, list) is null, an empty repeated one (batch query) is [],
    and the create, update and delete answers have no ``data`` at all."""
    data = method.response.DESCRIPTOR.fields_by_name.get("data")
    if data is None:
        return {}
    return {"data": [] if data.is_repeated else None}


def decode(method: Method, raw: bytes) -> dict[str, Any]:
    """The request body REST would have read, from ``method``'s serialized request;
    ``errors.Invalid`` (11100) when it does not decode or has fields the proto lacks."""
    type_name = method.request.DESCRIPTOR.full_name
    try:
        request = method.request.FromString(raw)
    except message.DecodeError as e:
        hint = " (a JSON body? send Content-Type: application/json)" if raw[:1] in (b"{", b"[") else ""
        raise errors.Invalid([errors.FieldError(
            "body", f"not a valid {type_name} message: {e}{hint}")]) from None
    size = request.ByteSize()
    request.DiscardUnknownFields()
    if request.ByteSize() != size:  # rare: only then look where (UnknownFieldSet is slow)
        unknown: list[errors.FieldError] = []
        _unknown(method.request.FromString(raw), "", unknown)
        raise errors.Invalid(unknown)
    return _to_json(request)


# How a field converts: a scalar, a list of scalars, a map, a message, a list of them.
_SCALAR, _SCALARS, _MAP, _MESSAGE, _MESSAGES = range(5)


@functools.cache
def _kind(f: descriptor.FieldDescriptor) -> int:
    if f.type != descriptor.FieldDescriptor.TYPE_MESSAGE:
        return _SCALARS if f.is_repeated else _SCALAR
    if f.message_type is not None and f.message_type.GetOptions().map_entry:
        return _MAP  # map<string, string> only, in this service
    return _MESSAGES if f.is_repeated else _MESSAGE


def _to_json(msg: message.Message) -> dict[str, Any]:
    # Integers stay numbers (json_format.MessageToDict writes int64 as strings, which
    # REST reads for int64 fields but not for ListAppImageRequest.page_size).
    out: dict[str, Any] = {}
    for f, value in msg.ListFields():
        kind = _kind(f)
        if kind == _SCALAR:
            out[f.name] = value
        elif kind == _MESSAGE:
            out[f.name] = _to_json(value)
        elif kind == _MESSAGES:
            out[f.name] = [_to_json(item) for item in value]
        elif kind == _SCALARS:
            out[f.name] = list(value)
        else:
            out[f.name] = dict(value)
    return out


def _unknown(msg: message.Message, path: str, found: list[errors.FieldError]) -> None:
    """Every field number ``msg`` has that its type does not declare, by path."""
    extra = unknown_fields.UnknownFieldSet(msg)
    found += [errors.FieldError(path or "body", f"unknown field number {extra[i].field_number}")
              for i in range(len(extra))]
    for f, value in msg.ListFields():
        where = f"{path}.{f.name}" if path else f.name
        if _kind(f) == _MESSAGE:
            _unknown(value, where, found)
        elif _kind(f) == _MESSAGES:
            for i, item in enumerate(value):
                _unknown(item, f"{where}[{i}]", found)


def encode(method: Method, answer: calls.Answer) -> message.Message:
    """``answer`` as ``method``'s response message."""
    response = method.response()
    _fill(response, answer.envelope())
    return response


def _fill(msg: message.Message, body: dict[str, Any]) -> None:
    # json_format.ParseDict does the same, general and checked, at ~4x the cost (190 µs
    # for a query answer): answers are ours, in the protobuf JSON mapping, so only what
    # they hold is handled: None for an absent message, int64 as a string, and rendered
    # JSON (orjson.Fragment, an AppImage) as its cached protobuf form.
    fields = msg.DESCRIPTOR.fields_by_name
    for name, value in body.items():
        if value is None or value == [] or value == {}:
            continue
        f = fields[name]
        if f.type != descriptor.FieldDescriptor.TYPE_MESSAGE:
            if f.is_repeated:
                getattr(msg, name).extend(value)
            else:
                setattr(msg, name, int(value) if f.type == descriptor.FieldDescriptor.TYPE_INT64 else value)
        elif f.message_type is not None and f.message_type.GetOptions().map_entry:
            getattr(msg, name).update(value)
        elif f.is_repeated:
            items = getattr(msg, name)
            for item in value:
                _fill_one(items.add(), item)
        else:
            _fill_one(getattr(msg, name), value)


def _fill_one(msg: message.Message, value: dict[str, Any] | orjson.Fragment) -> None:
    if isinstance(value, orjson.Fragment):
        msg.MergeFromString(_serialized(msg, value))
    else:
        _fill(msg, value)


def _serialized(msg: message.Message, answer: orjson.Fragment) -> bytes:
    """``answer`` (rendered JSON of ``msg``'s type) serialized as ``msg``'s type."""
    # Keyed by the fragment itself: rendered.Cache hands out one object per stored
    # version, and holding it here keeps its identity from being reused.
    key = (msg.DESCRIPTOR.full_name, answer)
    found = _RENDERED.get(key)
    if found is None:
        fresh = type(msg)()
        _fill(fresh, orjson.loads(orjson.dumps(answer)))
        found = fresh.SerializeToString()
        _RENDERED.put(key, found, len(found))
    return found


_RENDERED: rendered.Lru[tuple[str, orjson.Fragment], bytes] = rendered.Lru(8 * 1024 * 1024)
"""AppImages' protobuf form, beside their JSON form in ``rendered.Cache``."""
