#!/usr/bin/env bash
# Build grpcurl from its pinned Go module into a cache directory outside the
# repository, for the gRPC tests (tests/rpc/test_grpcurl.py).
#
# Usage:  GRPCURL=$(hack/grpcurl-bin.sh | tail -1)
#
# The binary is
#   ${APPIMAGE_GRPCURL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/grpcurl-<v>}/grpcurl
# and its path is printed as the LAST line of stdout; progress goes to stderr. When it
# already exists and reports the pinned version, nothing is built. How it is built:
# hack/go-tool.sh.
#
# Environment:
#   APPIMAGE_GRPCURL_DIR  override the output directory
#   GO                    go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

readonly GRPCURL_VERSION=v1.9.4

# grpcurl's main prints main.version for -version (its Makefile sets it the same way).
GO_TOOL_DIR=${APPIMAGE_GRPCURL_DIR:-} exec "$(dirname "$0")/go-tool.sh" \
  github.com/fullstorydev/grpcurl "$GRPCURL_VERSION" github.com/fullstorydev/grpcurl/cmd/grpcurl \
  "-X main.version=$GRPCURL_VERSION"
