"""One module owns each cloud SDK (ARCHITECTURE.md section 2), so each is faked in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

ROOT = REPO
OWNERS = {
    "boto3": "server/executors/clouds/aws.py",
    "botocore": "server/executors/clouds/aws.py",
    "google": "server/executors/clouds/gcp.py",
}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_only_the_owner_imports_the_sdk(package: str) -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("server", "tools", "evals")
        for path in (ROOT / folder).rglob("*.py")
        if package in _imported_roots(path)
    )
    assert importers == [OWNERS[package]]
