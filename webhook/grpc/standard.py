"""gRPC's standard services beside AppImageService: ``grpc.health.v1.Health`` and
server reflection (``grpc.reflection.v1`` and ``v1alpha``). Neither needs the token:
like /healthz and /openapi.json they hold nothing secret, and probes and tools that
discover the API send none.

Reflection answers from the protobuf descriptor pool: a file comes with every file it
imports that this stream has not sent yet, as grpc-go and grpcio do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TypeVar

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message

from webhook.grpc import wire
from webhook.proto import health_pb2, reflection_pb2

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name


def _repackaged(file: descriptor.FileDescriptor, package: str) -> descriptor.FileDescriptor:
    """``file``'s messages and services under ``package`` (the same numbers, so the same
    bytes), added to the default pool for reflection to describe."""
    proto = descriptor_pb2.FileDescriptorProto.FromString(file.serialized_pb)
    old, new = f".{proto.package}.", f".{package}."

    def moved(name: str) -> str:
        return new + name[len(old):] if name.startswith(old) else name

    def move(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for m in messages:
            for f in m.field:
                if f.HasField("type_name"):  # messages and enums only
                    f.type_name = moved(f.type_name)
            move(m.nested_type)

    move(proto.message_type)
    for service in proto.service:
        for method in service.method:
            method.input_type, method.output_type = moved(method.input_type), moved(method.output_type)
    proto.name = proto.name.replace(".proto", f".{package.rsplit('.', 1)[-1]}.proto")
    proto.package = package
    return descriptor_pool.Default().AddSerializedFile(proto.SerializeToString())


REFLECTION_V1 = _repackaged(reflection_pb2.DESCRIPTOR, "grpc.reflection.v1").services_by_name[
    "ServerReflection"].full_name
"""Its stable name: the same messages and numbers, asked first by newer tools (grpcurl);
both are served by one handler with v1alpha's message classes (the bytes are the same)."""
_Serving = health_pb2.HealthCheckResponse.ServingStatus
_NOT_FOUND = 5  # gRPC's NOT_FOUND, as reflection's ErrorResponse carries it


class Health:
    """The serving status of the server ("") and of each service."""

    def __init__(self, services: Iterable[str]) -> None:
        self._status: dict[str, _Serving] = {name: _Serving.SERVING for name in ("", *services)}
        self._changed = asyncio.Event()
        self._stopped = False

    def stop_serving(self) -> None:
        """Everything NOT_SERVING (the listener is stopping); watchers are told, and
        their calls end (a watch would otherwise hold up the shutdown's grace period)."""
        self._stopped = True
        for name in self._status:
            self._status[name] = _Serving.NOT_SERVING
        self._changed.set()
        self._changed = asyncio.Event()

    async def check(self, call: wire.Call, raw: bytes) -> bytes:
        service = _decode(health_pb2.HealthCheckRequest, raw).service
        status = self._status.get(service)
        if status is None:
            raise wire.Abort(wire.Status.NOT_FOUND, f"unknown service {service!r}")
        return health_pb2.HealthCheckResponse(status=status).SerializeToString()

    async def watch(self, call: wire.Call) -> None:
        raw = await call.receive()
        service = _decode(health_pb2.HealthCheckRequest, raw or b"").service
        last = None
        while True:
            status = self._status.get(service, _Serving.SERVICE_UNKNOWN)
            if status != last:
                call.send(health_pb2.HealthCheckResponse(status=status).SerializeToString())
                last = status
            if self._stopped:
                return
            await self._changed.wait()

    def methods(self) -> dict[str, wire.Method]:
        return {f"/{HEALTH}/Check": wire.Method(unary=self.check),
                f"/{HEALTH}/Watch": wire.Method(streaming=self.watch)}


class Reflection:
    """Server reflection over the services ``names``."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = sorted(names)
        self._pool = descriptor_pool.Default()

    async def info(self, call: wire.Call) -> None:
        sent: set[str] = set()
        while (raw := await call.receive()) is not None:
            request = _decode(reflection_pb2.ServerReflectionRequest, raw)
            call.send(self.answer(request, sent).SerializeToString())

    def answer(self, request: reflection_pb2.ServerReflectionRequest,
               sent: set[str]) -> reflection_pb2.ServerReflectionResponse:
        """The response to ``request``; ``sent``: the files this stream has had."""
        response = reflection_pb2.ServerReflectionResponse(valid_host=request.host, original_request=request)
        kind = request.WhichOneof("message_request")
        pool = self._pool
        try:
            if kind == "list_services":
                response.list_services_response.service.extend(
                    reflection_pb2.ServiceResponse(name=name) for name in self._names)
            elif kind == "file_by_filename":
                self._files(response, pool.FindFileByName(request.file_by_filename), sent)
            elif kind == "file_containing_symbol":
                self._files(response, pool.FindFileContainingSymbol(request.file_containing_symbol), sent)
            elif kind == "file_containing_extension":
                wanted = request.file_containing_extension
                extension = pool.FindExtensionByNumber(pool.FindMessageTypeByName(wanted.containing_type),
                                                       wanted.extension_number)
                self._files(response, pool.FindFileContainingSymbol(extension.full_name), sent)
            elif kind == "all_extension_numbers_of_type":
                found = pool.FindMessageTypeByName(request.all_extension_numbers_of_type)
                numbers = response.all_extension_numbers_response
                numbers.base_type_name = found.full_name
                numbers.extension_number.extend(sorted(e.number for e in pool.FindAllExtensions(found)))
            else:
                response.error_response.error_code = wire.Status.UNIMPLEMENTED
                response.error_response.error_message = f"no such request: {kind}"
        except KeyError as e:
            response.ClearField("message_response")
            response.error_response.error_code = _NOT_FOUND
            response.error_response.error_message = f"not found: {e.args[0] if e.args else kind}"
        return response

    @staticmethod
    def _files(response: reflection_pb2.ServerReflectionResponse, file: descriptor.FileDescriptor,
               sent: set[str]) -> None:
        files = response.file_descriptor_response.file_descriptor_proto
        files.append(file.serialized_pb)  # the one asked for, even if sent before
        sent.add(file.name)
        todo = list(file.dependencies)
        while todo:
            dependency = todo.pop()
            if dependency.name not in sent:
                sent.add(dependency.name)
                files.append(dependency.serialized_pb)
                todo.extend(dependency.dependencies)

    def methods(self) -> dict[str, wire.Method]:
        return {f"/{name}/ServerReflectionInfo": wire.Method(streaming=self.info)
                for name in (REFLECTION_V1, REFLECTION)}


_Request = TypeVar("_Request", reflection_pb2.ServerReflectionRequest, health_pb2.HealthCheckRequest)


def _decode(kind: type[_Request], raw: bytes) -> _Request:
    try:
        return kind.FromString(raw)
    except message.DecodeError as e:
        raise wire.Abort(wire.Status.INVALID_ARGUMENT,
                         f"not a valid {kind.DESCRIPTOR.full_name} message: {e}") from None
