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
# built; LDFLAGS is where a tool gets that version stamped. The build is static
# (CGO_ENABLED=0, -trimpath, -s -w, then LDFLAGS) in a throwaway main module that
# requires MODULE@VERSION, so it gets the dependency versions the module's own go.mod
# selects, and uses Go's normal module and build caches.
#
# Environment:
#   GO_TOOL_DIR  override the output directory
#   GO           go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

(($# == 3 || $# == 4)) || { echo "usage: $0 MODULE VERSION PACKAGE [LDFLAGS]" >&2; exit 2; }
readonly MODULE=$1 VERSION=$2 PACKAGE=$3 LDFLAGS=${4:-}
readonly NAME=${PACKAGE##*/}

log() { printf '[%s-bin] %s\n' "$NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook
DIR=${GO_TOOL_DIR:-$cache_root/$NAME-${VERSION#v}}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
BIN=$DIR/$NAME

if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
fi

if [[ -x $BIN ]] && [[ $("$BIN" --version 2>&1) == *"${VERSION#v}"* ]]; then
  log "reusing $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
workdir=$(mktemp -d "$DIR/.build.XXXXXX")
trap 'rm -rf "$workdir"' EXIT

json=$("$GO" mod download -json "$MODULE@$VERSION") || die "go mod download failed"
gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
[[ -n $gomod && -f $gomod ]] || die "no go.mod found for $MODULE"
godir=$(awk '$1 == "go" { print $2; exit }' "$gomod")
printf 'module appimage-webhook.local/%s-bin\n\ngo %s\n' "$NAME" "$godir" >"$workdir/go.mod"
(cd "$workdir" && "$GO" mod edit -require="$MODULE@$VERSION") || die "cannot create the build module"

start=$SECONDS
log "building $NAME $VERSION ($("$GO" version)) ..."
(cd "$workdir" && "$GO" build -trimpath -ldflags="-s -w $LDFLAGS" -o "$DIR/.$NAME.tmp" "$PACKAGE") ||
  die "build failed"
mv -f "$DIR/.$NAME.tmp" "$BIN"
log "built $BIN in $((SECONDS - start))s"
printf '%s\n' "$BIN"
