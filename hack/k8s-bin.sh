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
# built in its own throwaway main module (hack/go-lib.sh), so each gets the
# dependency versions its upstream go.mod selects.
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

TAG=k8s-bin
# shellcheck source=hack/go-lib.sh
source "$(dirname "$0")/go-lib.sh"
open_assets "${APPIMAGE_K8S_ASSETS:-$CACHE_ROOT/k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}-helm-${HELM_VERSION#v}}"

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

start_build

build_kube_apiserver() {
  local dir
  dir=$(kubernetes_module kube-apiserver)
  build kube-apiserver "$dir" k8s.io/kubernetes/cmd/kube-apiserver "$(kubernetes_ldflags)"
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
