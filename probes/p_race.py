import asyncio, json, time

HEAVY = "SELECT count(*) AS n FROM " + ", ".join(f"customers c{i}" for i in range(16))


async def timed(c, who, tool, **a):
    t0 = time.monotonic()
    r = await c.call(who, tool, **a)
    return time.monotonic() - t0, r


async def main(c, backend):
    # warm clients
    for w in [
        "pool-bot",
        "brid-bot" if backend == "postgresql" else "other-bot",
        "ops",
        "pool-admin",
        "boss",
        "boss2",
    ]:
        await c.call(w, "list_plans")
    other = "brid" if backend == "postgresql" else "other"
    # concurrency cap: pool-bot floods; other tenant and ops measured
    base = [
        (
            await timed(
                c, f"{other}-bot", "run_sql", tenant=other, sql="SELECT count(*) FROM customers"
            )
        )[0]
        for _ in range(3)
    ]
    print("baseline other-tenant", [round(x, 2) for x in base])
    flood = [
        asyncio.create_task(timed(c, "pool-bot", "run_sql", tenant="pool", sql=HEAVY))
        for _ in range(12)
    ]
    await asyncio.sleep(0.5)
    probes = []
    for _ in range(4):
        probes.append(
            await timed(
                c, f"{other}-bot", "run_sql", tenant=other, sql="SELECT count(*) FROM customers"
            )
        )
        probes.append(await timed(c, "ops", "list_plans"))
    res = await asyncio.gather(*flood)
    codes = {}
    for dt, r in res:
        k = (
            r.get("error", {}).get("code", "OK")
            + ":"
            + str(
                r.get("error", {})
                .get("details", {})
                .get("limit", r.get("error", {}).get("details", {}).get("rule", ""))
            )
        )
        codes[k] = codes.get(k, 0) + 1
    print("flood outcomes", codes, "max", round(max(d for d, _ in res), 2))
    print(
        "during flood other/ops latencies",
        [(round(d, 2), r.get("error", {}).get("code", "OK")) for d, r in probes],
    )
    # racing identical approval-gated requests
    sql = "DELETE FROM invoices WHERE amount_cents = 12345"
    rs = await asyncio.gather(
        *[c.call("pool-admin", "run_sql", tenant="pool", sql=sql) for _ in range(15)]
    )
    ids = {r.get("error", {}).get("details", {}).get("approval_id") for r in rs}
    print(
        "race approvals codes",
        {r.get("error", {}).get("code", "OK") for r in rs},
        "distinct approval ids",
        len(ids),
    )
    la = await c.call("boss", "list_approvals")
    pend = [
        a
        for a in la.get("approvals", [])
        if a.get("status") == "pending" and "12345" in json.dumps(a)
    ]
    print("pending approvals for the identical effect:", len(pend))
    if pend:
        aid = pend[0]["id"]
        # approve twice concurrently by two approvers
        r2 = await asyncio.gather(
            c.call("boss", "decide_approval", approval_id=aid, decision="approve", reason="ok ok"),
            c.call("boss2", "decide_approval", approval_id=aid, decision="approve", reason="ok ok"),
        )
        print("double decide", [r.get("error", {}).get("code", "OK") for r in r2])
        # self-approval: pool-admin cannot; admin requesting then approving
    # downgrade piling
    for i in range(3):
        r = await c.call(
            "pool-admin",
            "change_plan",
            tenant="pool",
            plan="free",
            idempotency_key=f"dg-{i}-{time.time()}",
        )
        print("downgrade", i, r.get("error", {}).get("code", "OK"), json.dumps(r)[:250])
    rs = await asyncio.gather(
        *[
            c.call(
                "ops",
                "change_plan",
                tenant="pool",
                plan="free",
                idempotency_key=f"dgc-{i}-{time.time()}",
            )
            for i in range(6)
        ]
    )
    print("concurrent downgrades", [r.get("error", {}).get("code", "OK") for r in rs])
    t = await c.call("ops", "get_tenant", tenant="pool")
    print("tenant after", json.dumps(t)[:600])
    # idempotency: same key across principals
    k = f"shared-{time.time()}"
    a = await c.call(
        "pool-admin",
        "insert_rows",
        tenant="pool",
        table="invoices",
        rows=[{"customer_id": 1, "amount_cents": 7, "currency": "EUR", "status": "open"}],
        idempotency_key=k,
    )
    b = await c.call(
        "ops", "suspend_tenant", tenant="pool", reason="key test", idempotency_key=k, dry_run=True
    )
    print(
        "same key other principal",
        a.get("error", {}).get("code", "OK"),
        b.get("error", {}).get("code", "OK"),
    )
    # same key same principal different args
    b2 = await c.call(
        "pool-admin",
        "insert_rows",
        tenant="pool",
        table="invoices",
        rows=[{"customer_id": 1, "amount_cents": 8, "currency": "EUR", "status": "open"}],
        idempotency_key=k,
    )
    print("same key diff args", b2.get("error", {}).get("code", "OK"), json.dumps(b2)[:200])
    # in-flight contention: many concurrent same key same principal
    k2 = f"inflight-{time.time()}"
    rs = await asyncio.gather(
        *[
            c.call(
                "pool-admin",
                "insert_rows",
                tenant="pool",
                table="invoices",
                rows=[{"customer_id": 1, "amount_cents": 9, "currency": "EUR", "status": "open"}],
                idempotency_key=k2,
            )
            for _ in range(8)
        ]
    )
    print(
        "in-flight same key",
        [r.get("error", {}).get("code", "OK") for r in rs],
        "ids",
        {json.dumps(r.get("ids")) for r in rs},
    )
