"""The command line (SPEC §6): validate, schema, gen-certs, serve's configuration."""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import subprocess
import sys

import pytest
import yaml
from cryptography import x509

from tests.support import builders
from webhook.app import cli, validate
from webhook.ops import settings


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "webhook", *args], capture_output=True, text=True,
                          timeout=60, check=False, **kw)


def write_yaml(path, *docs):
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def test_version_prints_the_installed_distribution_version():
    done = run("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["appimage-webhook", importlib.metadata.version("appimage-webhook")]


def test_validate_accepts_a_valid_manifest(tmp_path):
    out = io.StringIO()
    assert validate.files([write_yaml(tmp_path / "a.yaml", builders.doc_appimage())], out) == 0
    assert "appimage-template: valid" in out.getvalue()


def test_validate_reads_a_null_field_as_absent_as_the_api_server_does(tmp_path):
    obj = builders.doc_appimage()
    obj["spec"]["image"]["id"] = None
    out = io.StringIO()
    assert validate.files([write_yaml(tmp_path / "a.yaml", obj)], out) == 0, out.getvalue()


def test_validate_lists_every_error_and_exits_1(tmp_path):
    bad = builders.doc_appimage()
    container = bad["spec"]["deployTemplates"][0]["spec"]["containers"][0]
    container["ports"][0]["scope"] = "World"
    container["imagePullPolicy"] = "Sometimes"
    out = io.StringIO()
    assert validate.files([write_yaml(tmp_path / "a.yaml", builders.doc_appimage(), bad)], out) == 1
    text = out.getvalue()
    assert "a.yaml[0] appimage-template: valid" in text
    c0 = "spec.deployTemplates[0].spec.containers[0]"
    assert f"a.yaml[1] appimage-template: error: {c0}.ports[0].scope" in text
    assert "error: spec.deployTemplates[0].spec.containers[0].imagePullPolicy" in text


def test_validate_applies_defaults_first_like_the_webhooks(tmp_path):
    obj = builders.doc_appimage()
    del obj["spec"]["deployTemplates"][0]["replicas"]
    obj["spec"]["deployTemplates"][0]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]
    out = io.StringIO()
    assert validate.files([write_yaml(tmp_path / "a.yaml", obj)], out) == 0
    assert "warning: spec.deployTemplates[0].spec.containers[0].envFrom[0]" in out.getvalue()


def test_validate_skips_other_kinds_and_reads_json(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
    out = io.StringIO()
    assert validate.files([str(path)], out) == 0
    assert "skipped (ConfigMap" in out.getvalue()


def test_validate_reports_an_unreadable_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("a: [")
    out = io.StringIO()
    assert validate.files([str(path), str(tmp_path / "missing.yaml")], out) == 1
    assert "broken.yaml: cannot read" in out.getvalue()
    assert "missing.yaml: cannot read" in out.getvalue()


def test_validate_reads_a_tab_indented_json_rest_body_as_json():
    out = io.StringIO()
    assert validate.files([str(builders.EXAMPLES / "doc_create.json")], out) == 0
    assert "doc_create.json[0] appimage-template (create/update request body): valid" in out.getvalue()


def test_the_examples_hold_a_valid_body_for_every_rest_operation():
    out = io.StringIO()
    assert validate.files(sorted(str(p) for p in builders.EXAMPLES.glob("*.json")), out) == 0
    lines = [line for line in out.getvalue().splitlines() if line.endswith(": valid")]
    kinds = {line.rpartition("(")[2].removesuffix(" request body): valid") for line in lines}
    assert kinds == {"create/update", "query/delete", "batch_query", "list"}


def test_validate_names_rest_fields_in_the_rest_spelling(tmp_path):
    body = builders.doc("create")
    body["deploy_templates"][0]["containers"][0]["ports"][0]["scope"] = "World"
    path = tmp_path / "create.json"
    path.write_text(json.dumps(body))
    out = io.StringIO()
    assert validate.files([str(path)], out) == 1
    assert (f"{path}[0] appimage-template (create/update request body): error: "
            "deploy_templates[0].containers[0].ports[0].scope") in out.getvalue()


def test_validate_refuses_a_json_file_naming_a_key_twice(tmp_path):
    path = tmp_path / "twice.json"
    path.write_text('{"name": "a", "name": "b"}')
    out = io.StringIO()
    assert validate.files([str(path)], out) == 1
    assert out.getvalue() == f'{path}: cannot read: key "name" given twice in one object\n'


def test_validate_says_in_one_line_where_yaml_is_malformed(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("a: [")
    out = io.StringIO()
    assert validate.files([str(path)], out) == 1
    assert out.getvalue().startswith(f"{path}: cannot read: malformed YAML at line 1, column 5: ")
    assert out.getvalue().count("\n") == 1


def test_validate_reads_multi_document_yaml_from_standard_input():
    bad = builders.doc_appimage()
    bad["metadata"]["name"] = "Bad"
    result = run("validate", "-", input=yaml.safe_dump_all([builders.doc_appimage(), bad]))
    assert result.returncode == 1
    assert "-[0] appimage-template: valid" in result.stdout
    assert "-[1] Bad: error: metadata.name" in result.stdout


def test_validate_command_exit_code(tmp_path):
    bad = builders.doc_appimage()
    bad["metadata"]["name"] = "Bad"
    result = run("validate", write_yaml(tmp_path / "bad.yaml", bad))
    assert result.returncode == 1
    assert "error: metadata.name" in result.stdout


def test_schema_prints_the_json_schema():
    result = run("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "AppImage"


def test_schema_crd_prints_a_cluster_scoped_crd():
    result = run("schema", "--crd")
    manifest = yaml.safe_load(result.stdout)
    assert manifest["kind"] == "CustomResourceDefinition"
    assert manifest["spec"]["scope"] == "Cluster"
    assert manifest["spec"]["names"]["shortNames"] == ["aimg"]


def test_gen_certs_writes_the_set_with_the_asked_sans(tmp_path):
    result = run("gen-certs", "--out", str(tmp_path), "--dns", "svc.ns.svc", "--ip", "10.0.0.1")
    assert result.returncode == 0, result.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"}
    cert = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.ns.svc"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]


def test_gen_certs_refuses_to_overwrite_without_force(tmp_path):
    assert run("gen-certs", "--out", str(tmp_path)).returncode == 0
    again = run("gen-certs", "--out", str(tmp_path))
    assert again.returncode == 2
    assert "already exist" in again.stderr
    assert run("gen-certs", "--out", str(tmp_path), "--force").returncode == 0


def test_gen_certs_kuscia_writes_the_layout_the_api_documents_curls_read(tmp_path):
    result = run("gen-certs", "--kuscia", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in tmp_path.iterdir()} == {
        "ca.crt", "ca.key", "kusciaapi-server.crt", "kusciaapi-server.key", "token"}
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o600
    assert len((tmp_path / "token").read_text().strip()) >= 32


def test_gen_certs_kuscia_server_certificate_also_identifies_a_client_on_localhost(tmp_path):
    assert run("gen-certs", "--kuscia", "--out", str(tmp_path)).returncode == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "kusciaapi-server.crt").read_bytes())
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                           x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH}
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]


def parse_serve(argv):
    parser = argparse.ArgumentParser()
    cli._serve_parser(parser.add_subparsers(dest="command"))
    return cli.settings_from(parser.parse_args(["serve", *argv]))


def test_serve_help_shows_each_default():
    result = run("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines anywhere
    for default in ("0.0.0.0:8082", "0.0.0.0:9443", "0.0.0.0:8080", "mtls", "certs",
                    "sqlite:///./appimage.db", "none, no token check", "newest bundled"):
        assert f"(default: {default})" in text


def test_serve_defaults_match_the_spec():
    config = parse_serve([])
    assert (str(config.rest_addr), str(config.webhook_addr), str(config.probe_addr),
            str(config.grpc_addr)) == ("0.0.0.0:8082", "0.0.0.0:9443", "0.0.0.0:8080", "0.0.0.0:8083")
    assert config.tls_mode == "mtls"
    assert config.store == "sqlite:///./appimage.db"
    assert config.token_file is None


def test_connection_limits_have_defaults_and_flags():
    assert (parse_serve([]).idle_timeout, parse_serve([]).handshake_timeout,
            parse_serve([]).max_connections) == (60.0, 10.0, 1000)
    config = parse_serve(["--idle-timeout", "5", "--handshake-timeout", "2",
                          "--max-connections", "50"])
    assert (config.idle_timeout, config.handshake_timeout, config.max_connections) == (5.0, 2.0, 50)


def test_kuscia_links_and_image_policy_have_defaults_and_flags():
    default = parse_serve([])
    assert (default.kuscia_references, default.allowed_registries, default.require_image_digest) == (
        "deny", (), False)
    config = parse_serve(["--kuscia-references", "warn", "--allowed-registries",
                          "registry.example:5000, docker.io/secretflow", "--require-image-digest", "true"])
    assert (config.kuscia_references, config.allowed_registries, config.require_image_digest) == (
        "warn", ("registry.example:5000", "docker.io/secretflow"), True)


def test_serve_flags_are_read_from_appimage_environment_variables(monkeypatch):
    monkeypatch.setenv("APPIMAGE_REST_ADDR", "127.0.0.1:1234")
    monkeypatch.setenv("APPIMAGE_TLS_MODE", "notls")
    config = parse_serve(["--tls-mode", "tls"])
    assert str(config.rest_addr) == "127.0.0.1:1234"
    assert config.tls_mode == "tls"  # the flag wins over the variable


@pytest.mark.parametrize(("argv", "message"), [
    (["--rest-addr", "8082"], "--rest-addr: expected HOST:PORT"),
    (["--store", "postgres://x"], "--store: expected sqlite:///PATH or kubernetes"),
    (["--request-timeout", "soon"], "--request-timeout: expected a number"),
    (["--idle-timeout", "0"], "--idle-timeout: must be positive"),
    (["--handshake-timeout", "-1"], "--handshake-timeout: must be positive"),
    (["--max-connections", "many"], "--max-connections: expected a whole number"),
    (["--max-connections", "0"], "--max-connections: must be at least 1"),
    (["--allowed-registries", "https://registry.example"], "--allowed-registries: 'https://registry"),
    (["--allowed-registries", "registry.example/team/"], "--allowed-registries: 'registry.example/team/'"),
])
def test_bad_serve_configuration_names_the_flag(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_serve(argv)


def test_serve_refuses_bad_configuration_with_exit_2(tmp_path):
    result = run("serve", "--store", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "--store" in result.stderr


def test_settings_refuse_tiny_body_limits():
    with pytest.raises(ValueError, match="--rest-body-limit"):
        settings.Settings(rest_body_limit=10)
