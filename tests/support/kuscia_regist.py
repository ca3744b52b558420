"""Run Kuscia's own deploy helper, ``regist_app_image``, against an API server.

Run by the interpreter hack/kuscia-client.sh makes (never imported by the tests: the
helper's protos clash with ours in one process)::

    $APPIMAGE_KUSCIA_PYTHON -I tests/support/kuscia_regist.py KUBECONFIG MANIFEST

It prints one JSON line: ``{"ok": true}``, or the exception the helper raised, with the
API server's status and message when it carries them. The helper deletes the AppImage if
it exists, creates it again, and waits until it can read it.
"""

from __future__ import annotations

import json
import sys

from kubernetes import config, dynamic
from kuscia.deploy.appimage import regist_app_image


def main() -> None:
    kubeconfig, manifest = sys.argv[1], sys.argv[2]
    client = dynamic.DynamicClient(config.new_client_from_config(config_file=kubeconfig))
    try:
        regist_app_image(client, manifest)
    except Exception as e:  # what a user of the helper would see, whatever it is
        print(json.dumps({"ok": False, "error": type(e).__name__, "status": getattr(e, "status", None),
                          "message": str(getattr(e, "body", None) or e)}))
        return
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
