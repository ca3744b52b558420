"""roles.select: the deploy template Kuscia runs a party with (SelectDeployTemplate)."""

from __future__ import annotations

import pytest

from webhook.core.kuscia import roles


def templates(*roles_: str | None) -> list[dict[str, object]]:
    return [{"name": f"t{i}"} if role is None else {"name": f"t{i}", "role": role}
            for i, role in enumerate(roles_)]


@pytest.mark.parametrize(("given", "role", "chosen"), [
    (("server", "client"), "client", 1),
    (("server", "server,client"), "server", 0),          # the first listing it wins
    (("a,b", "c"), "b", 0),
    ((",server,", "x"), "server", 0),                    # outer commas are trimmed
    (("client, server",), " server", 0),                 # spaces are not
    (("client, server",), "server", None),
    (("Server",), "server", None),                       # nor is case folded
    (("server", "", "x", None), "guest", 3),             # the last template without a role
    (("server", None, "x", ""), "guest", 3),
    (("server",), "guest", None),                        # "not found deploy template for role"
    (("server", "client"), "", 0),                       # no role: the first template
    (("server", "", ""), "", 1),                         # no role: the first role-less one
    (("a,,b", ""), "", 0),                               # an empty piece serves no role
    ((), "", None),
    ((), "server", None),
], ids=repr)
def test_select_picks_the_template_kuscia_picks(given, role, chosen):
    assert roles.select(templates(*given), role) == chosen


@pytest.mark.parametrize(("role", "listed"), [
    ("server", ["server"]), (",a,b,", ["a", "b"]), ("a, b", ["a", " b"]), ("", []), (None, []),
])
def test_listed_splits_a_role_as_kuscia_does(role, listed):
    template = {} if role is None else {"role": role}
    assert roles.listed(template) == listed
