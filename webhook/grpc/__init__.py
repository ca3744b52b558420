"""The gRPC front end: Kuscia's ``AppImageService`` on the operations REST runs.

``service`` answers the RPCs (token, warnings as trailing metadata) through ``messages``
and ``calls``, so every rule, code and message is the REST API's; ``standard`` is gRPC's
health and reflection services; ``wire`` is gRPC over HTTP/2 streams (messages, status,
deadlines, metrics), ``h2`` the HTTP/2 connections under it, and ``listener`` binds them
in the service's event loop with the REST listeners' TLS contexts.
"""
