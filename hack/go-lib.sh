# shellcheck shell=bash
# What hack/go-tool.sh, hack/k8s-bin.sh and hack/node-bin.sh share: commands of pinned
# Go modules built into a cache directory outside the repository. Sourced once the
# caller has set TAG (its log prefix) and, for the Kubernetes helpers, K8S_VERSION.
#
# Builds are static (CGO_ENABLED=0, -trimpath, -s -w), each in a throwaway main module
# that requires the pinned module (so it gets the dependency versions that module's own
# go.mod selects), with Go's normal module and build caches (GOMODCACHE, GOCACHE).
#
# Environment:
#   GO  go command to use (default: go on PATH, else /usr/local/go/bin/go)

log() { printf '[%s] %s\n' "$TAG" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"
# shellcheck disable=SC2034  # the scripts that source this name their directories by it
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook

# open_assets DIR: DIR, made and absolute, is $ASSETS, held under a lock (flock) until
# the script exits, so that concurrent runs do not build over each other.
open_assets() {
  mkdir -p "$1"
  ASSETS=$(cd "$1" && pwd -P)
  if command -v flock >/dev/null; then
    exec 9>"$ASSETS/.lock"
    flock 9
  fi
}

# start_build: the build environment, and $workdir for the modules (removed on exit).
start_build() {
  export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
  workdir=$(mktemp -d "$ASSETS/.build.XXXXXX")
  trap 'rm -rf "$workdir"' EXIT
}

# gomod_of MODULE@VERSION: download the module, print the path of its go.mod.
gomod_of() {
  local json path
  json=$("$GO" mod download -json "$1") || die "go mod download $1 failed"
  path=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
  [[ -n $path && -f $path ]] || die "no go.mod found for $1"
  printf '%s\n' "$path"
}

# new_module NAME DEP_GOMOD MODULE@VERSION: a throwaway main module that requires
# MODULE@VERSION with the go directive of DEP_GOMOD; prints its directory.
new_module() {
  local dir=$workdir/$1 godir
  mkdir -p "$dir"
  godir=$(awk '$1 == "go" { print $2; exit }' "$2")
  [[ -n $godir ]] || die "no go directive in $2"
  printf 'module appimage-webhook.local/%s/%s\n\ngo %s\n' "$TAG" "$1" "$godir" >"$dir/go.mod"
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

# kubernetes_module NAME: a module requiring k8s.io/kubernetes@$K8S_VERSION; prints its
# directory. k8s.io/kubernetes requires its staging modules as v0.0.0 and replaces them
# with ./staging/src/...; a consumer has to replace them with v0.<minor>.<patch>.
kubernetes_module() {
  local gomod dir staging mod n=0
  gomod=$(gomod_of "k8s.io/kubernetes@$K8S_VERSION")
  dir=$(new_module "$1" "$gomod" "k8s.io/kubernetes@$K8S_VERSION")
  staging=v0.${K8S_VERSION#v1.}
  while read -r mod; do
    (cd "$dir" && "$GO" mod edit -replace="$mod=$mod@$staging") || die "go mod edit failed"
    n=$((n + 1))
  done < <(awk '{ for (i = 2; i <= NF; i++) if ($i == "=>" && $(i + 1) ~ /^\.\/staging\//) print $(i - 1) }' "$gomod")
  ((n >= 20)) || die "found only $n staging replace directives in $gomod"
  log "$1: $n staging modules replaced with $staging"
  printf '%s\n' "$dir"
}

# kubernetes_ldflags: the version stamps a Kubernetes command reports (--version), as
# Kubernetes' own build sets them.
kubernetes_ldflags() {
  local minor=${K8S_VERSION#v1.} pkgpath flags=()
  minor=${minor%%.*}
  for pkgpath in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=("-X $pkgpath.gitVersion=$K8S_VERSION" "-X $pkgpath.gitMajor=1"
      "-X $pkgpath.gitMinor=$minor" "-X $pkgpath.gitTreeState=clean")
  done
  printf '%s\n' "${flags[*]}"
}
