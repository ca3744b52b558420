"""Regenerate the Python code of the .proto files beside this module (``python -m
webhook.proto``, from a checkout with the test extra installed: it needs grpcio-tools).

The generated modules are checked in, so installing the service needs no protobuf
compiler; ``tests/proto/test_proto.py`` fails when they differ from a fresh generation.
"""

from __future__ import annotations

import importlib.resources
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]  # the .proto files import each other by their path from here
SOURCES = ("common.proto", "appimage.proto")


def generate(out: pathlib.Path) -> list[pathlib.Path]:
    """Write ``*_pb2.py`` and ``*_pb2.pyi`` for every source under ``out`` (as a
    tree rooted like the repository); the written files."""
    from grpc_tools import protoc  # the test extra: only regeneration needs it

    include = importlib.resources.files("grpc_tools") / "_proto"
    sources = [str((HERE / name).relative_to(ROOT)) for name in SOURCES]
    code = protoc.main(["protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={out}",
                        f"--pyi_out={out}", *sources])
    if code:
        raise RuntimeError(f"protoc failed with exit code {code}")
    return [out / pathlib.Path(s).with_name(pathlib.Path(s).stem + f"_pb2{ext}")
            for s in sources for ext in (".py", ".pyi")]


if __name__ == "__main__":
    for path in generate(ROOT):
        print(path.relative_to(ROOT), file=sys.stderr)
