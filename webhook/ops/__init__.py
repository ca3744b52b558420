"""What running the service takes, below its front ends: ``settings``, TLS (``tls``,
``certificates``, ``selfcert`` and ``renewal``), listener sockets (``connections``),
routing and instrumentation (``routing``), ``metrics`` and ``logs``."""
