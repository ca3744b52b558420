"""``python -m webhook`` is the ``appimage-webhook`` command."""

from webhook.app import cli

cli.main()
