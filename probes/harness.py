"""Attack harness: a fresh store (sqlite or postgres), tenants via tools, a served HTTP server,
and an MCP client per principal. Used by the probe scripts in this directory."""

from __future__ import annotations

import asyncio, json, os, subprocess, sys, time, socket, secrets
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

PAYBILL = str(Path(sys.executable).parent / "paybill")
ROOT = Path("/tmp/attackfix")


def env_for(backend: str, name: str) -> dict[str, str]:
    d = ROOT / f"{backend}-{name}"
    d.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        url = f"sqlite:///{d}/store.db"
    else:
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/af_{name}"
    return {
        **os.environ,
        "PAYBILL_DATABASE_URL": url,
        "PAYBILL_DATA_DIR": str(d / "data"),
        "PAYBILL_RATE_PER_MINUTE": "100000",
        "PAYBILL_EMBEDDED_WORKER": "true",
        "PAYBILL_AUDIT_KEY_FILE": str(d / "audit.key"),
        "PAYBILL_AUDIT_CHECKPOINT_FILE": str(d / "audit.ckpt"),
    }


def run(env: dict[str, str], *args: str) -> str:
    p = subprocess.run([PAYBILL, *args], env=env, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{args}: {p.stdout} {p.stderr}")
    return p.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(env: dict[str, str], log: Path):
    port = free_port()
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [PAYBILL, "serve", "--transport", "streamable-http", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


class Clients:
    def __init__(self, stack: AsyncExitStack, url: str, keys: dict[str, str]):
        self.stack, self.url, self.keys, self.c = stack, url, keys, {}

    async def client(self, who: str) -> Client:
        if who not in self.c:
            http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {self.keys[who]}"}, timeout=120
            )
            self.c[who] = await self.stack.enter_async_context(
                Client(streamable_http_client(self.url, http_client=http))
            )
        return self.c[who]

    async def call(self, who: str, tool: str, **args: Any) -> dict[str, Any]:
        cl = await self.client(who)
        r = await cl.call_tool(tool, args)
        sc = r.structured_content
        if sc is None:
            txt = "".join(getattr(x, "text", "") for x in r.content)
            try:
                sc = json.loads(txt)
            except Exception:
                sc = {"_text": txt}
        sc = dict(sc) if isinstance(sc, dict) else {"_v": sc}
        sc["_is_error"] = r.is_error
        return sc


def setup(backend: str, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """Fresh store; principals; returns (env, keys). Tenants created later via tools."""
    env = env_for(backend, name)
    if backend == "postgresql":
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-qc",
                f"DROP DATABASE IF EXISTS af_{name} WITH (FORCE)",
            ],
            check=True,
        )
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "test",
                "-qc",
                f"CREATE DATABASE af_{name}",
            ],
            check=True,
        )
    import shutil

    if backend == "sqlite":
        shutil.rmtree(ROOT / f"{backend}-{name}")
        (ROOT / f"{backend}-{name}").mkdir()
    run(env, "init")
    keys = {}
    for who, role in [
        ("admin", "platform_admin"),
        ("ops", "operator"),
        ("boss", "approver"),
        ("boss2", "approver"),
        ("billing", "billing_agent"),
    ]:
        keys[who] = (
            run(env, "principal", "add", who, "--role", role).strip().splitlines()[-1].split()[-1]
        )
    return env, keys
