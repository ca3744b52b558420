"""Kuscia's AppImageService as protobuf: the .proto files and the code protoc generates
from them (``python -m webhook.proto`` regenerates it; a test checks it is current)."""
