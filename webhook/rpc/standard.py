"""Server reflection, from grpcio-reflection, under both of its names.

grpcio-reflection serves ``grpc.reflection.v1alpha.ServerReflection`` only, and newer
tools ask ``grpc.reflection.v1`` first (grpcurl does, then falls back). v1 is v1alpha
under a stable package: the same messages with the same field numbers, so the same
bytes. The alias is thin: one more route to grpcio-reflection's own servicer, and v1's
file descriptor (v1alpha's, repackaged at import) in the default pool, so that
reflection can describe the alias too.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2


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


REFLECTION = reflection.SERVICE_NAME
"""``grpc.reflection.v1alpha.ServerReflection``"""
REFLECTION_V1 = _repackaged(reflection_pb2.DESCRIPTOR, "grpc.reflection.v1").services_by_name[
    "ServerReflection"].full_name
"""``grpc.reflection.v1.ServerReflection``"""


def add_reflection(server: grpc.aio.Server, services: Iterable[str]) -> None:
    """Reflection over ``services`` and itself, under v1alpha and v1."""
    # grpc_reflection imports its asyncio servicer under a version check mypy does not follow.
    names = (*services, REFLECTION, REFLECTION_V1)
    servicer = reflection.aio.ReflectionServicer(names)  # type: ignore[attr-defined]
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": handler})
        for name in (REFLECTION, REFLECTION_V1)])
