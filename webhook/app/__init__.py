"""The application: ``server`` composes the listeners, store and front ends; ``cli`` is the
command (serve, audit, gen-certs, validate, schema), with ``validate`` and ``audit``."""
