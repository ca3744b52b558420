"""Kuscia AppImage admission webhook and API: one validation core, three front ends, one store.

Layers, each importing only those below it (import-linter holds the code to it;
docs/architecture.md draws it):

* ``app``: the composition root (``server``) and the command (``cli``, ``validate``, ``audit``);
* ``rest`` | ``admission`` | ``rpc``: Kuscia's REST API (JSON and protobuf bodies), the
  API server's admission reviews, Kuscia's gRPC service: front ends that never import
  each other;
* ``ops``: settings, TLS and certificates, listener sockets, routing, metrics and logs;
* ``proto`` | ``store``: Kuscia's messages and their codec; the SQLite and Kubernetes
  stores and the API server client;
* ``core``: pure rules and shapes (model, defaulting, validation, the operations table and
  the ``api`` that runs it over the ``storage.Store`` protocol), with ``core.kuscia``,
  Kuscia's own behaviour (template rendering as Go does it, role selection, workloads).
"""
