"""The container image's parts that run here without a Docker daemon: its entrypoint script,
run for real, and what the Dockerfile and compose file must say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx2
import yaml

from paybill.server.core.settings import Settings
from tests.support import REPO
from tests.support.serving import free_port

ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
DOCKERFILE = (REPO / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PAYBILL_DATA_DIR": str(tmp_path / "data"),
        "PAYBILL_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        **extra,
    }


def test_serve_migrates_a_fresh_store_then_becomes_ready(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path, PAYBILL_PORT=str(port))
    proc = subprocess.Popen(
        ["sh", str(ENTRYPOINT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        ready = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx2.TransportError:
                time.sleep(0.2)
        assert ready is not None, proc.stderr.read().decode() if proc.stderr else ""
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        # Bound to every interface, as a container must be.
        assert "on http://0.0.0.0:" in _stderr_so_far(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def _stderr_so_far(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    _out, err = proc.communicate(timeout=15)
    return err.decode()


def test_other_commands_run_as_paybill_commands(tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run(["sh", str(ENTRYPOINT), "init"], env=env, check=True, capture_output=True)
    added = subprocess.run(
        ["sh", str(ENTRYPOINT), "principal", "add", "ops", "--role", "operator"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert "pb_" in added.stdout  # the new key, printed once


def test_serve_gives_up_on_an_unreachable_store(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        PAYBILL_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/nothing",
        PAYBILL_INIT_ATTEMPTS="2",
        PAYBILL_INIT_RETRY_SECONDS="0",
    )
    done = subprocess.run(
        ["sh", str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "still not ready after 2 attempts" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_dockerfile_copies_every_package_and_runs_unprivileged() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE, re.MULTILINE))
    assert folders <= copied, folders - copied
    user = re.search(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user and not user[1].startswith(("root", "0"))
    assert "/readyz" in DOCKERFILE.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["paybill-entrypoint"]' in DOCKERFILE
    assert "COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/paybill-entrypoint" in DOCKERFILE


def test_compose_names_real_settings_and_holds_no_secret() -> None:
    paybill = COMPOSE["services"]["paybill"]
    fields = set(Settings.model_fields)
    for name in paybill["environment"]:
        assert name.startswith("PAYBILL_")
        assert name.removeprefix("PAYBILL_").lower() in fields, name
    assert paybill["depends_on"]["postgres"]["condition"] == "service_healthy"
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "${POSTGRES_PASSWORD}" in paybill["environment"]["PAYBILL_DATABASE_URL"]
