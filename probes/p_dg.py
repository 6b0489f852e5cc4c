import asyncio, json, time

HEAVY = "SELECT count(*) AS n FROM " + ", ".join(f"customers c{i}" for i in range(16))


async def main(c, backend):
    r = await c.call("pool-bot", "run_sql", tenant="pool", sql=HEAVY)
    print("heavy", json.dumps(r)[:400])
    for w in ["other-admin", "ops"]:
        await c.call(w, "list_plans")
    for i in range(3):
        r = await c.call(
            "other-admin",
            "change_plan",
            tenant="other",
            plan="free",
            idempotency_key=f"dg-{i}-{time.time()}",
        )
        print("downgrade", i, r.get("error", {}).get("code", "OK"), json.dumps(r)[:300])
    rs = await asyncio.gather(
        *[
            c.call(
                "ops",
                "change_plan",
                tenant="other",
                plan="free",
                idempotency_key=f"dgc-{i}-{time.time()}",
            )
            for i in range(6)
        ]
    )
    print("concurrent downgrades", [r.get("error", {}).get("code", "OK") for r in rs])
    t = await c.call("ops", "get_tenant", tenant="other")
    print("tenant after", json.dumps(t.get("subscription")))
    log = await c.call("ops", "get_audit_log", tenant="other", limit=50)
    print(
        "audit actions",
        [
            (e.get("tool"), e.get("decision"), e.get("outcome", e.get("result_code")))
            for e in log.get("events", [])
        ][:14],
    )
