#!/usr/bin/env bash
# Build the Go peer of bench/run (controller-runtime's admission webhook with our rules)
# into a cache directory outside the repository, keyed by the hash of its sources, and
# print the binary's path as the last line of stdout; progress goes to stderr. Nothing
# is built when that binary exists. Uses the pinned go.mod/go.sum (-mod=readonly: a
# build never changes them) and Go's normal module and build caches.
#
# Environment: GO (default: go on PATH, else /usr/local/go/bin/go).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
command -v "$GO" >/dev/null || { echo "[go-peer] go not found (set GO=/path/to/go)" >&2; exit 1; }
key=$(cat "$here/go.mod" "$here/go.sum" "$here"/*.go | sha256sum | cut -c1-16)
out=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/bench-go-peer-$key
if [[ ! -x $out/peer ]]; then
  echo "[go-peer] building into $out (first time: downloads modules, a minute or two)" >&2
  mkdir -p "$out"
  (cd "$here" && CGO_ENABLED=0 "$GO" build -mod=readonly -trimpath -ldflags='-s -w' -o "$out/peer.tmp" .)
  mv "$out/peer.tmp" "$out/peer"
fi
echo "$out/peer"
