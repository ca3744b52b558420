"""paths inside messages: a rule names a field once; each caller reads it in its spelling."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from webhook.core import paths

PROBE = ("spec", "deployTemplates", 0, "spec", "containers", 1, "livenessProbe", "httpGet")


def test_a_ref_is_the_whole_path_in_either_spelling():
    message = f"also served by {paths.ref(PROBE)}"
    assert paths.spelled(message, rest=False) == (
        "also served by spec.deployTemplates[0].spec.containers[1].livenessProbe.httpGet")
    assert paths.spelled(message, rest=True) == (
        "also served by deploy_templates[0].containers[1].liveness_probe.http_get")


def test_a_field_is_the_last_name_of_the_path_in_either_spelling():
    message = f"needs {paths.field((*PROBE[:-1], 'tcpSocket'))} or {paths.field(PROBE)}"
    assert paths.spelled(message, rest=False) == "needs tcpSocket or httpGet"
    assert paths.spelled(message, rest=True) == "needs tcp_socket or http_get"


def test_a_map_key_keeps_its_spelling():
    templates = ("spec", "configTemplates")
    message = f"names no {paths.field(templates)} key: {paths.ref((*templates, 'my_Key'))}"
    assert paths.spelled(message, rest=True) == "names no config_templates key: config_templates[my_Key]"


@given(st.text())
def test_a_message_without_paths_is_unchanged(message):
    assert paths.spelled(message.replace("\u2063", ""), rest=True) == message.replace("\u2063", "")
