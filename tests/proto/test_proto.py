"""The checked-in protobuf code is what protoc makes of the .proto files today, and the
.proto files keep Kuscia's wire contract (names, numbers, types)."""

from __future__ import annotations

import pathlib

import pytest
from google.protobuf import descriptor

from webhook.proto import __main__ as generator
from webhook.proto import codec

PACKAGE = "kuscia.proto.api.v1alpha1.kusciaapi"


def test_the_generated_code_is_what_protoc_makes_of_the_proto_files(tmp_path):
    fresh = generator.generate(tmp_path)
    stale = [str(path.relative_to(tmp_path)) for path in fresh
             if path.read_bytes() != (generator.ROOT / path.relative_to(tmp_path)).read_bytes()]
    assert not stale, f"run `python -m webhook.proto` and commit: {stale} differ"


def test_the_service_has_kuscias_name_and_methods():
    assert f"{PACKAGE}.AppImageService" == codec.SERVICE_NAME
    assert [m.name for m in codec.SERVICE.methods] == [
        "CreateAppImage", "QueryAppImage", "ListAppImage", "UpdateAppImage", "DeleteAppImage",
        "BatchQueryAppImage"]
    for method in codec.SERVICE.methods:
        assert method.input_type.full_name == f"{PACKAGE}.{method.name}Request"
        assert method.output_type.full_name == f"{PACKAGE}.{method.name}Response"


# Kuscia's numbers and types, as its appimage.proto and common.proto declare them.
WIRE = {
    "Container": {"name": (1, "string"), "command": (2, "string"), "args": (3, "string"),
                  "working_dir": (4, "string"), "config_volume_mounts": (5, "ConfigVolumeMount"),
                  "ports": (6, "ContainerPort"), "env_from": (7, "EnvFromSource"),
                  "env": (8, "EnvVar"), "resources": (9, "ResourceRequirements"),
                  "liveness_probe": (10, "Probe"), "readiness_probe": (11, "Probe"),
                  "startup_probe": (12, "Probe"), "image_pull_policy": (13, "string")},
    "DeployTemplate": {"name": (1, "string"), "role": (2, "string"), "replicas": (3, "int32"),
                       "restart_policy": (4, "string"), "containers": (5, "Container")},
    "Probe": {"exec": (1, "ExecAction"), "http_get": (2, "HTTPGetAction"),
              "tcp_socket": (3, "TCPSocketAction"), "grpc": (4, "GRPCAction"),
              "initial_delay_seconds": (5, "int32"), "timeout_seconds": (6, "int32"),
              "period_seconds": (7, "int32"), "success_threshold": (8, "int32"),
              "failure_threshold": (9, "int32"), "termination_grace_period_seconds": (10, "int64")},
    "ListAppImageRequest": {"header": (1, "RequestHeader"), "page_size": (2, "int64"),
                            "page_token": (3, "string")},
    "QueryAppImageResponseData": {"name": (1, "string"), "image": (2, "AppImageInfo"),
                                  "config_templates": (3, "ConfigTemplatesEntry"),
                                  "deploy_templates": (4, "DeployTemplate")},
    "BatchQueryAppImageResponse": {"status": (1, "Status"), "data": (2, "QueryAppImageResponseData")},
}
_SCALARS = {descriptor.FieldDescriptor.TYPE_STRING: "string", descriptor.FieldDescriptor.TYPE_INT32: "int32",
            descriptor.FieldDescriptor.TYPE_INT64: "int64"}


@pytest.mark.parametrize("name", sorted(WIRE))
def test_messages_keep_kuscias_field_numbers_and_types(name):
    found = codec.SERVICE.file.message_types_by_name[name]
    assert {f.name: (f.number, f.message_type.name if f.message_type else _SCALARS[f.type])
            for f in found.fields} == WIRE[name]


def test_the_proto_files_ship_with_the_package():
    here = pathlib.Path(generator.__file__).parent
    assert {p.name for p in here.glob("*.proto")} == set(generator.SOURCES)
