"""The chart as helm renders it, without a cluster: lint, determinism, every object
against Kubernetes' own schemas for the lowest and highest version the chart claims,
the values schema refusing mistakes, and what each mode renders."""

from __future__ import annotations

import argparse
import base64
import pathlib
import subprocess
import sys
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.apiserver import match_conditions
from tests.support.chart import (
    CHART,
    CI_VALUES,
    CUSTOM_KINDS,
    HIGHEST,
    LOWEST,
    NAMESPACE,
    RELEASE,
    Helm,
    HelmError,
    find,
)
from webhook.app import cli
from webhook.core import crd, podspec

# Slow: helm renders every CI values file, and each object is checked for two Kubernetes versions.
pytestmark = pytest.mark.slow

DEFAULT: tuple[pathlib.Path, ...] = ()
CONFIGS = [DEFAULT, *((path,) for path in CI_VALUES)]
CONFIG_IDS = ["default", *(path.name.removesuffix("-values.yaml") for path in CI_VALUES)]
FULLNAME = RELEASE  # the release name contains the chart's name
CLIENT_TEMPLATE = f"{RELEASE}.{NAMESPACE}.svc"


def render(helm: Helm, *values: pathlib.Path, set_: tuple[str, ...] = (),
           kube_version: str | None = None) -> list[dict[str, Any]]:
    return helm.render(*values, set_=set_, kube_version=kube_version)


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "Deployment")


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod = deployment(objects)["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    result: dict[str, Any] = only
    return result


def args(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's ``--flag=value`` arguments as a mapping."""
    flags = [a for a in container(objects)["args"] if a.startswith("--")]
    return dict(a[2:].split("=", 1) for a in flags)


# --- helm itself --------------------------------------------------------------------------


@pytest.mark.parametrize("values", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("kube_version", [LOWEST, HIGHEST])
def test_helm_lint_strict_passes(helm, values, kube_version):
    args_ = ["lint", "--strict", str(CHART), "--namespace", NAMESPACE, "--kube-version", kube_version]
    for path in values:
        args_ += ["--values", str(path)]
    helm.run(*args_)


def test_there_is_a_ci_values_file_per_certificate_mode_and_store():
    modes, stores = set(), set()
    for path in CI_VALUES:
        values = yaml.safe_load(path.read_text())
        modes.add(values.get("certificates", {}).get("mode"))
        stores.add(values.get("store", {}).get("type"))
    assert {"selfManaged", "certManager", "existingSecret"} <= modes
    assert {"kubernetes", "sqlite"} <= stores


@pytest.mark.parametrize("values", CONFIGS, ids=CONFIG_IDS)
def test_rendering_is_identical_every_time(helm, values):
    args_ = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args_ += ["--values", str(path)]
    first, second = helm.run(*args_), helm.run(*args_)  # not the cached render
    assert first == second


@pytest.mark.parametrize("kube_version", ["1.24.9", "1.38.0"])
def test_kubernetes_versions_outside_the_claimed_range_are_refused(helm, kube_version):
    with pytest.raises(HelmError, match="kubeVersion"):
        helm.template(kube_version=kube_version)


# --- Kubernetes' schemas --------------------------------------------------------------------


@pytest.mark.parametrize("values", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("kube_version", [LOWEST, HIGHEST])
def test_every_built_in_object_passes_kubernetes_validate_strictly(helm, values, kube_version):
    checked = 0
    for obj in render(helm, *values, kube_version=kube_version):
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{where} on Kubernetes {kube_version}: {e.message} at {list(e.absolute_path)}")
        except kubernetes_validate.utils.SchemaNotFoundError as e:
            pytest.fail(f"{where}: {e.message}")
        checked += 1
    assert checked >= 8


# --- the service accepts what the chart runs -------------------------------------------------


@pytest.mark.parametrize("values", CONFIGS, ids=CONFIG_IDS)
def test_the_deployments_command_line_is_one_serve_accepts(helm, values):
    c = container(render(helm, *values))
    assert c["command"] == ["appimage-webhook"]  # the console script of pyproject.toml
    assert c["args"][0] == "serve"
    parser = argparse.ArgumentParser()
    cli._serve_parser(parser.add_subparsers(dest="command"))
    config = cli.settings_from(parser.parse_args(c["args"]))  # ValueError names a bad flag
    podspec.checker(config.kubernetes_version or None)
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    for path in (config.cert_dir, config.token_file, config.client_ca_file):
        if path is not None:
            assert str(path if path == config.cert_dir else path.parent) in mounts, path
    if config.store.startswith("sqlite:///"):
        assert str(pathlib.Path(config.sqlite_path).parent) in mounts


def test_a_kubernetes_version_the_service_would_refuse_is_refused_by_the_schema(helm):
    assert "at '/kubernetesVersion'" in refused(helm, "kubernetesVersion=1.33")


# --- the CRD ------------------------------------------------------------------------------


def test_the_charts_crd_file_is_the_generators_output():
    generated = subprocess.run([sys.executable, "-m", "webhook", "schema", "--crd"],
                               capture_output=True, text=True, check=True).stdout
    assert (CHART / "files" / "crd.yaml").read_text() == generated, (
        "charts/appimage-webhook/files/crd.yaml is stale: "
        "python -m webhook schema --crd > charts/appimage-webhook/files/crd.yaml")


def test_the_rendered_crd_is_the_generated_one_kept_on_uninstall(helm):
    rendered = find(render(helm), "CustomResourceDefinition")
    metadata = rendered.pop("metadata")
    expected = crd.manifest()
    assert metadata["name"] == expected.pop("metadata")["name"]
    assert rendered == expected
    assert metadata["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert metadata["labels"]["app.kubernetes.io/name"] == "appimage-webhook"


def test_the_crd_is_left_out_when_not_installed(helm):
    kinds = {o["kind"] for o in render(helm, set_=("crd.install=false",))}
    assert "CustomResourceDefinition" not in kinds


# --- the values schema ----------------------------------------------------------------------


def refused(helm: Helm, *assignments: str) -> str:
    """helm template's complaint about values the schema refuses."""
    with pytest.raises(HelmError, match="values don't meet the specifications of the schema") as e:
        helm.template(set_=assignments)
    return str(e.value)


@pytest.mark.parametrize(("assignment", "where"), [
    ("replicaCont=2", "at '': additional properties 'replicaCont'"),
    ("webhook.failurePolicyy=Fail", "at '/webhook': additional properties 'failurePolicyy'"),
    ("certificates.selfManaged.secret=x", "at '/certificates/selfManaged': additional properties 'secret'"),
    ("rest.token.name=x", "at '/rest/token': additional properties 'name'"),
    ("service.port=443", "at '/service': additional properties 'port'"),
    ("store.sqlite.sizee=1Gi", "at '/store/sqlite': additional properties 'sizee'"),
], ids=lambda a: a.split("=")[0] if "=" in a else "")
def test_the_values_schema_refuses_typos(helm, assignment, where):
    assert where in refused(helm, assignment)


@pytest.mark.parametrize(("assignment", "where"), [
    ("certificates.mode=selfSigned", "/certificates/mode"),
    ("store.type=postgres", "/store/type"),
    ("rest.tlsMode=notls", "/rest/tlsMode"),
    ("webhook.failurePolicy=fail", "/webhook/failurePolicy"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ("logLevel=TRACE", "/logLevel"),
    ("podDisruptionBudget.maxUnavailable=half", "/podDisruptionBudget/maxUnavailable"),
    ("kuscia.references=strict", "/kuscia/references"),
    ("kuscia.workloads.failurePolicy=ignore", "/kuscia/workloads/failurePolicy"),
    ('imagePolicy.allowedRegistries=["https://registry.example"]', "/imagePolicy/allowedRegistries/0"),
], ids=lambda a: a.split("=")[0] if "=" in a else "")
def test_the_values_schema_refuses_bad_enums(helm, assignment, where):
    assert f"at '{where}'" in refused(helm, assignment)


@pytest.mark.parametrize(("assignments", "complaint"), [
    (("webhook.timeoutSeconds=0",), "at '/webhook/timeoutSeconds': minimum: got 0, want 1"),
    (("webhook.timeoutSeconds=31",), "at '/webhook/timeoutSeconds': maximum: got 31, want 30"),
    (("replicaCount=0",), "at '/replicaCount': minimum: got 0, want 1"),
    (("store.type=sqlite", "replicaCount=2"), "at '/replicaCount': maximum: got 2, want 1"),
    (("service.restPort=70000",), "at '/service/restPort': maximum: got 70,000, want 65,535"),
    (("certificates.checkInterval=0",), "at '/certificates/checkInterval': exclusiveMinimum"),
    (("shutdownDelay=-1",), "at '/shutdownDelay': minimum: got -1, want 0"),
    (("podSecurityContext.runAsUser=0",), "at '/podSecurityContext/runAsUser'"),
], ids=lambda a: ",".join(a) if isinstance(a, tuple) else "")
def test_the_values_schema_refuses_out_of_range_numbers(helm, assignments, complaint):
    assert complaint in refused(helm, *assignments)


def test_two_sqlite_replicas_are_refused_but_two_kubernetes_ones_are_not(helm):
    refused(helm, "store.type=sqlite", "replicaCount=2")
    helm.template(set_=("store.type=kubernetes", "replicaCount=2"))


def test_existing_secret_mode_needs_a_secret_and_its_ca(helm):
    complaint = refused(helm, "certificates.mode=existingSecret")
    assert "/certificates/existingSecret/name': minLength" in complaint
    assert "/certificates/existingSecret/caBundle': minLength" in complaint


# --- what the defaults render ---------------------------------------------------------------


def appimage_rule(*operations: str) -> list[dict[str, Any]]:
    return [{"apiGroups": ["kuscia.secretflow"], "apiVersions": ["v1alpha1"], "resources": ["appimages"],
             "scope": "Cluster", "operations": list(operations)}]


WORKLOAD_RULES = [{"apiGroups": ["kuscia.secretflow"], "apiVersions": ["v1alpha1"],
                   "resources": ["kusciajobs", "kusciatasks", "kusciadeployments"], "scope": "Namespaced",
                   "operations": ["CREATE", "UPDATE"]}]


WORKLOAD_READS = {"apiGroups": ["kuscia.secretflow"], "verbs": ["get", "list", "watch"],
                  "resources": ["kusciajobs", "kusciatasks", "kusciadeployments"]}
"""What the service reads of Kuscia's workloads: which run an AppImage."""


def hooks(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {hook["name"]: hook for hook in find(objects, kind, FULLNAME)["webhooks"]}


def test_the_webhooks_send_appimage_writes_with_the_values_policy(helm):
    objects = render(helm, set_=("webhook.timeoutSeconds=7", "webhook.failurePolicy=Ignore"))
    for kind, path, operations in (
            ("MutatingWebhookConfiguration", "/mutate", ("CREATE", "UPDATE")),
            ("ValidatingWebhookConfiguration", "/validate", ("CREATE", "UPDATE", "DELETE"))):
        hook = hooks(objects, kind)[f"{path[1:]}.appimages.kuscia.secretflow"]
        assert hook["rules"] == appimage_rule(*operations)
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["matchPolicy"] == "Equivalent"
        assert (hook["timeoutSeconds"], hook["failurePolicy"]) == (7, "Ignore")
        assert hook["clientConfig"] == {"service": {
            "name": FULLNAME, "namespace": NAMESPACE, "path": path, "port": 443}}


def test_kuscias_workloads_go_to_a_validating_webhook_of_their_own_that_ignores_failures(helm):
    objects = render(helm, set_=("webhook.timeoutSeconds=7",))
    hook = hooks(objects, "ValidatingWebhookConfiguration")["validate.workloads.kuscia.secretflow"]
    assert hook["rules"] == WORKLOAD_RULES
    assert (hook["timeoutSeconds"], hook["failurePolicy"]) == (7, "Ignore")
    assert hook["clientConfig"] == {"service": {
        "name": FULLNAME, "namespace": NAMESPACE, "path": "/validate", "port": 443}}
    assert args(objects)["kuscia-references"] == "deny"
    assert WORKLOAD_READS in rules(objects, "ClusterRole")


def test_the_workloads_failure_policy_is_its_own_value(helm):
    objects = render(helm, set_=("kuscia.workloads.failurePolicy=Fail", "webhook.failurePolicy=Ignore"))
    validating = hooks(objects, "ValidatingWebhookConfiguration")
    assert validating["validate.workloads.kuscia.secretflow"]["failurePolicy"] == "Fail"
    assert validating["validate.appimages.kuscia.secretflow"]["failurePolicy"] == "Ignore"


def test_without_workloads_the_appimage_delete_is_still_guarded(helm):
    objects = render(helm, set_=("kuscia.workloads.enabled=false",))
    validating = hooks(objects, "ValidatingWebhookConfiguration")
    assert list(validating) == ["validate.appimages.kuscia.secretflow"]
    assert validating["validate.appimages.kuscia.secretflow"]["rules"] == appimage_rule(
        "CREATE", "UPDATE", "DELETE")


@pytest.mark.parametrize(("values", "setting"), [((), ("kuscia.references=off",)),
                                                  ((CHART / "ci" / "sqlite-store-values.yaml",), ())],
                         ids=["references-off", "sqlite"])
def test_where_no_link_is_guarded_only_appimage_create_and_update_are_sent(helm, values, setting):
    objects = render(helm, *values, set_=setting)
    validating = hooks(objects, "ValidatingWebhookConfiguration")
    assert list(validating) == ["validate.appimages.kuscia.secretflow"]
    assert validating["validate.appimages.kuscia.secretflow"]["rules"] == appimage_rule("CREATE", "UPDATE")
    assert not [r for r in rules(objects, "ClusterRole") if "kusciajobs" in r["resources"]]


def test_the_image_policy_values_become_flags(helm):
    registries = 'imagePolicy.allowedRegistries=["registry.example:5000","docker.io/secretflow"]'
    objects = render(helm, set_=(registries, "imagePolicy.requireDigest=true", "kuscia.references=warn"))
    flags = args(objects)
    assert flags["allowed-registries"] == "registry.example:5000,docker.io/secretflow"
    assert flags["require-image-digest"] == "true"
    assert flags["kuscia-references"] == "warn"
    assert "allowed-registries" not in args(render(helm))


def test_every_webhook_carries_the_match_conditions_the_e2e_tests_register(helm):
    conditions = match_conditions()
    objects = render(helm)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for name, hook in hooks(objects, kind).items():
            which = "workloads" if name.endswith(".workloads.kuscia.secretflow") else "appimages"
            assert hook["matchConditions"] == conditions[which], name


def test_before_kubernetes_1_28_the_webhooks_carry_no_match_conditions(helm):
    objects = render(helm, kube_version="1.27.0")
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert all("matchConditions" not in hook for hook in hooks(objects, kind).values())


def test_validating_only_installs_no_mutating_webhook(helm):
    objects = render(helm, set_=("webhook.mutating=false",))
    assert not [o for o in objects if o["kind"] == "MutatingWebhookConfiguration"]
    assert set(hooks(objects, "ValidatingWebhookConfiguration")) == {
        "validate.appimages.kuscia.secretflow", "validate.workloads.kuscia.secretflow"}


def test_webhook_defaults_are_fail_and_five_seconds(helm):
    hook = find(render(helm), "ValidatingWebhookConfiguration")["webhooks"][0]
    assert (hook["timeoutSeconds"], hook["failurePolicy"]) == (5, "Fail")


def test_a_webhook_url_replaces_the_service(helm):
    objects = render(helm, set_=("webhook.url=https://127.0.0.1:9443",))
    hook = find(objects, "MutatingWebhookConfiguration")["webhooks"][0]
    assert hook["clientConfig"] == {"url": "https://127.0.0.1:9443/mutate"}


def test_the_pod_runs_restricted(helm):
    objects = render(helm)
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                      "fsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container(objects)["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "privileged": False, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}}


def test_probes_are_on_the_probe_port(helm):
    c = container(render(helm))
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probe"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probe"}
    assert {"name": "probe", "containerPort": 8080, "protocol": "TCP"} in c["ports"]


def test_the_service_exposes_rest_grpc_webhook_and_metrics(helm):
    ports = {p["name"]: (p["port"], p["targetPort"], p["appProtocol"])
             for p in find(render(helm), "Service")["spec"]["ports"]}
    assert ports == {"rest": (8082, "rest", "https"), "grpc": (8083, "grpc", "grpc"),
                     "webhook": (443, "webhook", "https"), "metrics": (8080, "probe", "http")}


def test_the_grpc_listener_gets_its_address_and_container_port(helm):
    objects = render(helm, set_=("service.grpcPort=18083",))
    assert args(objects)["grpc-addr"] == "0.0.0.0:8083"
    assert {"name": "grpc", "containerPort": 8083, "protocol": "TCP"} in container(objects)["ports"]
    service_ports = {p["name"]: p["port"] for p in find(objects, "Service")["spec"]["ports"]}
    assert service_ports["grpc"] == 18083


@pytest.mark.parametrize(("store", "replicas", "strategy"), [
    ("kubernetes", 2, "RollingUpdate"), ("sqlite", 1, "Recreate")])
def test_replicas_follow_the_store(helm, store, replicas, strategy):
    objects = render(helm, set_=(f"store.type={store}",))
    spec = deployment(objects)["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (replicas, strategy)
    claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert len(claims) == (store == "sqlite")
    if claims:
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claims[0]["metadata"]["name"]
        assert args(objects)["store"] == "sqlite:////var/lib/appimage-webhook/appimage.db"
    else:
        assert args(objects)["store"] == "kubernetes"


def test_pods_spread_over_nodes_and_zones_and_a_budget_keeps_one(helm):
    objects = render(helm)
    constraints = deployment(objects)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    selector = deployment(objects)["spec"]["selector"]
    assert [c["topologyKey"] for c in constraints] == [
        "kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert all(c["labelSelector"] == selector for c in constraints)
    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": selector}


def test_every_object_has_the_recommended_labels(helm):
    for obj in render(helm, CHART / "ci" / "extras-values.yaml"):
        labels = obj["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"


# --- RBAC: only what the store and the certificate mode need ------------------------------


def rules(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    found = [o for o in objects if o["kind"] == kind]
    return found[0]["rules"] if found else []


def test_rbac_for_the_kubernetes_store_and_self_managed_certificates(helm):
    objects = render(helm)
    secret = f"{FULLNAME}-certs"
    assert rules(objects, "ClusterRole") == [
        {"apiGroups": ["kuscia.secretflow"], "resources": ["appimages"],
         "verbs": ["get", "list", "watch", "create", "update", "delete"]},
        WORKLOAD_READS,
        {"apiGroups": ["admissionregistration.k8s.io"],
         "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
         "resourceNames": [FULLNAME], "verbs": ["get", "update"]},
    ]
    assert rules(objects, "Role") == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get", "update"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    assert args(objects)["cert-secret"] == f"{NAMESPACE}/{secret}"
    assert args(objects)["webhook-config-name"] == FULLNAME
    assert args(objects)["cert-dns-name"].split(",") == [
        FULLNAME, f"{FULLNAME}.{NAMESPACE}", f"{FULLNAME}.{NAMESPACE}.svc",
        f"{FULLNAME}.{NAMESPACE}.svc.cluster.local"]


def test_rbac_without_the_links_neither_watches_appimages_nor_reads_workloads(helm):
    objects = render(helm, set_=("kuscia.references=off",))
    assert rules(objects, "ClusterRole")[0] == {
        "apiGroups": ["kuscia.secretflow"], "resources": ["appimages"],
        "verbs": ["get", "list", "create", "update", "delete"]}
    assert WORKLOAD_READS not in rules(objects, "ClusterRole")


def test_rbac_for_the_kubernetes_store_with_cert_manager(helm):
    objects = render(helm, CHART / "ci" / "cert-manager-values.yaml")
    assert rules(objects, "ClusterRole") == [
        {"apiGroups": ["kuscia.secretflow"], "resources": ["appimages"],
         "verbs": ["get", "list", "watch", "create", "update", "delete"]}, WORKLOAD_READS]
    assert rules(objects, "Role") == []


def test_sqlite_with_cert_manager_gets_no_api_access_and_no_token(helm):
    objects = render(helm, CHART / "ci" / "sqlite-store-values.yaml")
    rbac = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")
    assert not [o for o in objects if o["kind"] in rbac]
    assert deployment(objects)["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert find(objects, "ServiceAccount")["automountServiceAccountToken"] is False


# --- certificate modes ----------------------------------------------------------------------


def cert_volume(objects: list[dict[str, Any]]) -> dict[str, Any]:
    volumes = {v["name"]: v for v in deployment(objects)["spec"]["template"]["spec"]["volumes"]}
    result: dict[str, Any] = volumes["certs"]
    return result


def test_self_managed_certificates_are_written_to_a_memory_volume(helm):
    objects = render(helm)
    assert cert_volume(objects)["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Mi"}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        hook = find(objects, kind)
        assert "caBundle" not in hook["webhooks"][0]["clientConfig"]  # the service fills it
        assert "annotations" not in hook["metadata"]


def test_cert_manager_makes_the_certificate_and_injects_the_ca(helm):
    objects = render(helm, CHART / "ci" / "cert-manager-values.yaml")
    certificate = find(objects, "Certificate", f"{FULLNAME}-tls")
    assert certificate["spec"]["secretName"] == f"{FULLNAME}-tls"
    assert f"{FULLNAME}.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"] == {"name": f"{FULLNAME}-ca", "kind": "Issuer",
                                                "group": "cert-manager.io"}
    assert find(objects, "Issuer", f"{FULLNAME}-ca")["spec"] == {"ca": {"secretName": f"{FULLNAME}-ca"}}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        annotations = find(objects, kind)["metadata"]["annotations"]
        assert annotations == {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/{FULLNAME}-tls"}
    assert cert_volume(objects)["secret"]["secretName"] == f"{FULLNAME}-tls"
    assert "cert-secret" not in args(objects)


def test_cert_manager_with_a_cluster_issuer_makes_no_issuer(helm):
    objects = render(helm, CHART / "ci" / "cert-manager-issuer-values.yaml")
    assert not [o for o in objects if o["kind"] == "Issuer"]
    assert find(objects, "Certificate")["spec"]["issuerRef"] == {
        "name": "cluster-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_an_existing_secret_is_mounted_and_its_ca_is_the_ca_bundle(helm):
    values = CHART / "ci" / "existing-secret-values.yaml"
    objects = render(helm, values)
    ca_bundle = yaml.safe_load(values.read_text())["certificates"]["existingSecret"]["caBundle"]
    base64.b64decode(ca_bundle, validate=True)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert find(objects, kind)["webhooks"][0]["clientConfig"]["caBundle"] == ca_bundle
    volume = cert_volume(objects)["secret"]
    assert volume["secretName"] == "appimage-webhook-tls"
    assert volume["items"] == [{"key": "tls.crt", "path": "server.crt"},
                               {"key": "tls.key", "path": "server.key"},
                               {"key": "ca.crt", "path": "ca.crt"}]


# --- REST, network policy, monitoring -------------------------------------------------------


def test_rest_token_and_client_ca_come_from_secrets(helm):
    objects = render(helm, CHART / "ci" / "extras-values.yaml")
    flags = args(objects)
    assert flags["token-file"] == "/etc/appimage-webhook/token/token"
    assert flags["client-ca-file"] == "/etc/appimage-webhook/client-ca/ca.crt"
    volumes = {v["name"]: v for v in deployment(objects)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["token"]["secret"]["secretName"] == "kuscia-api-token"
    assert volumes["client-ca"]["secret"]["secretName"] == "kuscia-api-client-ca"


def test_rest_tls_mode_is_passed_and_no_client_ca_without_mtls(helm):
    objects = render(helm, set_=("rest.tlsMode=tls", "rest.clientCA.secretName=ca"))
    assert args(objects)["tls-mode"] == "tls"
    assert "client-ca-file" not in args(objects)


def test_network_policy_lets_anyone_call_the_webhook_and_named_peers_rest_and_grpc(helm):
    policy = find(render(helm, CHART / "ci" / "extras-values.yaml"), "NetworkPolicy")
    webhook, rest, metrics = policy["spec"]["ingress"]
    assert webhook == {"ports": [{"port": "webhook", "protocol": "TCP"}]}
    assert rest["from"] == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kuscia-system"}}}]
    assert rest["ports"] == [{"port": "rest", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]
    assert metrics["ports"] == [{"port": "probe", "protocol": "TCP"}]


def test_service_monitor_scrapes_the_metrics_port(helm):
    monitor = find(render(helm, CHART / "ci" / "extras-values.yaml"), "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "scheme": "http",
                                             "interval": "30s"}]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_optional_objects_are_off_by_default(helm):
    kinds = {o["kind"] for o in render(helm)}
    assert not kinds & {"NetworkPolicy", "ServiceMonitor", "Issuer", "Certificate", "PersistentVolumeClaim"}


def test_the_helm_test_pod_checks_the_webhook_over_tls_with_the_charts_ca(helm):
    objects = render(helm)
    pod = find(objects, "Pod", f"{FULLNAME}-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["volumes"][0]["secret"]["secretName"] == f"{FULLNAME}-certs"
    script = pod["spec"]["containers"][0]["args"][0]
    assert CLIENT_TEMPLATE in script
    compile(script, "helm-test", "exec")  # the Python it runs at least parses


def test_the_image_defaults_to_the_charts_app_version(helm):
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert container(render(helm))["image"] == f"secretflow/appimage-webhook:{app_version}"


# --- documentation ----------------------------------------------------------------------


def _leaves(values: dict[str, Any], prefix: str = "") -> set[str]:
    leaves: set[str] = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "resources":
            leaves |= _leaves(value, f"{path}.")
        else:
            leaves.add(path)
    return leaves


def _documented() -> set[str]:
    """Value names in the README's values table (``a.b``, ``.c`` meaning ``a.c``)."""
    readme = (CHART.parents[1] / "README.md").read_text()
    table = readme.split("## Install with Helm", 1)[1].split("| value | default | meaning |", 1)[1]
    names: set[str] = set()
    for row in table.split("\n\n", 1)[0].strip().splitlines()[1:]:
        first = row.split("|")[1]
        items = [item.strip().strip("`") for item in first.split(",")]
        stem = items[0].rsplit(".", 1)[0]
        names |= {f"{stem}{item}" if item.startswith(".") else item for item in items}
    return names


def test_the_readme_documents_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _leaves(values) == _documented()
