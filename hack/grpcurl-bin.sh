#!/usr/bin/env bash
# Build grpcurl from its pinned Go module into a cache directory outside the
# repository, for the gRPC tests (tests/test_grpcurl.py).
#
# Usage:  GRPCURL=$(hack/grpcurl-bin.sh | tail -1)
#
# The binary is
#   ${APPIMAGE_GRPCURL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/grpcurl-<v>}/grpcurl
# and its path is printed as the LAST line of stdout; progress goes to stderr. When it
# already exists and reports the pinned version, nothing is built. The build is static
# (CGO_ENABLED=0, -trimpath, -s -w) in a throwaway main module that requires the pinned
# version, so it gets the dependency versions grpcurl's own go.mod selects.
#
# Environment:
#   APPIMAGE_GRPCURL_DIR  override the output directory
#   GO                    go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

readonly GRPCURL_VERSION=v1.9.4

log() { printf '[grpcurl-bin] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook
DIR=${APPIMAGE_GRPCURL_DIR:-$cache_root/grpcurl-${GRPCURL_VERSION#v}}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
BIN=$DIR/grpcurl

if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
fi

if [[ -x $BIN ]] && [[ $("$BIN" -version 2>&1) == *"${GRPCURL_VERSION#v}"* ]]; then
  log "reusing $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
workdir=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'rm -rf "$workdir"' EXIT

json=$("$GO" mod download -json "github.com/fullstorydev/grpcurl@$GRPCURL_VERSION") ||
  die "go mod download failed"
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
[[ -n $gomod && -f $gomod ]] || die "no go.mod found for grpcurl"
godir=$(awk '$1 == "go" { print $2; exit }' "$gomod")
printf 'module appimage-webhook.local/grpcurl-bin\n\ngo %s\n' "$godir" >"$workdir/go.mod"
(cd "$workdir" && "$GO" mod edit -require="github.com/fullstorydev/grpcurl@$GRPCURL_VERSION") ||
  die "cannot create the build module"

start=$SECONDS
log "building grpcurl $GRPCURL_VERSION ($("$GO" version)) ..."
# grpcurl's main prints this variable for -version (its Makefile sets it the same way).
(cd "$workdir" && "$GO" build -trimpath -ldflags="-s -w -X main.version=$GRPCURL_VERSION" \
  -o "$DIR/.grpcurl.tmp" github.com/fullstorydev/grpcurl/cmd/grpcurl) || die "build failed"
mv -f "$DIR/.grpcurl.tmp" "$BIN"
log "built $BIN in $((SECONDS - start))s"
printf '%s\n' "$BIN"
