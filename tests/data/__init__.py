"""The API document's example requests; shipped as ``webhook.examples`` (pyproject.toml)."""
