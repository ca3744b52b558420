#!/usr/bin/env bash
# Build the node binaries of the end-to-end cluster (kubelet, kube-proxy,
# kube-controller-manager, kube-scheduler, kubectl) from k8s.io/kubernetes at the
# version hack/k8s-bin.sh pins for kube-apiserver, plus the pause image's program
# (hack/pause), into a cache directory outside the repository. Same pattern as
# hack/k8s-bin.sh (hack/go-lib.sh): static builds in a throwaway main module, Go's
# module and build caches reused, nothing rebuilt when every binary reports the pinned
# version.
#
# Usage:  NODE_ASSETS=$(hack/node-bin.sh | tail -1)
#
# The assets directory is
#   ${APPIMAGE_NODE_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/node-<k8s version>}
# and is printed as the LAST line of stdout; progress goes to stderr.
#
# Environment:
#   APPIMAGE_NODE_ASSETS  override the output directory
#   GO                    go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)

# One pin for the whole cluster: read it from hack/k8s-bin.sh.
K8S_VERSION=$(sed -n 's/^readonly K8S_VERSION=\(v[0-9.]*\)$/\1/p' "$here/k8s-bin.sh")
[[ -n $K8S_VERSION ]] || { echo "[node-bin] ERROR: no K8S_VERSION in hack/k8s-bin.sh" >&2; exit 1; }
readonly K8S_VERSION
readonly BINARIES=(kubelet kube-proxy kube-controller-manager kube-scheduler kubectl)

TAG=node-bin
# shellcheck source=hack/go-lib.sh
source "$here/go-lib.sh"
open_assets "${APPIMAGE_NODE_ASSETS:-$CACHE_ROOT/node-${K8S_VERSION#v}}"

# version_ok NAME: the binary exists, runs, and reports K8S_VERSION.
version_ok() {
  local bin=$ASSETS/$1 out
  [[ -x $bin ]] || return 1
  if [[ $1 == kubectl ]]; then
    out=$("$bin" version --client 2>&1) || return 1
  else
    out=$("$bin" --version 2>&1) || return 1
  fi
  [[ $out == *"$K8S_VERSION"* ]]
}

# pause_ok: the pause binary exists and was built from the current hack/pause.
pause_ok() {
  [[ -x $ASSETS/pause && -f $ASSETS/pause.src ]] &&
    [[ $(cat "$ASSETS/pause.src") == "$(cat "$here/pause/main.go" "$here/pause/go.mod" | sha256sum)" ]]
}

missing=()
for b in "${BINARIES[@]}"; do version_ok "$b" || missing+=("$b"); done
if ((${#missing[@]} == 0)) && pause_ok; then
  log "reusing $ASSETS"
  printf '%s\n' "$ASSETS"
  exit 0
fi

start_build

if ! pause_ok; then
  build pause "$here/pause" .
  cat "$here/pause/main.go" "$here/pause/go.mod" | sha256sum >"$ASSETS/pause.src"
fi

if ((${#missing[@]})); then
  dir=$(kubernetes_module node)
  ld=$(kubernetes_ldflags)
  for b in "${missing[@]}"; do build "$b" "$dir" "k8s.io/kubernetes/cmd/$b" "$ld"; done
fi

for b in "${BINARIES[@]}"; do version_ok "$b" || die "$b in $ASSETS does not report $K8S_VERSION"; done
pause_ok || die "pause in $ASSETS is stale"
log "ready: $K8S_VERSION node binaries and pause"
printf '%s\n' "$ASSETS"
