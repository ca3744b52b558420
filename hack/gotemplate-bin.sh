#!/usr/bin/env bash
# Build our Go template oracle (hack/gotemplate: Kuscia's rewrite, then Go's text/template)
# into a cache directory outside the repository, for the differential test of the Python
# port (tests/core/kuscia/test_render_differential.py).
#
# Usage:  GOTEMPLATE=$(hack/gotemplate-bin.sh | tail -1)
#
# The binary is
#   ${APPIMAGE_GOTEMPLATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/gotemplate}/gotemplate
# and its path is printed as the LAST line of stdout; progress goes to stderr. It is rebuilt
# when hack/gotemplate or the Go toolchain changed (the text/template it answers for is the
# toolchain's), else reused. How it is built (static, -trimpath): hack/go-lib.sh.
#
# Environment:
#   APPIMAGE_GOTEMPLATE_DIR  override the output directory
#   GO                       go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)

TAG=gotemplate-bin
# shellcheck source=hack/go-lib.sh
source "$here/go-lib.sh"
open_assets "${APPIMAGE_GOTEMPLATE_DIR:-$CACHE_ROOT/gotemplate}"

# source_id: what the binary is built from, the toolchain included.
source_id() {
  { cat "$here/gotemplate/main.go" "$here/gotemplate/go.mod"; "$GO" version; } | sha256sum
}

id=$(source_id)
if [[ -x $ASSETS/gotemplate && -f $ASSETS/gotemplate.src && $(cat "$ASSETS/gotemplate.src") == "$id" ]]; then
  log "reusing $ASSETS/gotemplate"
  printf '%s\n' "$ASSETS/gotemplate"
  exit 0
fi

start_build
log "gotemplate with $("$GO" version)"
build gotemplate "$here/gotemplate" .
printf '%s\n' "$id" >"$ASSETS/gotemplate.src"
printf '%s\n' "$ASSETS/gotemplate"
