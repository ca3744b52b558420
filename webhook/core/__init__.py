"""The pure core: what an AppImage is and which rules it obeys, shared by every front end.

No I/O but the ``storage.Store`` protocol (and reading the schema files shipped in the
package). ``model`` compiles the source schema into the two shapes of an AppImage (REST
snake_case, custom resource camelCase) and converts between them; ``defaulting`` and
``validation`` (with ``schemas``, ``formats``, ``podspec``, and Kuscia's own rules in
``kuscia``) are the single implementation of every rule; ``operations`` is the one table
of Kuscia's operations and ``api`` runs them over a ``storage.Store``; ``calls`` turns an
outcome or an error into Kuscia's status, for every front end.
"""
