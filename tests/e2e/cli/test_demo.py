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
        "1 row(s) inserted into support_tickets",
        "the embedded SQLite store keeps every tenant pooled",
        "paybill audit verify: chain intact",
    ):
        assert expected in out, out
    assert (tmp_path / "demo" / "paybill.db").exists()
    # The count verify gives matches the trail shown, or says what came after it.
    listed = sum(1 for line in out.splitlines() if line.startswith("  #"))
    assert f"the {listed} above and 1 recorded after the listing" in out, out
    # The same folder again: refused plainly, nothing run.
    again = subprocess.run(
        [PAYBILL, "demo", "--keep", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 2
    assert "--keep needs a new or empty folder" in again.stderr
    assert "already exists" not in again.stderr + again.stdout
