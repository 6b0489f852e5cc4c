"""Every code block in the README runs as written (or says where it is run instead).

Shell blocks run in order with `bash` in a sandbox folder whose `.venv` is this test
environment and whose store is a fresh one in the user's data directory (the default); a block
that starts a server keeps running while the Python blocks run against it. JSON blocks parse.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.readme import Block, blocks

KEY = re.compile(r"API key \(shown once, store it now\): (pb_\S+)")
SERVER_PORT = 8000  # the port the README's serve command names


def _sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBILL_")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "data"))
    return work, env


@contextmanager
def _serving(body: str, work: Path, env: dict[str, str]) -> Iterator[None]:
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {body.strip()}"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", SERVER_PORT)) == 0:
                    break
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the README's server never listened"
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_every_block_runs_as_written(tmp_path: Path) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", SERVER_PORT)) == 0:
            pytest.fail(f"port {SERVER_PORT} is taken; the README's serve command needs it")
    work, env = _sandbox(tmp_path)
    found = blocks()
    assert found, "no code blocks found in the README"
    keys: list[str] = []
    python = [b for b in found if b.lang == "python" and b.marker is None]
    assert python, "the README's Python client snippet is gone"
    ran_python = 0
    for block in found:
        if block.marker is not None:
            cited = re.findall(r"(?:tests|\.ci)/[\w/.]+", block.marker)
            assert cited, f"a block not run here must say where it is run: {block.marker}"
            for path in cited:
                assert (REPO / path.rstrip(".")).exists(), path
            continue
        if block.lang == "json":
            json.loads(block.body)
        elif block.lang == "bash" and " serve " in block.body:
            with _serving(block.body, work, env):
                for snippet in python:
                    _run_python(snippet, work, {**env, "PAYBILL_API_KEY": keys[0]})
                    ran_python += 1
        elif block.lang == "bash":
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.body],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"{block.body}\n{done.stdout}\n{done.stderr}"
            keys += KEY.findall(done.stdout)
        elif block.lang != "python":
            pytest.fail(f"a {block.lang or 'plain'} block: mark it or teach this test to run it")
    assert ran_python == len(python), "a Python block ran before any server block started"


def _run_python(block: Block, work: Path, env: dict[str, str]) -> None:
    script = work / "snippet.py"
    script.write_text(block.body)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{block.body}\n{done.stderr}"
    assert "free" in done.stdout  # the plan catalogue came back
