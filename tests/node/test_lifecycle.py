"""The rest of a release's life on the node: the namespace's restricted Pod Security
Standard admits our Pods (and is really enforced), ``helm test`` passes, and ``helm
uninstall`` leaves the CRD (``helm.sh/resource-policy: keep``) and nothing of the chart
(only the self-managed certificates' Secret, which the service made, as NOTES.txt says).
"""

from __future__ import annotations

import json

import pytest

from tests.support.k8s import node as node_
from tests.support.release import (
    NAMESPACE,
    RELEASE,
    Helm,
    await_service_routes,
    delete_appimages,
    pods,
    until,
)

pytestmark = [pytest.mark.node, pytest.mark.slow]

CRD = "appimages.kuscia.secretflow"
# What the chart can make, namespaced or not; `helm uninstall` must take all of it.
KINDS = ("deployments,replicasets,pods,services,endpointslices,serviceaccounts,secrets,"
         "configmaps,roles,rolebindings,poddisruptionbudgets,networkpolicies,"
         "persistentvolumeclaims")
CLUSTER_KINDS = ("clusterroles,clusterrolebindings,mutatingwebhookconfigurations,"
                 "validatingwebhookconfigurations,customresourcedefinitions")


def _names(cluster: node_.Node, kinds: str, *namespace: str) -> set[str]:
    got = json.loads(cluster.kubectl("get", kinds, *namespace, "-l",
                                     f"app.kubernetes.io/instance={RELEASE}", "-o", "json").stdout)
    return {f"{o['kind']}/{o['metadata']['name']}" for o in got["items"]}


def test_the_restricted_standard_is_enforced_and_admits_our_pods(
        cluster: node_.Node, helm: Helm, namespace: str) -> None:
    labels = json.loads(cluster.kubectl("get", "namespace", NAMESPACE, "-o", "json").stdout)[
        "metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # A Pod with no security context at all: fine under baseline, not under restricted.
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain", "namespace": NAMESPACE},
             "spec": {"containers": [{"name": "c", "image": "x"}]}}
    refused = cluster.kubectl("create", "--dry-run=server", "-f", "-", check=False,
                              input_=json.dumps(plain))
    assert "violates PodSecurity" in refused.stderr, refused.stderr

    helm.install("lifecycle", {})

    assert len(pods(cluster, include_terminating=False)) == 2  # admitted, and Ready (--wait)


def test_helm_test_passes(cluster: node_.Node, helm: Helm) -> None:
    await_service_routes(cluster)
    done = cluster.run([str(helm.binary), "test", RELEASE, "--namespace", NAMESPACE,
                        "--timeout", "120s"], check=False, timeout=180)
    # A failed test Pod stays (hook-delete-policy hook-succeeded): its log says why.
    logs = "" if done.returncode == 0 else cluster.kubectl(
        "logs", "-n", NAMESPACE, f"{RELEASE}-test", check=False).stdout
    assert done.returncode == 0, f"{done.stderr}\n{logs}"
    assert "Phase:          Succeeded" in done.stdout, done.stdout


def test_helm_uninstall_leaves_the_crd_and_nothing_of_the_chart(
        cluster: node_.Node, helm: Helm) -> None:
    delete_appimages(cluster)

    helm.uninstall()

    until("the release's Pods gone", lambda: not pods(cluster), timeout=90)
    assert _names(cluster, KINDS, "--all-namespaces") == set()
    assert _names(cluster, CLUSTER_KINDS) == {f"CustomResourceDefinition/{CRD}"}
    assert cluster.kubectl("get", "crd", CRD).returncode == 0
    # Not the chart's: the self-managed mode's CA and certificate, which the service made
    # at run time and NOTES.txt says uninstall keeps (a reinstall keeps its CA).
    secrets = cluster.kubectl("get", "secrets", "-n", NAMESPACE, "-o", "name").stdout.split()
    assert secrets == [f"secret/{RELEASE}-certs"]
