#!/usr/bin/env bash
# A Python of its own for Kuscia's deploy helper (PyPI kuscia, kuscia.deploy.appimage),
# which the end-to-end tests run as a client no one here wrote (tests/e2e, the helper's
# re-registration of an AppImage). Its own interpreter, not the test's: the helper's
# generated protos and ours define the same symbols (kuscia.proto.api.v1alpha1.*), which
# one process cannot hold.
#
# Usage:  PYTHON=$(hack/kuscia-client.sh | tail -1)
#
# The venv is ${APPIMAGE_KUSCIA_CLIENT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/kuscia-client-<v>};
# its python's path is printed as the LAST line of stdout; progress goes to stderr. The
# helper's wheel declares no dependencies: the ones it imports are pinned here (the
# versions its own requirements name do not install on Python 3.11).
set -euo pipefail

readonly KUSCIA_VERSION=0.0.3b0
readonly PINS=(kubernetes==37.0.2 PyYAML==6.0.4 docker==7.2.0 rsa==4.9.1 grpcio==1.85.3 protobuf==7.36.2)

dir=${APPIMAGE_KUSCIA_CLIENT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/appimage-webhook/kuscia-client-$KUSCIA_VERSION}
python=$dir/bin/python
if ! "$python" -c 'from kuscia.deploy.appimage import regist_app_image' 2>/dev/null; then
  echo "[kuscia-client] installing kuscia==$KUSCIA_VERSION into $dir ..." >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$python" -m pip install --quiet --upgrade pip >&2
  "$python" -m pip install --quiet --pre "kuscia==$KUSCIA_VERSION" "${PINS[@]}" >&2
  "$python" -c 'from kuscia.deploy.appimage import regist_app_image' \
    || { echo "[kuscia-client] ERROR: kuscia's helper does not import" >&2; exit 1; }
fi
printf '%s\n' "$python"
