"""Every target module is fmt-clean, Terraform 1.0 compatible and has the same interface."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from paybill.server.executors.terraform.cli import Terraform, modules_root

TARGETS = ["local", "aws", "gcp", "azure", "oci", "ibm"]
INPUTS = {"tenant_id", "tenant_slug", "tier", "isolation", "region", "tags"}
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
