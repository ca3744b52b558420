"""The gRPC front end: Kuscia's ``AppImageService`` on the operations REST runs.

``service`` answers the RPCs (token, metrics, warnings as trailing metadata) through
``messages`` and ``calls``, so every rule, code and message is the REST API's;
``credentials`` follows the certificate files; ``listener`` is the grpc.aio server in
the service's event loop, with health and reflection.
"""
