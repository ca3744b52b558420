"""Validation rules (SPEC §4), one behaviour per test, on the custom-resource shape."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.core import paths, validation
from webhook.core.kuscia import roles


def errors_of(obj: dict[str, Any]) -> dict[str, str]:
    return {paths.format_path(p): paths.spelled(m, rest=False) for p, m in validation.validate(obj).errors}


def warnings_of(obj: dict[str, Any]) -> dict[str, str]:
    return {paths.format_path(p): paths.spelled(m, rest=False) for p, m in validation.validate(obj).warnings}


C0 = "spec.deployTemplates[0].spec.containers[0]"


def test_the_documents_create_example_is_valid(appimage):
    report = validation.validate(appimage)
    assert report.errors == []
    # Its image ID is no sha256 digest: Kuscia's agent would never match it.
    assert [paths.format_path(p) for p, _ in report.warnings] == ["spec.image.id"]


@pytest.mark.parametrize("name", ["UPPER", "-dash", "dash-", "a_b", "a.b", "x" * 64, "name\n", ""],
                         ids=["upper", "leading-dash", "trailing-dash", "underscore", "dot", "64-chars",
                              "trailing-newline", "empty"])
def test_name_must_be_a_dns_label(appimage, name):
    appimage["metadata"]["name"] = name
    assert "metadata.name" in errors_of(appimage)


def test_name_of_63_characters_is_accepted(appimage):
    appimage["metadata"]["name"] = "a" * 63
    assert errors_of(appimage) == {}


@pytest.mark.parametrize("image", ["", "App", "app:v1", "app@sha256:abc", "/app", "app//x"],
                         ids=["empty", "upper", "with-tag", "with-digest", "leading-slash", "empty-part"])
def test_image_name_must_be_a_repository(appimage, image):
    appimage["spec"]["image"]["name"] = image
    assert "spec.image.name" in errors_of(appimage)


@pytest.mark.parametrize("image", ["app", "secretflow/app", "registry:5000/team/app-x_y.z",
                                   "localhost/app", "a.b.c/d/e"])
def test_image_name_accepts_registry_and_path(appimage, image):
    appimage["spec"]["image"]["name"] = image
    assert errors_of(appimage) == {}


@pytest.mark.parametrize("tag", [".v1", "-v1", "v 1", "x" * 129])
def test_image_tag_must_be_a_tag(appimage, tag):
    appimage["spec"]["image"]["tag"] = tag
    assert "spec.image.tag" in errors_of(appimage)


def test_image_tag_must_be_ascii(appimage):
    appimage["spec"]["image"]["tag"] = "v1\u00b2"
    assert "spec.image.tag" in errors_of(appimage)


def test_image_name_of_64_hex_digits_is_refused_as_an_image_id(appimage):
    appimage["spec"]["image"]["name"] = "0123456789abcdef" * 4
    assert errors_of(appimage) == {
        "spec.image.name": "must not be 64 hexadecimal digits: runtimes read that as an image ID"}


@pytest.mark.parametrize(("image", "refused"), [
    ("a" * 237, False), ("a" * 238, True),  # docker.io/library/ makes 255, 256
    ("team/" + "a" * 240, False), ("team/" + "a" * 241, True),  # docker.io/ only
    ("registry.example/" + "a" * 238, False),  # a registry: spelled as given
])
def test_image_name_length_counts_as_runtimes_spell_it(appimage, image, refused):
    appimage["spec"]["image"]["name"] = image
    assert ("spec.image.name" in errors_of(appimage)) is refused


def test_image_name_with_capitals_says_why(appimage):
    appimage["spec"]["image"]["name"] = "Secretflow/app"
    assert errors_of(appimage)["spec.image.name"].startswith("must be lowercase")


ALLOWED = validation.Policy(allowed_registries=("registry.example:5000", "docker.io/secretflow"))


@pytest.mark.parametrize("image", ["registry.example:5000/app", "secretflow/app",
                                   "docker.io/secretflow/app", "index.docker.io/secretflow/sf"])
def test_an_image_of_an_allowed_registry_is_accepted(appimage, image):
    appimage["spec"]["image"]["name"] = image
    assert validation.validate(appimage, policy=ALLOWED).errors == []


@pytest.mark.parametrize(("image", "pulled_from"), [
    ("app", "docker.io/library/app"), ("registry.example/app", "registry.example/app"),
    ("secretflowx/app", "docker.io/secretflowx/app"),
])
def test_an_image_of_any_other_registry_is_refused_naming_where_it_comes_from(appimage, image, pulled_from):
    appimage["spec"]["image"]["name"] = image
    [(path, message)] = validation.validate(appimage, policy=ALLOWED).errors
    assert path == ("spec", "image", "name")
    assert message == (f"comes from {pulled_from!r}, which is not in the allowed registries "
                       "(registry.example:5000, docker.io/secretflow)")


@pytest.mark.parametrize("image_id", ["", "sha256:abc"], ids=["absent", "not-a-digest"])
def test_a_required_digest_refuses_an_image_without_one(appimage, image_id):
    appimage["spec"]["image"]["id"] = image_id
    policy = validation.Policy(require_image_digest=True)
    [(path, message)] = validation.validate(appimage, policy=policy).errors
    assert path == ("spec", "image", "id")
    assert message.endswith("this service requires the image's digest, which Kuscia's agent checks "
                            "the pulled image against")


def test_a_required_digest_accepts_a_sha256_id(appimage):
    appimage["spec"]["image"]["id"] = "sha256:" + "0" * 64
    assert validation.validate(appimage, policy=validation.Policy(require_image_digest=True)).errors == []


def test_deploy_templates_are_required(appimage):
    appimage["spec"]["deployTemplates"] = []
    assert errors_of(appimage) == {"spec.deployTemplates": "must have at least 1 item"}


def test_deploy_template_needs_a_name(appimage):
    appimage["spec"]["deployTemplates"][0]["name"] = ""
    assert errors_of(appimage) == {"spec.deployTemplates[0].name": "must not be empty"}


def with_roles(appimage: dict[str, Any], *roles: str | None) -> dict[str, Any]:
    """``appimage`` with one copy of its deploy template per role (None: no role)."""
    template = appimage["spec"]["deployTemplates"][0]
    appimage["spec"]["deployTemplates"] = [
        {k: v for k, v in template.items() if k != "role"} | ({"role": r} if r is not None else {})
        for r in roles]
    return appimage


def test_a_template_name_may_repeat_across_roles_as_kuscia_selects_by_role(appimage):
    assert errors_of(with_roles(appimage, "host", "guest")) == {}


def test_two_templates_serving_one_role_are_refused(appimage):
    errors = errors_of(with_roles(appimage, "host,guest", "guest"))
    assert list(errors) == ["spec.deployTemplates[1].role"]
    assert "'guest' is also served by spec.deployTemplates[0]" in errors["spec.deployTemplates[1].role"]


def test_roles_are_split_on_commas_without_trimming_spaces_as_kuscia_does(appimage):
    with_roles(appimage, "host, guest", "guest")
    assert errors_of(appimage) == {}  # " guest" is not "guest"
    assert "has spaces" in warnings_of(appimage)["spec.deployTemplates[0].role"]


def test_a_role_listed_twice_is_a_warning(appimage):
    assert warnings_of(with_roles(appimage, "host,host"))["spec.deployTemplates[0].role"] == (
        "lists a role twice")


def test_more_than_one_template_without_a_role_is_a_warning(appimage):
    warnings = warnings_of(with_roles(appimage, None, None))
    assert errors_of(appimage) == {}
    assert "Kuscia uses only the last" in warnings["spec.deployTemplates[1]"]


def test_outer_commas_of_a_role_list_are_ignored_as_kuscia_trims_them(appimage):
    assert roles.listed({"role": ",host,guest,"}) == ["host", "guest"]
    assert errors_of(with_roles(appimage, ",host", "host,")) == {
        "spec.deployTemplates[1].role": "role 'host' is also served by spec.deployTemplates[0]: "
                                        "Kuscia would always pick that one"}


def test_negative_replicas_are_refused(appimage):
    appimage["spec"]["deployTemplates"][0]["replicas"] = -1
    assert "spec.deployTemplates[0].replicas" in errors_of(appimage)


def test_zero_replicas_is_allowed_with_a_warning(appimage):
    appimage["spec"]["deployTemplates"][0]["replicas"] = 0
    assert errors_of(appimage) == {}
    assert "starts no pods" in warnings_of(appimage)["spec.deployTemplates[0].replicas"]


@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never", ""])
def test_restart_policy_accepts_the_documents_values(appimage, policy):
    appimage["spec"]["deployTemplates"][0]["spec"]["restartPolicy"] = policy
    assert errors_of(appimage) == {}


def test_restart_policy_refuses_others(appimage):
    appimage["spec"]["deployTemplates"][0]["spec"]["restartPolicy"] = "Sometimes"
    assert errors_of(appimage) == {
        "spec.deployTemplates[0].spec.restartPolicy":
            'must be one of "Always", "OnFailure", "Never" or empty, not "Sometimes"'}


def test_a_template_needs_a_container(appimage):
    appimage["spec"]["deployTemplates"][0]["spec"]["containers"] = []
    assert "spec.deployTemplates[0].spec.containers" in errors_of(appimage)


def test_container_names_are_dns_labels(appimage, container):
    container["name"] = "App_1"
    assert f"{C0}.name" in errors_of(appimage)


def test_container_names_are_unique_in_a_template(appimage, container):
    containers = appimage["spec"]["deployTemplates"][0]["spec"]["containers"]
    containers.append({"name": container["name"]})
    assert "duplicate container name" in errors_of(appimage)[
        "spec.deployTemplates[0].spec.containers[1].name"]


@pytest.mark.parametrize("name", ["a" * 16, "8080", "Http", "a--b", "-a", ""],
                         ids=["16-chars", "no-letter", "upper", "double-dash", "leading-dash", "empty"])
def test_port_name_must_be_an_iana_svc_name(appimage, container, name):
    container["ports"][0]["name"] = name
    assert f"{C0}.ports[0].name" in errors_of(appimage)


def test_port_names_are_unique(appimage, container):
    container["ports"].append(dict(container["ports"][0]))
    assert "duplicate port name" in errors_of(appimage)[f"{C0}.ports[1].name"]


@pytest.mark.parametrize(("field", "value"), [("protocol", "TCP"), ("scope", "Global")])
def test_port_protocol_and_scope_are_enums(appimage, container, field, value):
    container["ports"][0][field] = value
    assert f"{C0}.ports[0].{field}" in errors_of(appimage)


def test_probe_needs_exactly_one_handler(appimage, container):
    container["livenessProbe"]["exec"] = {"command": ["true"]}
    assert "has exec, httpGet" in errors_of(appimage)[f"{C0}.livenessProbe"]


def test_probe_without_handler_is_refused(appimage, container):
    container["livenessProbe"] = {"periodSeconds": 5}
    assert "has none" in errors_of(appimage)[f"{C0}.livenessProbe"]


def test_exec_probe_needs_a_command(appimage, container):
    container["readinessProbe"]["exec"]["command"] = []
    assert errors_of(appimage) == {f"{C0}.readinessProbe.exec.command": "must not be empty"}


def test_http_probe_scheme_is_an_enum(appimage, container):
    container["livenessProbe"]["httpGet"]["scheme"] = "FTP"
    assert f"{C0}.livenessProbe.httpGet.scheme" in errors_of(appimage)


def test_http_probe_port_must_be_a_port_name(appimage, container):
    container["livenessProbe"]["httpGet"]["port"] = "8080"
    assert f"{C0}.livenessProbe.httpGet.port" in errors_of(appimage)


def test_probe_on_an_undeclared_port_is_a_warning(appimage, container):
    container["livenessProbe"]["httpGet"]["port"] = "metrics"
    assert errors_of(appimage) == {}
    assert "names no port declared" in warnings_of(appimage)[f"{C0}.livenessProbe.httpGet.port"]


@pytest.mark.parametrize("port", [0, 65536])
def test_grpc_probe_port_is_a_port_number(appimage, container, port):
    container["livenessProbe"] = {"grpc": {"port": port}}
    assert f"{C0}.livenessProbe.grpc.port" in errors_of(appimage)


def test_grpc_probe_on_a_number_is_accepted(appimage, container):
    container["livenessProbe"] = {"grpc": {"port": 8080, "service": "health"}}
    assert errors_of(appimage) == {}


def test_probe_numbers_may_not_be_negative(appimage, container):
    container["readinessProbe"]["periodSeconds"] = -1
    assert f"{C0}.readinessProbe.periodSeconds" in errors_of(appimage)


def test_probe_zero_numbers_mean_unset(appimage, container):
    container["readinessProbe"].update(initialDelaySeconds=0, timeoutSeconds=0, periodSeconds=0,
                                       successThreshold=0, failureThreshold=0,
                                       terminationGracePeriodSeconds=0)
    assert errors_of(appimage) == {}


@pytest.mark.parametrize("probe", ["livenessProbe", "startupProbe"])
def test_liveness_and_startup_success_threshold_must_be_one(appimage, container, probe):
    container[probe]["successThreshold"] = 2
    assert f"{C0}.{probe}.successThreshold" in errors_of(appimage)


def test_readiness_success_threshold_may_exceed_one(appimage, container):
    container["readinessProbe"]["successThreshold"] = 3
    assert errors_of(appimage) == {}


@pytest.mark.parametrize("quantity", ["100x", "1.2.3", "Gi", "", "--1"])
def test_resources_must_be_quantities(appimage, container, quantity):
    container["resources"]["limits"]["cpu"] = quantity
    assert f"{C0}.resources.limits.cpu" in errors_of(appimage)


@pytest.mark.parametrize("quantity", ["1e1000000", "10e999999"])
def test_a_quantity_past_the_servers_arithmetic_is_refused_as_out_of_range(appimage, container,
                                                                        quantity):
    container["resources"]["limits"]["cpu"] = quantity
    assert errors_of(appimage) == {
        f"{C0}.resources.limits.cpu": f"'{quantity}' is out of range for a Kubernetes quantity"}


def test_request_may_not_exceed_limit(appimage, container):
    container["resources"]["requests"]["memory"] = "1Gi"
    assert errors_of(appimage) == {
        f"{C0}.resources.requests.memory": "request '1Gi' exceeds the limit '100Mi'"}


def test_request_equal_to_limit_in_other_units_is_accepted(appimage, container):
    container["resources"]["limits"]["cpu"] = "1"
    container["resources"]["requests"]["cpu"] = "1000m"
    assert errors_of(appimage) == {}


def test_resources_of_any_name_are_quantities_as_in_kuscias_crd(appimage, container):
    container["resources"]["limits"]["nvidia.com/gpu"] = 1
    container["resources"]["requests"]["nvidia.com/gpu"] = "1"
    container["resources"]["limits"]["ephemeral-storage"] = "lots"
    assert list(errors_of(appimage)) == [f"{C0}.resources.limits[ephemeral-storage]"]


def test_image_pull_policy_is_an_enum(appimage, container):
    container["imagePullPolicy"] = "Sometimes"
    assert f"{C0}.imagePullPolicy" in errors_of(appimage)


@pytest.mark.parametrize("name", ["", "A=B"])
def test_env_names_are_non_empty_without_equals(appimage, container, name):
    container["env"][0]["name"] = name
    assert f"{C0}.env[0].name" in errors_of(appimage)


def test_env_from_needs_a_source(appimage, container):
    container["envFrom"] = [{"prefix": "x"}]
    assert errors_of(appimage) == {f"{C0}.envFrom[0]": "needs configMapRef or secretRef"}


def test_env_from_with_both_sources_is_refused_when_not_defaulted(appimage, container):
    container["envFrom"] = [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]
    assert "names both" in errors_of(appimage)[f"{C0}.envFrom[0]"]


def test_sub_path_naming_no_config_template_is_a_warning(appimage, container):
    container["configVolumeMounts"][0]["subPath"] = "missing.conf"
    assert errors_of(appimage) == {}
    assert "names no configTemplates key" in warnings_of(appimage)[
        f"{C0}.configVolumeMounts[0].subPath"]


@pytest.mark.parametrize("sub", ["../etc/passwd", "/abs"])
def test_sub_path_may_not_escape(appimage, container, sub):
    container["configVolumeMounts"][0]["subPath"] = sub
    assert f"{C0}.configVolumeMounts[0].subPath" in errors_of(appimage)


def test_config_template_keys_are_file_names(appimage):
    appimage["spec"]["configTemplates"]["a/b"] = "x"
    assert "spec.configTemplates[a/b]" in errors_of(appimage)


def test_unknown_fields_are_named_at_their_own_path(appimage, container):
    container["lifecycle"] = {}
    appimage["spec"]["extra"] = 1
    assert errors_of(appimage) == {f"{C0}.lifecycle": "unknown field",
                                   "spec.extra": "unknown field"}


def test_every_error_is_reported_at_once(appimage, container):
    appimage["metadata"]["name"] = "Bad"
    appimage["spec"]["image"]["name"] = ""
    container["ports"][0]["protocol"] = "TCP"
    container["livenessProbe"]["exec"] = {"command": ["x"]}
    container["resources"]["requests"]["cpu"] = "2"
    container["imagePullPolicy"] = "Sometimes"
    assert sorted(errors_of(appimage)) == sorted([
        "metadata.name", "spec.image.name", f"{C0}.ports[0].protocol", f"{C0}.livenessProbe",
        f"{C0}.resources.requests.cpu", f"{C0}.imagePullPolicy"])


def test_a_wrong_type_does_not_hide_its_neighbours_problems(appimage, container):
    container["ports"] = "global"
    container["name"] = "Bad"
    found = errors_of(appimage)
    assert found[f"{C0}.ports"] == "must be a list, not a string"
    assert f"{C0}.name" in found


def test_podspec_schema_problems_are_reported_on_the_template(appimage):
    from webhook.core import podspec

    # Ill-typed where only the PodSpec check looks (the AppImage schema would name it
    # first in a full validation).
    template = appimage["spec"]["deployTemplates"][0]
    template["spec"]["containers"][0]["workingDir"] = 5
    found = podspec.problems(podspec.checker(), template, ("spec", "deployTemplates", 0))
    assert [path for path, _ in found] == [("spec", "deployTemplates", 0)]
    assert "as a Kubernetes" in found[0][1]
    assert "containers[0].workingDir" in found[0][1]


def test_the_podspec_of_the_document_example_passes_kubernetes_schema(appimage):
    from webhook.core import podspec

    template = appimage["spec"]["deployTemplates"][0]
    pod = podspec.pod_spec(template)
    assert pod["containers"][0] is template["spec"]["containers"][0]  # checked in place
    assert pod["restartPolicy"] == "Never"
    assert podspec.checker().errors(pod) == []


def test_kuscia_shaped_ports_and_config_mounts_are_left_to_the_appimage_schema(appimage):
    from webhook.core import podspec

    container = appimage["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "global", "protocol": "HTTP", "scope": "Cluster"}]
    assert "configVolumeMounts" in container
    assert podspec.checker().errors(podspec.pod_spec(appimage["spec"]["deployTemplates"][0])) == []


def test_fields_left_empty_are_left_out_of_the_podspec_without_touching_the_template(appimage):
    from webhook.core import podspec

    template = appimage["spec"]["deployTemplates"][0]
    container = template["spec"]["containers"][0]
    container["imagePullPolicy"] = ""
    container["workingDir"] = None
    pod = podspec.pod_spec(template)
    assert "imagePullPolicy" not in pod["containers"][0]
    assert "workingDir" not in pod["containers"][0]
    assert container["imagePullPolicy"] == ""
    assert podspec.checker().errors(pod) == []


def test_integer_quantities_are_accepted(appimage, container):
    container["resources"]["limits"]["cpu"] = 2
    assert errors_of(appimage) == {}


def test_fractional_json_numbers_are_not_quantities_as_for_the_api_server(appimage, container):
    container["resources"]["limits"]["cpu"] = 0.5
    assert errors_of(appimage) == {
        f"{C0}.resources.limits.cpu": "must be an integer or a string, not a number"}


@pytest.mark.parametrize(("asked", "used"), [("1.33", "1.33.0"), ("v1.30.0", "1.30.0"), ("1.37.0", "1.37.0")])
def test_kubernetes_version_may_be_given_as_minor_or_with_a_v(asked, used):
    from webhook.core import podspec

    assert podspec.Checker(asked).version == used


def test_an_unknown_kubernetes_version_is_refused_naming_the_flag():
    from webhook.core import podspec

    with pytest.raises(ValueError, match=r"--kubernetes-version: no PodSpec schema for Kubernetes 1\.99"):
        podspec.Checker("1.99")


# --- Kuscia's own fields and the failures Kuscia meets only at pod start ------------


@pytest.mark.parametrize("number", [0, 1, 8080, 65535])
def test_a_fixed_port_number_is_accepted(appimage, container, number):
    container["ports"][0]["port"] = number
    assert errors_of(appimage) == {}


@pytest.mark.parametrize("number", [-1, 65536])
def test_a_fixed_port_number_is_a_port(appimage, container, number):
    container["ports"][0]["port"] = number
    assert f"{C0}.ports[0].port" in errors_of(appimage)


def test_fixed_port_numbers_are_unique_within_a_pod(appimage, container):
    container["ports"][0]["port"] = 8080
    second = {**container, "name": "sidecar", "ports": [{"name": "other", "port": 8080}]}
    appimage["spec"]["deployTemplates"][0]["spec"]["containers"].append(second)
    errors = errors_of(appimage)
    assert list(errors) == ["spec.deployTemplates[0].spec.containers[1].ports[0].port"]
    assert "duplicate port number in this pod '8080'" in errors[
        "spec.deployTemplates[0].spec.containers[1].ports[0].port"]


def test_the_same_fixed_port_in_two_templates_is_accepted(appimage, container):
    container["ports"][0]["port"] = 8080
    with_roles(appimage, "host", "guest")
    assert errors_of(appimage) == {}


def test_a_metric_probe_on_a_declared_port_is_accepted(appimage, container):
    container["metricProbe"] = {"path": "/metrics", "port": "global"}
    assert errors_of(appimage) == {}


def test_a_metric_probe_on_an_undeclared_port_is_refused_as_kuscia_fails_the_pod(appimage, container):
    container["metricProbe"] = {"path": "/metrics", "port": "metrics"}
    assert "names no port of this pod ('metrics')" in errors_of(appimage)[f"{C0}.metricProbe.port"]


def test_a_metric_probe_without_a_path_is_a_warning_as_kuscia_ignores_it(appimage, container):
    container["metricProbe"] = {"port": "global"}
    assert errors_of(appimage) == {}
    assert "needs both path and port" in warnings_of(appimage)[f"{C0}.metricProbe"]


def network_policy(appimage: dict[str, Any], roles: list[str], ports: list[str]) -> dict[str, Any]:
    appimage["spec"]["deployTemplates"][0]["networkPolicy"] = {
        "ingresses": [{"from": {"roles": roles}, "ports": [{"port": p} for p in ports]}]}
    return appimage


def test_a_network_policy_between_served_roles_and_declared_ports_is_accepted(appimage):
    report = validation.validate(network_policy(appimage, ["server"], ["global"]))
    assert (report.errors, report.warnings[1:]) == ([], [])  # [0]: the image ID


def test_a_network_policy_from_a_role_no_template_serves_is_a_warning(appimage):
    warnings = warnings_of(network_policy(appimage, ["client"], ["global"]))
    assert warnings["spec.deployTemplates[0].networkPolicy.ingresses[0].from.roles[0]"] == (
        "no deploy template serves role 'client'")


def test_a_network_policy_on_an_undeclared_port_is_a_warning(appimage):
    warnings = warnings_of(network_policy(appimage, ["server"], ["admin"]))
    assert warnings["spec.deployTemplates[0].networkPolicy.ingresses[0].ports[0].port"] == (
        "names no port of this pod ('admin')")


def test_a_network_policy_needs_its_ingress_fields(appimage):
    appimage["spec"]["deployTemplates"][0]["networkPolicy"] = {"ingresses": [{"from": {}}]}
    assert errors_of(appimage) == {
        "spec.deployTemplates[0].networkPolicy.ingresses[0].from.roles": "required",
        "spec.deployTemplates[0].networkPolicy.ingresses[0].ports": "required"}


@pytest.mark.parametrize("image_id", ["abc", "sha256:" + "0" * 63, "SHA256:" + "a" * 64])
def test_an_image_id_kuscias_agent_cannot_match_is_a_warning(appimage, image_id):
    appimage["spec"]["image"]["id"] = image_id
    assert "sha256:<64 hex digits>" in warnings_of(appimage)["spec.image.id"]


def test_a_sha256_image_id_is_accepted_without_a_warning(appimage):
    appimage["spec"]["image"]["id"] = "sha256:" + "0123456789abcdef" * 4
    assert "spec.image.id" not in warnings_of(appimage)


def test_two_config_volume_mounts_on_one_path_are_refused(appimage, container):
    container["configVolumeMounts"].append(dict(container["configVolumeMounts"][0]))
    assert "duplicate mountPath" in errors_of(appimage)[f"{C0}.configVolumeMounts[1].mountPath"]


def test_config_volume_mounts_without_config_templates_are_a_warning(appimage, container):
    del appimage["spec"]["configTemplates"]
    warnings = warnings_of(appimage)
    assert warnings[f"{C0}.configVolumeMounts"] == (
        "there are no configTemplates: Kuscia mounts nothing for these")
    assert f"{C0}.configVolumeMounts[0].subPath" not in warnings


def test_kuscias_required_fields_are_required_in_the_custom_resource(appimage, container):
    del container["workingDir"], appimage["spec"]["image"]["tag"]
    del container["configVolumeMounts"][0]["subPath"]
    assert errors_of(appimage) == {f"{C0}.workingDir": "required", "spec.image.tag": "required",
                                   f"{C0}.configVolumeMounts[0].subPath": "required"}


@pytest.mark.parametrize(("field", "value"), [
    pytest.param("securityContext", {"privileged": True}, id="privileged"),
    pytest.param("securityContext", {"runAsUser": 1000, "capabilities": {"add": ["NET_ADMIN"]}},
                 id="capabilities"),
])
def test_a_security_context_is_accepted(appimage, container, field, value):
    container[field] = value
    assert errors_of(appimage) == {}


def test_a_bad_security_context_is_named_with_the_other_errors_at_once(appimage, container):
    container["securityContext"] = {"privileged": "yes", "runAsUser": "root"}
    appimage["metadata"]["name"] = "Bad"
    assert set(errors_of(appimage)) == {"metadata.name", f"{C0}.securityContext.privileged",
                                        f"{C0}.securityContext.runAsUser"}


def test_env_value_from_is_checked_against_kubernetes_schema(appimage, container):
    container["env"].append({"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    container["env"].append({"name": "BAD", "valueFrom": {"fieldRef": {}}})
    assert errors_of(appimage) == {f"{C0}.env[2].valueFrom.fieldRef.fieldPath": "required"}


def test_affinity_is_checked_against_kubernetes_schema(appimage):
    pod = appimage["spec"]["deployTemplates"][0]["spec"]
    pod["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                      "values": ["a"]}]}]}}}
    assert errors_of(appimage) == {}
    pod["affinity"]["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [{}]}
    assert errors_of(appimage) == {
        "spec.deployTemplates[0].spec.affinity.podAffinity"
        ".requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey": "required"}


# --- Config templates as Kuscia's renderer reads them -------------------------------


def test_the_documents_config_template_renders_cleanly(appimage):
    assert not any(paths.format_path(p).startswith("spec.configTemplates")
                   for p, _ in validation.validate(appimage).warnings)


def test_a_config_template_kuscia_cannot_parse_is_refused_with_line_and_column(appimage):
    appimage["spec"]["configTemplates"]["task-config.conf"] = 'a\n  "id": "{{.TASK_ID}"\n'
    message = errors_of(appimage)["spec.configTemplates[task-config.conf]"]
    assert message.startswith("line 2, column 10: ")


def test_an_allocated_port_naming_no_declared_port_is_refused(appimage):
    appimage["spec"]["configTemplates"]["task-config.conf"] = (
        "port: {{{.ALLOCATED_PORTS.ports[name=metrics].port}}}\n")
    assert "metrics" in errors_of(appimage)["spec.configTemplates[task-config.conf]"]


def test_an_allocated_port_naming_a_declared_port_is_accepted(appimage):
    appimage["spec"]["configTemplates"]["task-config.conf"] = (
        "port: {{{.ALLOCATED_PORTS.ports[name=global].port}}}\n")
    assert errors_of(appimage) == {}


def test_a_variable_kuscia_does_not_provide_is_a_warning(appimage):
    appimage["spec"]["configTemplates"]["task-config.conf"] = "x: {{.NOT_A_KUSCIA_VARIABLE}}\n"
    assert errors_of(appimage) == {}
    assert "NOT_A_KUSCIA_VARIABLE" in warnings_of(appimage)["spec.configTemplates[task-config.conf]"]


def test_a_container_env_var_is_a_variable_of_the_templates_it_mounts(appimage):
    appimage["spec"]["configTemplates"]["task-config.conf"] = "x: {{.APP_NAME}}\n"
    assert "spec.configTemplates[task-config.conf]" not in warnings_of(appimage)
