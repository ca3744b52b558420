#!/usr/bin/env bash
# Build the Kubernetes test binaries (kube-apiserver, etcd, helm) from pinned
# Go modules, envtest-style, into a cache directory outside the repository.
#
# Usage:  ASSETS=$(hack/k8s-bin.sh | tail -1)
#
# The assets directory is
#   ${APPIMAGE_K8S_ASSETS:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/k8s-<v>-etcd-<v>-helm-<v>}
# and is printed as the LAST line of stdout; progress goes to stderr.
# When all three binaries already exist there and report the pinned version,
# nothing is built. Builds are static (CGO_ENABLED=0, -trimpath, -s -w) and use
# Go's normal module and build caches (GOMODCACHE, GOCACHE), so rebuilding into
# a fresh assets directory with a warm build cache takes seconds. Each binary is
# built in its own throwaway main module (under the assets dir, removed on
# exit), so each gets the dependency versions its upstream go.mod selects.
# Any failed step exits non-zero and prints nothing on stdout.
#
# Environment:
#   APPIMAGE_K8S_ASSETS  override the output directory
#   GO                   go command to use (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

# --- pinned versions -------------------------------------------------------
# kube-apiserver: k8s.io/kubernetes; its k8s.io/* staging modules are pinned to
# the matching v0.x.y release via replace directives derived from its go.mod.
readonly K8S_VERSION=v1.36.3
# etcd: the release that K8S_VERSION tests with (hack/lib/etcd.sh ETCD_VERSION).
# The etcd binary's main package is the root package of the server module
# (server/main.go calls etcdmain.Main), which is what etcd's own build uses.
readonly ETCD_VERSION=v3.6.8
readonly HELM_VERSION=v3.22.0

log() { printf '[k8s-bin] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook
ASSETS=${APPIMAGE_K8S_ASSETS:-$cache_root/k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}-helm-${HELM_VERSION#v}}
mkdir -p "$ASSETS"
ASSETS=$(cd "$ASSETS" && pwd -P)

# Serialise concurrent invocations (e.g. parallel test workers).
if command -v flock >/dev/null; then
  exec 9>"$ASSETS/.lock"
  flock 9
fi

# version_ok NAME EXPECTED: the binary exists, runs, and reports EXPECTED.
version_ok() {
  local bin=$ASSETS/$1 want=$2 out
  [[ -x $bin ]] || return 1
  if [[ $1 == helm ]]; then
    out=$("$bin" version --short 2>&1) || return 1
  else
    out=$("$bin" --version 2>&1) || return 1
  fi
  [[ $out == *"$want"* ]]
}

# all_ok: every binary is present and reports its pinned version.
all_ok() {
  version_ok kube-apiserver "Kubernetes $K8S_VERSION" &&
    version_ok etcd "etcd Version: ${ETCD_VERSION#v}" &&
    version_ok helm "$HELM_VERSION"
}

if all_ok; then
  log "reusing $ASSETS"
  printf '%s\n' "$ASSETS"
  exit 0
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
workdir=$(mktemp -d "$ASSETS/.build.XXXXXX")
trap 'rm -rf "$workdir"' EXIT

# gomod_of MODULE@VERSION: download the module, print the path of its go.mod.
gomod_of() {
  local json path
  json=$("$GO" mod download -json "$1") || die "go mod download $1 failed"
  path=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  [[ -n $path && -f $path ]] || die "no go.mod found for $1"
  printf '%s\n' "$path"
}

# new_module NAME DEP_GOMOD MODULE@VERSION: create a throwaway main module that
# requires MODULE@VERSION with the same go directive; prints its directory.
new_module() {
  local dir=$workdir/$1 godir
  mkdir -p "$dir"
  godir=$(awk '$1 == "go" { print $2; exit }' "$2")
  [[ -n $godir ]] || die "no go directive in $2"
  printf 'module appimage-webhook.local/k8s-bin/%s\n\ngo %s\n' "$1" "$godir" >"$dir/go.mod"
  (cd "$dir" && "$GO" mod edit -require="$3") || die "cannot create module for $1"
  printf '%s\n' "$dir"
}

# build NAME MODDIR PACKAGE [LDFLAGS...]: go build PACKAGE into $ASSETS/NAME.
build() {
  local name=$1 dir=$2 pkg=$3 start
  shift 3
  start=$SECONDS
  log "building $name ($pkg) ..."
  (cd "$dir" && "$GO" build -trimpath -ldflags="-s -w $*" -o "$ASSETS/.$name.tmp" "$pkg") ||
    die "build of $name failed"
  mv -f "$ASSETS/.$name.tmp" "$ASSETS/$name"
  log "built $name in $((SECONDS - start))s"
}

build_kube_apiserver() {
  local gomod dir staging mod n=0 minor pkgpath
  gomod=$(gomod_of "k8s.io/kubernetes@$K8S_VERSION")
  dir=$(new_module kube-apiserver "$gomod" "k8s.io/kubernetes@$K8S_VERSION")
  # k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them
  # with ./staging/src/...; a consumer has to replace them with v0.<minor>.<patch>.
  staging=v0.${K8S_VERSION#v1.}
  while read -r mod; do
    (cd "$dir" && "$GO" mod edit -replace="$mod=$mod@$staging") || die "go mod edit failed"
    n=$((n + 1))
  done < <(awk '{ for (i = 2; i <= NF; i++) if ($i == "=>" && $(i + 1) ~ /^\.\/staging\//) print $(i - 1) }' "$gomod")
  ((n >= 20)) || die "found only $n staging replace directives in $gomod"
  log "kube-apiserver: $n staging modules replaced with $staging"
  minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local -a ld=()
  for pkgpath in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=("-X $pkgpath.gitVersion=$K8S_VERSION" "-X $pkgpath.gitMajor=1"
      "-X $pkgpath.gitMinor=$minor" "-X $pkgpath.gitTreeState=clean")
  done
  build kube-apiserver "$dir" k8s.io/kubernetes/cmd/kube-apiserver "${ld[@]}"
}

build_etcd() {
  local gomod dir
  gomod=$(gomod_of "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  dir=$(new_module etcd "$gomod" "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  build etcd "$dir" go.etcd.io/etcd/server/v3
}

build_helm() {
  local gomod dir k8s_minor pkgpath
  gomod=$(gomod_of "helm.sh/helm/v3@$HELM_VERSION")
  dir=$(new_module helm "$gomod" "helm.sh/helm/v3@$HELM_VERSION")
  # As helm's Makefile: the default Kubernetes version helm assumes follows
  # the client-go it is built with (v0.N.x -> 1.N).
  k8s_minor=$(cd "$dir" && "$GO" list -m -f '{{.Version}}' k8s.io/client-go) ||
    die "cannot resolve helm's client-go version"
  k8s_minor=${k8s_minor#v0.}
  k8s_minor=${k8s_minor%%.*}
  local -a ld=("-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    "-X helm.sh/helm/v3/internal/version.gitTreeState=clean")
  for pkgpath in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=("-X $pkgpath.k8sVersionMajor=1" "-X $pkgpath.k8sVersionMinor=$k8s_minor")
  done
  build helm "$dir" helm.sh/helm/v3/cmd/helm "${ld[@]}"
}

log "assets: $ASSETS ($("$GO" version))"
version_ok etcd "etcd Version: ${ETCD_VERSION#v}" || build_etcd
version_ok helm "$HELM_VERSION" || build_helm
version_ok kube-apiserver "Kubernetes $K8S_VERSION" || build_kube_apiserver
all_ok || die "binaries in $ASSETS do not report the pinned versions"
log "ready: kube-apiserver $K8S_VERSION, etcd $ETCD_VERSION, helm $HELM_VERSION"
printf '%s\n' "$ASSETS"
