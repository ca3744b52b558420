"""Example requests the service offers in ``/openapi.json`` and on the ``/docs`` page:
the API document's own request bodies (``doc_<operation>.json``), as it wrote them."""
