"""Every target module is fmt-clean, Terraform 1.0 compatible and has the same interface."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from paybill.server.executors.terraform.cli import Terraform, modules_root

TARGETS = ["local", "aws", "gcp", "azure", "oci", "ibm"]
INPUTS = {
    "tenant_id",
    "tenant_slug",
    "tier",
    "isolation",
    "region",
    "tags",
    "account",
    "platform",
    "deletion_protection",
}
OUTPUTS = {"endpoint", "connection", "resource_ids"}
FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"}
NEWER_THAN_1_0 = ("terraform_data", "optional(", "check {", "import {", "removed {")


def _unquote(value: object) -> object:
    """python-hcl2 8 keeps the quotes of string literals and names."""
    if isinstance(value, str):
        return value.strip('"')
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _load(target: str, name: str) -> dict:
    with (modules_root() / target / name).open() as handle:
        return _unquote(hcl2.load(handle))


def _interface(target: str) -> tuple[dict, set[str]]:
    variables = {}
    for block in _load(target, "variables.tf")["variable"]:
        ((name, body),) = block.items()
        variables[name] = (body["type"], "description" in body)
    outputs = {name for block in _load(target, "outputs.tf")["output"] for name in block}
    return variables, outputs


def test_all_targets_exist_with_the_standard_files() -> None:
    assert sorted(p.name for p in modules_root().iterdir() if p.is_dir()) == sorted(TARGETS)
    for target in TARGETS:
        assert {p.name for p in (modules_root() / target).iterdir()} >= FILES


@pytest.mark.parametrize("target", TARGETS)
def test_interface_is_identical(target: str) -> None:
    variables, outputs = _interface(target)
    reference, reference_outputs = _interface("local")
    assert set(variables) == INPUTS
    assert variables == reference
    assert all(described for _, described in variables.values())
    assert outputs == reference_outputs == OUTPUTS


@pytest.mark.parametrize("target", TARGETS)
def test_terraform_1_0_compatible(target: str) -> None:
    versions = _load(target, "versions.tf")["terraform"][0]
    assert versions["required_version"] == ">= 1.0"
    for path in (modules_root() / target).glob("*.tf"):
        text = path.read_text()
        assert not [word for word in NEWER_THAN_1_0 if word in text], path


def test_fmt_clean(terraform: Terraform, tmp_path: Path) -> None:
    terraform.run(modules_root(), "fmt", "-check", "-recursive", "-no-color")


def test_local_module_validates(terraform: Terraform, tmp_path: Path) -> None:
    for path in (modules_root() / "local").glob("*.tf"):
        (tmp_path / path.name).write_text(path.read_text())
    terraform.run(tmp_path, "init", "-input=false", "-no-color", "-backend=false")
    assert "Success" in terraform.run(tmp_path, "validate", "-no-color")


# Resource types with nothing to tag (their parent carries the tags) or tagged elsewhere.
UNTAGGABLE = {
    "aws_iam_role_policy",
    "google_sql_database",
    "azurerm_postgresql_flexible_server_database",
}
TAGS = ("tags", "labels", "freeform_tags", "triggers")
CLOUDS = [target for target in TARGETS if target != "local"]
LITERAL_SECRET = re.compile(
    r'\b(password|content|secret_string|api_key|private_key)\s*=\s*"|base64encode\("'
)
LITERAL_ID = re.compile(r'\b\w+_id\s*=\s*"')  # an id attribute given a made-up string
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _resources(target: str) -> list[tuple[str, str, dict]]:
    found = []
    for path in (modules_root() / target).glob("*.tf"):
        with path.open() as handle:
            for block in _unquote(hcl2.load(handle)).get("resource", []):
                for kind, named in block.items():
                    found += [(kind, name, body) for name, body in named.items()]
    return found


@pytest.mark.parametrize("target", TARGETS)
def test_every_taggable_resource_carries_the_tenant_tags(target: str) -> None:
    for kind, name, body in _resources(target):
        if kind in UNTAGGABLE:
            continue
        if kind == "google_sql_database_instance":
            body = body["settings"][0]
            assert "local.labels" in str(body["user_labels"]), f"{kind}.{name}"
            continue
        tagged = [str(body[key]) for key in TAGS if key in body]
        assert tagged and "local." in tagged[0], f"{kind}.{name} is not tagged"


@pytest.mark.parametrize("target", CLOUDS)
def test_no_literal_secrets_or_made_up_ids(target: str) -> None:
    for path in (modules_root() / target).glob("*.tf"):
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert not LITERAL_SECRET.findall(code), path
        assert not LITERAL_ID.findall(code), path


@pytest.mark.parametrize("target", CLOUDS)
def test_every_scanner_suppression_gives_its_reason(target: str) -> None:
    for path in (modules_root() / target).glob("*.tf"):
        for check, reason in SKIP.findall(path.read_text()):
            assert len(reason.strip()) >= 20, f"{path.name}: {check} has no reason"


def test_silo_data_stores_are_encrypted_and_protected_from_deletion() -> None:
    stores = {kind: body for kind, _, body in _resources("aws") + _resources("gcp")}
    rds, cloud_sql = stores["aws_db_instance"], stores["google_sql_database_instance"]
    protected = "${var.deletion_protection}"  # true unless offboarding's deletion lifts it
    assert rds["storage_encrypted"] is True and rds["deletion_protection"] == protected
    assert rds["skip_final_snapshot"] is False and rds["publicly_accessible"] is False
    assert cloud_sql["deletion_protection"] == protected
    assert cloud_sql["settings"][0]["deletion_protection_enabled"] == protected
    for target in TARGETS:
        variables = {
            name: body
            for b in _load(target, "variables.tf")["variable"]
            for name, body in b.items()
        }
        assert variables["deletion_protection"]["default"] is True


def test_an_archived_gcp_instance_is_not_started_again_by_an_apply() -> None:
    (instance,) = [b for k, _, b in _resources("gcp") if k == "google_sql_database_instance"]
    assert "settings[0].activation_policy" in str(instance["lifecycle"][0]["ignore_changes"])


def test_gcp_creates_nothing_project_level() -> None:
    kinds = [kind for kind, _, _ in _resources("gcp")]
    assert kinds and not [kind for kind in kinds if kind.startswith("google_project")]


def test_the_pooled_aws_role_connects_as_the_tenants_db_user_only() -> None:
    (policy,) = [body for kind, _, body in _resources("aws") if kind == "aws_iam_role_policy"]
    text = str(policy["policy"])
    assert "rds-db:connect" in text and "dbuser:%s/%s" in text and "local.db_user" in text
    assert '"*"' not in text and "Resource = *" not in text


def test_the_ibm_bridge_credentials_hold_the_least_platform_role() -> None:
    # Editor on a Cloud Databases instance may scale it and manage its credentials.
    (key,) = [body for kind, _, body in _resources("ibm") if kind == "ibm_resource_key"]
    assert key["role"] == "Viewer"
