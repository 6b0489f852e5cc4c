"""The import contracts in pyproject.toml ([tool.importlinter]) hold: layers, no evals or tests
in the server, one owner per external library (so each SDK is faked in one place).

scripts/test.sh runs lint-imports before pytest; this test makes a bare pytest run check them
too, with the contracts defined once, in pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_contract_is_kept() -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_cloud_sdk_has_one_owner() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    owners = {
        module: contract["allowed_importers"]
        for contract in config["contracts"]
        if contract["type"] == "protected"
        for module in contract["protected_modules"]
    }
    assert owners["boto3"] == owners["botocore"] == ["paybill.server.executors.clouds.aws"]
    assert owners["google"] == ["paybill.server.executors.clouds.gcp"]
