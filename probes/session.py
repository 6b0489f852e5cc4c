"""Run probe module PROBE (with async def main(c, backend)) against world BACKEND-NAME over HTTP."""

from __future__ import annotations
import asyncio, importlib, json, os, sys
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import ROOT, Clients, serve


async def go(backend: str, name: str, probe: str, extra_env: dict[str, str]) -> None:
    w = json.loads((ROOT / f"{backend}-{name}" / "world.json").read_text())
    env = {**os.environ, **w["env"], **extra_env}
    mod = importlib.import_module(probe)
    with serve(env, ROOT / f"{backend}-{name}" / "serve.log") as (url, proc):
        async with AsyncExitStack() as st:
            c = Clients(st, url, w["keys"])
            c.env, c.url = env, url
            await mod.main(c, backend)


extra = dict(a.split("=", 1) for a in sys.argv[4:] if "=" in a)
asyncio.run(go(sys.argv[1], sys.argv[2], sys.argv[3], extra))
