"""The embedded engine stays the default and never imports Temporal; the Temporal settings
are read from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from paybill.server.core.settings import Settings


def test_the_embedded_path_imports_no_temporal() -> None:
    probe = (
        "import sys\n"
        "from paybill.server.app import run_starts\n"
        "from paybill.server.cli import serve, worker\n"
        "from paybill.server.workflows.engine.worker import Worker\n"
        "from paybill.server.workflows.kinds import KINDS\n"
        "print('TEMPORAL', sorted(m for m in sys.modules if m.startswith('temporalio')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "TEMPORAL []" in out, out


def test_embedded_is_the_default_and_temporal_is_configured_by_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().workflow_engine == "embedded"
    env = {
        "PAYBILL_WORKFLOW_ENGINE": "temporal",
        "PAYBILL_TEMPORAL_ADDRESS": "temporal.internal:7233",
        "PAYBILL_TEMPORAL_NAMESPACE": "paybill-prod",
        "PAYBILL_TEMPORAL_TASK_QUEUE": "paybill-eu",
        "PAYBILL_TEMPORAL_API_KEY": "secret",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.workflow_engine, settings.temporal_namespace) == ("temporal", "paybill-prod")
    assert settings.temporal_api_key is not None
    assert settings.temporal_api_key.get_secret_value() == "secret"


def test_a_worker_refuses_an_engine_other_than_the_deployments(tmp_path: Path) -> None:
    env = {**os.environ, "PAYBILL_DATA_DIR": str(tmp_path), "PAYBILL_WORKFLOW_ENGINE": "embedded"}
    refused = subprocess.run(
        [str(Path(sys.executable).parent / "paybill"), "worker", "--engine", "temporal"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2, refused.stderr
    assert "set PAYBILL_WORKFLOW_ENGINE=temporal for every paybill process" in refused.stderr


def test_temporal_without_its_sdk_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    # A process where the Temporal SDK cannot be imported (as without the extra).
    probe = (
        "import sys\n"
        "sys.modules['temporalio'] = None\n"
        "from types import SimpleNamespace\n"
        "from paybill.server.app import run_starts\n"
        "from paybill.server.core.errors import InvalidInput\n"
        "services = SimpleNamespace(settings=SimpleNamespace(workflow_engine='temporal'))\n"
        "try:\n"
        "    with run_starts(services):\n"
        "        pass\n"
        "except InvalidInput as error:\n"
        "    print('REFUSED', error.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=tmp_path,
    ).stdout
    assert "REFUSED" in out and "pip install 'paybill[temporal]'" in out, out
