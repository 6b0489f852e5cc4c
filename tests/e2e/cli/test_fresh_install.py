"""A fresh, non-editable install in a new venv ships code and data, and the CLI works."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support import REPO


def _sh(*args: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_fresh_venv_install_then_init_twice_principal_listing_and_demo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _sh(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(
        _sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    )
    # Dependencies, pip and setuptools come from the test environment (no network needed);
    # paybill itself is built from the source tree and installed into the new venv.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    built = _sh(python, "-m", "pip", "install", "-v", "--no-deps", "--no-build-isolation", REPO)
    # Every data folder is declared (package-data), so the build has nothing to warn about.
    assert "would be ignored" not in built
    assert "is explicitly added" not in built
    location = _sh(python, "-c", "import paybill.server as s; print(s.__file__)")
    assert location.startswith(str(site)), location

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("PAYBILL_DATABASE_URL", None)
    paybill = venv / "bin" / "paybill"
    assert "Plans loaded" in _sh(paybill, "init", env=env)
    assert "nothing changed" in _sh(paybill, "init", env=env)
    assert (tmp_path / "data" / "paybill" / "paybill.db").exists()
    assert "API key" in _sh(paybill, "principal", "add", "ops", "--role", "operator", env=env)
    assert "No tenants yet." in _sh(paybill, "tenant", "list", env=env)
    # The MCP server from the installed package: policies, ACL files and migrations shipped.
    assert "chain intact" in _sh(paybill, "demo", env=env)
