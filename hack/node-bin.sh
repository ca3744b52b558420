#!/usr/bin/env bash
# Build the node binaries of the end-to-end cluster (kubelet, kube-proxy,
# kube-controller-manager, kube-scheduler, kubectl) from k8s.io/kubernetes at the
# version hack/k8s-bin.sh pins for kube-apiserver, plus the pause image's program
# (hack/pause), into a cache directory outside the repository. Same pattern as
# hack/k8s-bin.sh: static builds in a throwaway main module, Go's module and build
# caches reused, nothing rebuilt when every binary reports the pinned version.
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

log() { printf '[node-bin] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook
ASSETS=${APPIMAGE_NODE_ASSETS:-$cache_root/node-${K8S_VERSION#v}}
mkdir -p "$ASSETS"
ASSETS=$(cd "$ASSETS" && pwd -P)

if command -v flock >/dev/null; then
  exec 9>"$ASSETS/.lock"
  flock 9
fi

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

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
workdir=$(mktemp -d "$ASSETS/.build.XXXXXX")
trap 'rm -rf "$workdir"' EXIT

if ! pause_ok; then
  log "building pause"
  (cd "$here/pause" && "$GO" build -trimpath -ldflags="-s -w" -o "$ASSETS/.pause.tmp" .) || die "build of pause failed"
  mv -f "$ASSETS/.pause.tmp" "$ASSETS/pause"
  cat "$here/pause/main.go" "$here/pause/go.mod" | sha256sum >"$ASSETS/pause.src"
fi

if ((${#missing[@]})); then
  json=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION") || die "go mod download failed"
  gomod=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  [[ -f $gomod ]] || die "no go.mod for k8s.io/kubernetes@$K8S_VERSION"
  dir=$workdir/node
  mkdir -p "$dir"
  printf 'module appimage-webhook.local/k8s-bin/node\n\ngo %s\n' \
    "$(awk '$1 == "go" { print $2; exit }' "$gomod")" >"$dir/go.mod"
  (cd "$dir" && "$GO" mod edit -require="k8s.io/kubernetes@$K8S_VERSION") || die "go mod edit failed"
  # As in hack/k8s-bin.sh: the staging modules are required as v0.0.0 upstream.
  staging=v0.${K8S_VERSION#v1.}
  n=0
  while read -r mod; do
    (cd "$dir" && "$GO" mod edit -replace="$mod=$mod@$staging") || die "go mod edit failed"
    n=$((n + 1))
  done < <(awk '{ for (i = 2; i <= NF; i++) if ($i == "=>" && $(i + 1) ~ /^\.\/staging\//) print $(i - 1) }' "$gomod")
  ((n >= 20)) || die "found only $n staging replace directives in $gomod"
  minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  ld=(-s -w)
  for pkgpath in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=("-X $pkgpath.gitVersion=$K8S_VERSION" "-X $pkgpath.gitMajor=1"
      "-X $pkgpath.gitMinor=$minor" "-X $pkgpath.gitTreeState=clean")
  done
  for b in "${missing[@]}"; do
    start=$SECONDS
    log "building $b ..."
    (cd "$dir" && "$GO" build -trimpath -ldflags="${ld[*]}" -o "$ASSETS/.$b.tmp" "k8s.io/kubernetes/cmd/$b") ||
      die "build of $b failed"
    mv -f "$ASSETS/.$b.tmp" "$ASSETS/$b"
    log "built $b in $((SECONDS - start))s"
  done
fi

for b in "${BINARIES[@]}"; do version_ok "$b" || die "$b in $ASSETS does not report $K8S_VERSION"; done
pause_ok || die "pause in $ASSETS is stale"
log "ready: $K8S_VERSION node binaries and pause"
printf '%s\n' "$ASSETS"
