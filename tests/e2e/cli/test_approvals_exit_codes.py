"""The real `paybill` script: refusals, usage errors and unusable settings exit differently,
each with one line on stderr and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.served import Served

PAYBILL = str(Path(sys.executable).parent / "paybill")


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAYBILL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_exit_codes_tell_refusals_from_usage_and_setup_errors(served: Served) -> None:
    approval_id = served.error(
        "admin", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="ended"
    )["details"]["approval_id"]
    env = {**served.env(), "PAYBILL_PRINCIPAL": "admin"}

    own = run(env, "approvals", "approve", approval_id, "--comment", "mine")
    assert own.returncode == 3
    assert own.stderr.startswith("refused: DENIED: ")
    assert len(own.stderr.strip().splitlines()) == 1

    usage = run(env, "approvals", "approve", approval_id)  # no --comment
    assert usage.returncode == 2
    assert "--comment" in usage.stderr

    no_secret = run(
        {**env, "PAYBILL_APPROVAL_WEBHOOK_URL": "https://hooks.example.test/x"},
        "approvals",
        "list",
    )
    assert no_secret.returncode == 1
    assert no_secret.stderr.startswith("error: PAYBILL_APPROVAL_WEBHOOK_URL is set without a")
    assert "Traceback" not in own.stderr + usage.stderr + no_secret.stderr
