"""Example request bodies, one for each REST operation: the API document's own
(``doc_<operation>.json``, as it wrote them), offered in ``/openapi.json`` and on the
``/docs`` page, and ``list.json`` for the operation the document has no example of."""
