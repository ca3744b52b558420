"""``python -m webhook`` is the ``appimage-webhook`` command."""

from webhook import cli

cli.main()
