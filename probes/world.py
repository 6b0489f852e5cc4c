"""Build a world: tenants pool (pro, pooled), brid (pro, bridge), silo (enterprise, PG only),
other (pro pooled, a victim), and tenant principals; rows with PII. Saves keys to world.json."""

from __future__ import annotations
import asyncio, json, sys
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import ROOT, Clients, run, serve, setup


async def build(backend: str, name: str) -> None:
    env, keys = setup(backend, name)
    log = ROOT / f"{backend}-{name}" / "serve.log"
    with serve(env, log) as (url, _):
        async with AsyncExitStack() as st:
            c = Clients(st, url, keys)

            async def ok(who, tool, **a):
                r = await c.call(who, tool, **a)
                print(tool, a.get("tenant") or a.get("slug"), "->", json.dumps(r)[:300])
                return r

            tenants = [
                ("pool", "free", "pro", False),
                ("other", "free", "pro", False),
                ("brid", "free", "pro", True),
            ]
            if backend == "postgresql":
                tenants.append(("silo", "free", "enterprise", True))
            for slug, *_ in tenants:
                await ok("ops", "create_tenant", slug=slug, name=slug.title(), plan="free")
            await asyncio.sleep(3)
            for slug, _, plan, mig in tenants:
                r = await ok("ops", "change_plan", tenant=slug, plan=plan, migrate_isolation=mig)
                if r.get("_is_error") and "approval" in json.dumps(r).lower():
                    aid = r.get("error", {}).get("details", {}).get("approval_id")
                    print("approval needed", aid)
                    await ok(
                        "boss",
                        "decide_approval",
                        approval_id=aid,
                        decision="approve",
                        reason="setup",
                    )
            await asyncio.sleep(12)
            for slug, *_ in tenants:
                await ok("ops", "get_tenant", tenant=slug)
    for slug, *_ in tenants:
        for who, role in [(f"{slug}-admin", "tenant_admin"), (f"{slug}-bot", "tenant_agent")]:
            keys[who] = (
                run(env, "principal", "add", who, "--role", role, "--tenant", slug)
                .strip()
                .splitlines()[-1]
                .split()[-1]
            )
    (ROOT / f"{backend}-{name}" / "world.json").write_text(
        json.dumps(
            {"env": {k: v for k, v in env.items() if k.startswith("PAYBILL_")}, "keys": keys}
        )
    )


asyncio.run(build(sys.argv[1], sys.argv[2]))
