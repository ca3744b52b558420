"""The gRPC front end: Kuscia's ``AppImageService`` on the operations REST runs, served
by grpcio.

``service`` answers the RPCs (token, warnings as trailing metadata, metrics) through
``messages`` and ``calls``, so every rule, code and message is the REST API's;
``listener`` is grpcio's grpc.aio server in the service's event loop, with its limits,
health (grpcio-health-checking) and reflection (``standard``: grpcio-reflection, under
v1alpha and v1); ``credentials`` follows the REST listeners' certificate files.
"""
