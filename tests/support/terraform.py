"""The offline Terraform from the dev extra (ARCHITECTURE.md section 9)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from paybill.server.app import build_services
from paybill.server.core.settings import Settings
from paybill.server.executors.terraform.cli import Terraform
from paybill.server.store.base import utcnow
from paybill.server.workflows.engine.services import Services
from tests.support.served import populate

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


def terraform_services(
    store_url: str,
    data_dir: Path,
    binary: str,
    terraform: Terraform,
    clock: Callable[[], datetime] = utcnow,
    **overrides: Any,
) -> Services:
    """Services provisioning through Terraform (``binary``: the real one or a test wrapper),
    on a store populated with the server tests' principals and tenants."""
    settings = Settings(
        database_url=store_url,
        data_dir=data_dir,
        provisioner="terraform",
        terraform_bin=binary,
        terraform_cli_config=terraform.cli_config,
        rate_per_minute=10_000,
        **overrides,
    )
    populate(build_services(settings.model_copy(update={"provisioner": "local"}), clock=clock))
    return build_services(settings, clock=clock)
