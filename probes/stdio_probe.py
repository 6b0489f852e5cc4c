"""A few attacks over stdio (one principal per server)."""

import asyncio, json, os, sys
from pathlib import Path
from mcp import Client, StdioServerParameters

ROOT = Path("/tmp/attackfix")


async def main(backend, name):
    w = json.loads((ROOT / f"{backend}-{name}" / "world.json").read_text())
    env = {**os.environ, **w["env"]}
    exe = str(Path(sys.executable).parent / "paybill")
    for who in ["pool-bot", "nosuch-principal"]:
        params = StdioServerParameters(command=exe, args=["serve", "--principal", who], env=env)
        try:
            async with Client(params) as c:
                for tool, args in [
                    (
                        "run_sql",
                        {
                            "tenant": "pool",
                            "sql": "SELECT count(*) FROM customers NATURAL JOIN (SELECT 'pii1@x.example' AS email) d",
                        },
                    ),
                    (
                        "run_sql",
                        {
                            "tenant": "pool",
                            "sql": "SELECT * FROM customers, (SELECT 1 AS a, 2 AS a) AS d",
                        },
                    ),
                    ("no_such_tool", {}),
                    ("get_audit_log", {}),
                    ("run_sql", {"tenant": "other", "sql": "SELECT 1"}),
                ]:
                    r = await c.call_tool(tool, args)
                    txt = (
                        json.dumps(r.structured_content)
                        if r.structured_content
                        else "".join(getattr(x, "text", "") for x in r.content)
                    )
                    print(who, tool, r.is_error, txt[:200])
        except Exception as e:
            print(who, "server failed:", type(e).__name__, str(e)[:200])


asyncio.run(main(sys.argv[1], sys.argv[2]))
