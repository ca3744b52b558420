"""The REST front end: Kuscia's AppImage paths with JSON and ``application/x-protobuf``
bodies (``endpoints``), the OpenAPI document (``openapi``) and the page that renders it
(``docs``, with ``explorer/``); ``examples/`` holds the API document's requests."""
