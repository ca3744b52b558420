"""Build hook: compiles the review hot path with mypyc (the rest of pyproject.toml is
declarative).

The modules in ``NATIVE`` are plain typed Python, compiled to C extension modules
when the package is built: a /validate review's own work drops from ~27 to ~15 µs
(bench/results/latest.md). The ``.py`` files stay the source, and the package works
without the extensions: ``APPIMAGE_WEBHOOK_PURE_PYTHON=1`` builds none (for a platform
without a C compiler). An editable install (``pip install -e .``, as scripts/test does)
builds them next to the sources, where they take precedence over the ``.py`` files, so
after editing one of these modules reinstall; the test suite refuses to run on a stale
extension (tests/conftest.py).
"""

from __future__ import annotations

import os

from setuptools import setup

NATIVE = [
    "webhook/admission/handlers.py",
    "webhook/admission/patches.py",
    "webhook/admission/responses.py",
    "webhook/admission/reviews.py",
    "webhook/bodies.py",
    "webhook/defaulting.py",
    "webhook/formats.py",
    "webhook/metrics.py",
    "webhook/model.py",
    "webhook/podspec.py",
    "webhook/rendered.py",
    "webhook/schemas.py",
    "webhook/validation.py",
]

if os.environ.get("APPIMAGE_WEBHOOK_PURE_PYTHON") == "1":
    setup()
else:
    from mypyc.build import mypycify

    # Types only steer the compiled code: the build environment need not hold the
    # runtime dependencies, whose types are then Any (mypy itself checks them in CI).
    setup(ext_modules=mypycify(["--config-file=", "--ignore-missing-imports", *NATIVE],
                               opt_level="3"))
