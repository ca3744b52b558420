"""The pure core: rules and data shapes that both front ends share.

Pure, no I/O: nothing here opens a socket or a file, starts a thread or reads the clock;
it imports no web server, gRPC, store backend or Kubernetes client (import-linter holds
it to that).
"""
