"""The offline Terraform from the dev extra (ARCHITECTURE.md section 9)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from paybill.server.provisioners.terraform import Terraform

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def terraform() -> Terraform:
    binary = VENV_BIN / "terraform"
    configured = Path(os.environ.get("TF_CLI_CONFIG_FILE", "/nonexistent"))
    config = configured if configured.exists() else VENV_BIN.parent / "terraformrc"
    if not binary.exists() or not config.exists():
        pytest.fail(
            "offline Terraform missing: pip install -e '.[dev]', then "
            "bash scripts/terraform-mirror.sh",
            pytrace=False,
        )
    return Terraform(str(binary), config)
