#!/usr/bin/env bash
# Build ghz, the gRPC load generator of bench/run, from its pinned Go module into a
# cache directory outside the repository.
#
# Usage:  GHZ=$(hack/ghz-bin.sh | tail -n 1)
#
# The binary is
#   ${APPIMAGE_GHZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/ghz-<v>}/ghz
# and its path is printed as the LAST line of stdout; progress goes to stderr. When it
# already exists and reports the pinned version, nothing is built. How it is built:
# hack/go-tool.sh.
#
# Environment:
#   APPIMAGE_GHZ_DIR  override the output directory
#   GO                go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

readonly GHZ_VERSION=v0.120.0

# ghz prints main.version for --version (its release build sets it the same way).
GO_TOOL_DIR=${APPIMAGE_GHZ_DIR:-} exec "$(dirname "$0")/go-tool.sh" \
  github.com/bojand/ghz "$GHZ_VERSION" github.com/bojand/ghz/cmd/ghz "-X main.version=${GHZ_VERSION#v}"
