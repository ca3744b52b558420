"""The admission webhook: wire types, the only response builder, and the handlers.

``reviews`` (TypedDicts of admission.k8s.io/v1), ``responses`` (every AdmissionReview
answer is built there), ``patches`` (JSON Patch from defaulting's edits), ``handlers`` (pure
review -> response logic; no aiohttp). The HTTP glue is ``http``.
"""
