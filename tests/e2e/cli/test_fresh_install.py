"""A fresh, non-editable install in a new venv ships code and data, and the CLI works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.support import REPO
from tests.support.readme import quick_start


def _sh(*args: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_fresh_venv_install_then_init_twice_and_principal_listing(tmp_path: Path) -> None:
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


def test_the_readme_quick_start_verbatim_on_a_copy_of_the_tree(tmp_path: Path) -> None:
    """The README's first command, exactly as written, in a fresh copy of the tracked files:
    a new venv, `pip install .` from the package index, the demo (policies, ACL files and
    migrations shipped in the installed package)."""
    tracked = _sh("git", "-C", REPO, "ls-files", "-z").split("\0")
    copy = tmp_path / "paybill"
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAYBILL_", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"))
    result = subprocess.run(
        ["bash", "-c", quick_start()],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "paybill audit verify: chain intact" in result.stdout
