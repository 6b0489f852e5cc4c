import asyncio, json, re, httpx2


async def main(c, backend):
    # 401 attempts
    async with httpx2.AsyncClient() as h:
        for key in ["wrong", "x y", "pb_" + "a" * 40]:
            r = await h.post(
                c.url,
                headers={
                    "Authorization": f"Bearer {key}",
                    "Accept": "application/json, text/event-stream",
                    "Content-Type": "application/json",
                },
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            )
            print("401?", r.status_code, r.text[:120])
    for who in ["pool-admin"]:
        r = await c.call(who, "get_audit_log", limit=200)
        s = json.dumps(r)
        tenants = set(re.findall(r'"tenant_id": "([0-9a-f-]{36})"', s))
        print(
            who,
            "audit tenants seen",
            len(tenants),
            "http events",
            s.count("<http>"),
            "anon",
            s.count("<anonymous>"),
            "err",
            r.get("error", {}).get("code"),
        )
        r = await c.call(who, "get_audit_log", verify=True)
        print(who, "verify", r.get("error", {}).get("code", "OK"), json.dumps(r)[:150])
        r = await c.call(who, "get_audit_log", tenant="other")
        print(who, "other tenant log", r.get("error", {}).get("code", "OK"), json.dumps(r)[:150])
        r = await c.call(who, "list_approvals")
        s = json.dumps(r)
        print(who, "list_approvals tenants", set(re.findall(r'"tenant(?:_id)?": "([^"]+)"', s)))
    # self-approval by admin
    r = await c.call(
        "admin", "run_sql", tenant="pool", sql="DELETE FROM invoices WHERE amount_cents = 5555"
    )
    aid = r.get("error", {}).get("details", {}).get("approval_id")
    print("admin request", r.get("error", {}).get("code"), aid)
    if aid:
        r = await c.call(
            "admin", "decide_approval", approval_id=aid, decision="approve", reason="self ok"
        )
        print("self-approve", r.get("error", {}).get("code", "OK"), json.dumps(r)[:200])
        log = await c.call("ops", "get_audit_log", limit=5)
        print(
            "last audit",
            [
                (e.get("principal"), e.get("tool"), e.get("decision"), e.get("rule"))
                for e in log.get("events", [])
            ][:3],
        )
    # tenant_agent error messages echoing values: filter with a long string / bad type
    r = await c.call(
        "pool-bot",
        "query_table",
        tenant="pool",
        table="customers",
        filters=[{"column": "created_at", "op": "eq", "value": "pool cust 0 secret"}],
    )
    print("bad type filter", json.dumps(r)[:250])
    r = await c.call(
        "pool-bot", "run_sql", tenant="pool", sql="SELECT CAST(name AS INTEGER) FROM customers"
    )
    print("cast err", json.dumps(r)[:250])
    r = await c.call(
        "pool-bot",
        "run_sql",
        tenant="pool",
        sql="SELECT id FROM customers WHERE name = :n",
        params={"n": "x"},
    )
    print("param ok", r.get("error", {}).get("code", "OK"))
    r = await c.call(
        "pool-bot",
        "run_sql",
        tenant="pool",
        sql="SELECT id FROM customers WHERE name = :__tenant_id",
        params={"__tenant_id": "x"},
    )
    print("param named like internal", json.dumps(r)[:250])
    r = await c.call(
        "pool-bot",
        "run_sql",
        tenant="pool",
        sql="SELECT id FROM customers WHERE name = :__p1",
        params={"__p1": "x"},
    )
    print("param named like literal", json.dumps(r)[:250])
    r = await c.call(
        "pool-bot",
        "run_sql",
        tenant="pool",
        sql="SELECT id FROM customers WHERE name = :tenant_id OR 'a' = 'a'",
        params={"tenant_id": "x"},
    )
    print("param tenant_id", json.dumps(r)[:250])
