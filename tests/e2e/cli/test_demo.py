"""`paybill demo` (the README's first command) runs the scripted session end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PAYBILL = str(Path(sys.executable).parent / "paybill")


def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    result = subprocess.run(
        [PAYBILL, "demo", "--keep", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "tenant acme is provisioning; run provision pending",
        "run provision succeeded",
        "upgrade applied",
        "run plan_change succeeded",
        "marked untrusted_tenant_data",
        "refused DENIED: Role tenant_agent may not call suspend_tenant",
        "refused APPROVAL_REQUIRED",
        "approval executed; tenant acme is offboarding",
        "run offboard succeeded",
        "step 1 export_data: succeeded",
        "paybill audit verify: chain intact",
    ):
        assert expected in out, out
    assert (tmp_path / "demo" / "paybill.db").exists()
