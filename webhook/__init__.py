"""Kuscia AppImage admission webhook and REST API.

One validation core, two front ends, one store:

* ``model`` compiles ``schemas/appimage.schema.json`` (read by ``sources``) into the two
  shapes of an AppImage (REST snake_case, custom resource camelCase) and converts
  losslessly between them; ``paths`` spells a field's path in either, for messages;
* ``defaulting`` and ``validation`` (with ``schemas``, ``formats``, ``podspec``) are pure
  functions on the custom-resource shape: the single implementation of every rule;
* ``api`` runs Kuscia's operations (parse, convert, default, validate, store), which
  ``operations`` declares once, and ``rest`` and ``grpc`` serve them; ``admission``
  answers the API server's reviews;
* ``store`` holds AppImages behind one protocol (SQLite file, or the Kubernetes API
  through the small client in ``kube``);
* ``server`` wires listeners (``connections``: limits), TLS (``tls``, on the files
  ``certificates`` writes, and ``selfcert`` for certificates kept in a Secret, renewed
  as ``renewal`` decides), strict bodies (``bodies``), probes, metrics and the API
  document (``openapi``, ``docs``); ``audit`` holds what is stored to the rules;
  ``cli`` is the command.
"""
