#!/usr/bin/env bash
# Build the service's container image without a daemon: Debian bookworm's python3
# (mmdebstrap --variant=extract) as one layer, our wheel and its dependencies as a
# second, into an OCI archive whose digest depends only on the commit and the cached
# Debian root filesystem. The Containerfile builds the same image with Docker/Podman.
#
# Usage:  IMAGE=$(hack/image.sh | tail -1)      # the archive's path; its digest on stderr
#
# Output: $APPIMAGE_IMAGE_DIR (default ~/.cache/appimage-webhook/image) holds
#   appimage-webhook-<version>.oci.tar  and  appimage-webhook-<version>.digest
# Load it with `ctr -n k8s.io images import`, `podman load -i`, `kind load image-archive`,
# or push it with `skopeo copy oci-archive:FILE docker://REGISTRY/…` (README).
#
# Environment:
#   APPIMAGE_IMAGE_DIR  output directory
#   IMAGE_NAME          reference written into the archive
#                       (default docker.io/secretflow/appimage-webhook:<version>, the chart's default)
#   SOURCE_DATE_EPOCH   mtime of the application layer (default: the commit's time)
#   APPIMAGE_ROOTFS_DIR cache of the Debian root filesystem layer
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

readonly SUITE=bookworm
readonly PYVER=3.11          # bookworm's python3; the wheels pip picks must match it
# libstdc++6: grpcio's compiled core is C++ (without it the service fails to import grpc).
readonly PACKAGES=python3,ca-certificates,libstdc++6
# The Debian layer's mtimes: fixed, so the layer is shared by every commit's image.
readonly ROOTFS_EPOCH=1700000000

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -1)
[[ -n $version ]] || die "no version in pyproject.toml"
name=${IMAGE_NAME:-docker.io/secretflow/appimage-webhook:$version}
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo "$ROOTFS_EPOCH")
fi
export SOURCE_DATE_EPOCH

cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook
out=${APPIMAGE_IMAGE_DIR:-$cache_root/image}
rootfs_cache=${APPIMAGE_ROOTFS_DIR:-$cache_root/rootfs-$SUITE-$(echo "$PACKAGES" | tr , -)}
mkdir -p "$out" "$rootfs_cache"

command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
[[ $(id -u) == 0 ]] || die "run as root: the Debian layer keeps its files' owners"

work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- layer 1: Debian's python3, cached --------------------------------------------
base=$rootfs_cache/layer.tar
if [[ ! -s $base ]]; then
  start=$SECONDS
  log "mmdebstrap $SUITE ($PACKAGES) ..."
  rootfs=$work/rootfs
  SOURCE_DATE_EPOCH=$ROOTFS_EPOCH mmdebstrap --quiet --variant=extract --include="$PACKAGES" \
    "$SUITE" "$rootfs" >&2 || die "mmdebstrap failed"
  # Nothing reads these at run time; without the shell, no `sh -c` in the image either.
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian} "$rootfs"/var/cache/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* "$rootfs"/bin/sh "$rootfs"/usr/bin/sh \
    "$rootfs"/bin/dash "$rootfs"/usr/bin/dash
  # ca-certificates' bundle is made by its postinst, which extract does not run.
  if [[ ! -s $rootfs/etc/ssl/certs/ca-certificates.crt ]]; then
    mkdir -p "$rootfs/etc/ssl/certs"
    find "$rootfs/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z |
      xargs -0 cat >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  fi
  [[ -x $rootfs/usr/bin/python$PYVER ]] || die "no python$PYVER in the $SUITE root filesystem"
  python3 hack/oci.py layer "$rootfs" "$work/layer.tar" --epoch "$ROOTFS_EPOCH"
  mv "$work/layer.tar" "$base"
  rm -rf "$rootfs"
  log "Debian layer cached in $((SECONDS - start))s: $base"
else
  log "reusing $base"
fi

# --- layer 2: our wheel and its dependencies ----------------------------------------
start=$SECONDS
app=$work/app
site=$app/usr/local/lib/python$PYVER/dist-packages
mkdir -p "$site" "$app/usr/local/bin" "$app/etc" "$app/home/nonroot" "$app/tmp"
# Pure Python: the image must not depend on the build host's compiler or Python build.
# pip of the project's .venv when there is one (scripts/test makes it).
if [[ -x .venv/bin/python ]]; then
  wheel_cmd=(.venv/bin/python -m pip wheel)
else
  wheel_cmd=(python3 -m pip wheel)
fi
APPIMAGE_WEBHOOK_PURE_PYTHON=1 "${wheel_cmd[@]}" --quiet --no-deps --wheel-dir "$work/wheel" . >&2 ||
  die "building the wheel failed"
"${wheel_cmd[0]}" -m pip install --quiet --no-compile --no-cache-dir --target "$site" \
  --python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" \
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --only-binary=:all: \
  -c constraints.txt "$work"/wheel/*.whl >&2 || die "pip install into the image failed"
# Build-host details pip records: the wheel's temporary path and pip itself.
find "$site" \( -name direct_url.json -o -name INSTALLER -o -name REQUESTED \) -delete
find "$site" -path '*.dist-info/RECORD' -exec sed -i -E '/\/(direct_url\.json|INSTALLER|REQUESTED),/d' {} +
rm -rf "${site:?}/bin"
install -m 0755 hack/image/appimage-webhook "$app/usr/local/bin/appimage-webhook"
install -m 0644 hack/image/passwd "$app/etc/passwd"
install -m 0644 hack/image/group "$app/etc/group"
chown 65532:65532 "$app/home/nonroot"
chmod 1777 "$app/tmp"
# Bytecode made here, hash-checked instead of timestamped: the same bytes every build, and
# a read-only root filesystem needs no __pycache__ writes at start.
mkdir -p "$work/chroot"
tar -C "$work/chroot" -xf "$base"
cp -a "$app/." "$work/chroot/"
chroot "$work/chroot" /usr/bin/python$PYVER -m compileall -q -j 1 \
  --invalidation-mode unchecked-hash "/usr/local/lib/python$PYVER/dist-packages" \
  "/usr/lib/python$PYVER" >/dev/null || die "compileall failed"
(cd "$work/chroot" && find usr -name '*.pyc' -print0 | tar --null -T - -cf -) | tar -C "$app" -xf -
rm -rf "$work/chroot"
python3 hack/oci.py layer "$app" "$work/app.tar" --epoch "$SOURCE_DATE_EPOCH"
log "application layer in $((SECONDS - start))s"

config=$(python3 - "$version" "$SOURCE_DATE_EPOCH" <<'PY'
import datetime, json, sys
version, epoch = sys.argv[1], int(sys.argv[2])
print(json.dumps({
    "architecture": "amd64", "os": "linux",
    "created": datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "config": {
        "User": "65532:65532",
        "Entrypoint": ["/usr/local/bin/appimage-webhook"],
        "Cmd": ["serve"],
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot",
                "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"],
        "WorkingDir": "/home/nonroot",
        "StopSignal": "SIGTERM",
        "ExposedPorts": {"8080/tcp": {}, "8082/tcp": {}, "9443/tcp": {}},
        "Labels": {"org.opencontainers.image.title": "appimage-webhook",
                   "org.opencontainers.image.version": version,
                   "org.opencontainers.image.source": "https://github.com/secretflow/appimage-webhook"},
    },
}))
PY
)
archive=$out/appimage-webhook-$version.oci.tar
digest=$(python3 hack/oci.py image "$work/image.tar" --name "$name" --layer "$base" \
  --layer "$work/app.tar" --config "$config")
mv "$work/image.tar" "$archive"
printf '%s\n' "$digest" >"$out/appimage-webhook-$version.digest"
log "$name@$digest ($(du -h "$archive" | cut -f1) compressed)"
printf '%s\n' "$archive"
