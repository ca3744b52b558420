#!/usr/bin/env bash
# Build one command of a pinned Go module into a cache directory outside the repository:
# the shared part of hack/grpcurl-bin.sh and hack/ghz-bin.sh.
#
# Usage:  hack/go-tool.sh MODULE VERSION PACKAGE [LDFLAGS]
#   e.g.  hack/go-tool.sh github.com/bojand/ghz v0.120.0 github.com/bojand/ghz/cmd/ghz \
#           '-X main.version=0.120.0'
#
# The binary, named after PACKAGE's last element (NAME), is
#   ${GO_TOOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/NAME-<VERSION without v>}/NAME
# and its path is printed as the LAST line of stdout; progress goes to stderr. When it
# already exists and its `--version` output contains VERSION (without the v), nothing is
# built; LDFLAGS is where a tool gets that version stamped. How it is built (static, in
# a throwaway module requiring MODULE@VERSION): hack/go-lib.sh.
#
# Environment:
#   GO_TOOL_DIR  override the output directory
#   GO           go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

(($# == 3 || $# == 4)) || { echo "usage: $0 MODULE VERSION PACKAGE [LDFLAGS]" >&2; exit 2; }
readonly MODULE=$1 VERSION=$2 PACKAGE=$3 LDFLAGS=${4:-}
readonly NAME=${PACKAGE##*/}
TAG=$NAME-bin
# shellcheck source=hack/go-lib.sh
source "$(dirname "$0")/go-lib.sh"

open_assets "${GO_TOOL_DIR:-$CACHE_ROOT/$NAME-${VERSION#v}}"
BIN=$ASSETS/$NAME
if [[ -x $BIN ]] && [[ $("$BIN" --version 2>&1) == *"${VERSION#v}"* ]]; then
  log "reusing $BIN"
  printf '%s
' "$BIN"
  exit 0
fi

start_build
log "$NAME $VERSION ($("$GO" version))"
gomod=$(gomod_of "$MODULE@$VERSION")
dir=$(new_module "$NAME" "$gomod" "$MODULE@$VERSION")
build "$NAME" "$dir" "$PACKAGE" "$LDFLAGS"
printf '%s\n' "$BIN"
