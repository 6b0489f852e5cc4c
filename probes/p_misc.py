import asyncio, json, re, uuid

PATH = re.compile(r"/(tmp|work|root|home|var|usr)/")


def short(r, n=220):
    return json.dumps(r)[:n]


async def main(c, backend):
    call = c.call

    async def show(label, who, tool, **a):
        r = await call(who, tool, **a)
        code = r.get("error", {}).get("code") if r["_is_error"] else "OK"
        flag = " !!PATH" if PATH.search(json.dumps(r)) else ""
        print(f"[{label}] {who} {tool} -> {code}{flag} | {short(r)}")
        return r

    # 1. billing resume after operator suspend
    await show("billing-resume", "ops", "suspend_tenant", tenant="other", reason="operator hold")
    await show("billing-resume", "billing", "resume_tenant", tenant="other", reason="paid up")
    await show(
        "billing-resume",
        "billing",
        "set_billing_state",
        tenant="other",
        status="active",
        event_id="evt_1",
    )
    r = await show("billing-resume", "ops", "get_tenant", tenant="other")
    await show("billing-resume", "ops", "resume_tenant", tenant="other", reason="done")
    # 12. NOT_FOUND vs DENIED on id-taking tools for tenant principals
    fake = str(uuid.uuid4())
    runs = await show("runs", "ops", "get_tenant", tenant="other")
    for who in ["pool-bot", "pool-admin"]:
        await show("oracle-tenant", who, "get_tenant", tenant="other")
        await show("oracle-tenant", who, "get_tenant", tenant="nosuch")
        await show("oracle-tenant", who, "get_usage", tenant="other")
        await show("oracle-tenant", who, "get_usage", tenant="nosuch")
        await show("oracle-tenant", who, "describe_schema", tenant="other")
        await show("oracle-tenant", who, "describe_schema", tenant="nosuch")
        await show("oracle-tenant", who, "run_sql", tenant="other", sql="SELECT 1")
        await show("oracle-tenant", who, "run_sql", tenant="nosuch", sql="SELECT 1")
        await show("oracle-wf", who, "get_workflow", workflow_id=fake)
        await show(
            "oracle-appr",
            who,
            "decide_approval",
            approval_id=fake,
            decision="approve",
            reason="xyz",
        )
    # a real foreign run id: list other's runs via ops get_audit_log
    log = await call("ops", "get_audit_log", tenant="other", limit=200)
    ids = set(re.findall(r'"(?:workflow_id|run_id)": "([0-9a-f-]{36})"', json.dumps(log)))
    print("foreign run ids", list(ids)[:3])
    for rid in list(ids)[:1]:
        for who in ["pool-bot", "pool-admin", "billing"]:
            await show("oracle-wf-real", who, "get_workflow", workflow_id=rid)
        await show("oracle-wf-real", "pool-admin", "retry_workflow", workflow_id=rid)
        await show("oracle-wf-real", "pool-admin", "retry_workflow", workflow_id=fake)
    # own run paths
    own = await call("ops", "get_audit_log", tenant="pool", limit=200)
    oids = set(re.findall(r'"(?:workflow_id|run_id)": "([0-9a-f-]{36})"', json.dumps(own)))
    for rid in list(oids)[:3]:
        await show("wf-paths", "pool-bot", "get_workflow", workflow_id=rid)
    # 4. bidi / C1 names
    for nm in [
        "Evil\u202eCorp",
        "x\u009bcorp",
        "a\u200bb",
        "zero\u2066iso",
        "ok\u061cname",
        "tab\tname",
        "nl\nname",
        "\u00adsoft",
    ]:
        await show(
            "names",
            "ops",
            "create_tenant",
            slug="bidi" + str(abs(hash(nm)) % 1000),
            name=nm,
            plan="free",
            dry_run=True,
        )
    # 5. integers
    for v in [2**31 - 1, 2**31, 2**40, -(2**31), -(2**31) - 1, 2**63, 2**70, -(2**70)]:
        await show(
            "ints",
            "pool-admin",
            "insert_rows",
            tenant="pool",
            table="invoices",
            rows=[{"customer_id": 1, "amount_cents": v, "currency": "EUR", "status": "open"}],
            dry_run=True,
        )
    for v in [2**63, 2**70, -(2**63) - 1]:
        await show(
            "ints",
            "pool-admin",
            "insert_rows",
            tenant="pool",
            table="invoices",
            rows=[{"customer_id": v, "amount_cents": 1, "currency": "EUR", "status": "open"}],
            dry_run=True,
        )
        await show(
            "ints-filter",
            "pool-bot",
            "query_table",
            tenant="pool",
            table="invoices",
            filters=[{"column": "id", "op": "eq", "value": v}],
        )
    await show(
        "ints-sql-param",
        "pool-bot",
        "run_sql",
        tenant="pool",
        sql="SELECT id FROM invoices WHERE id = :v",
        params={"v": 2**70},
    )
    await show(
        "ints-sql-lit",
        "pool-bot",
        "run_sql",
        tenant="pool",
        sql=f"SELECT id FROM invoices WHERE id = {2**70}",
    )
    await show(
        "ints-sql-lit", "pool-bot", "run_sql", tenant="pool", sql="SELECT 9223372036854775807 + 1"
    )
    await show("audit-edge", "ops", "get_audit_log", before_id=2**31 - 1)
    await show("audit-edge", "ops", "get_audit_log", before_id=2**31)
    await show("audit-edge", "ops", "get_audit_log", limit=0)
    await show("wf-wait", "pool-bot", "get_workflow", workflow_id=fake, wait_seconds=61)
    # 10. redaction: silo-admin inserts PII (PG only), then who sees it?
    if backend == "postgresql":
        await show(
            "pii-write",
            "silo-admin",
            "insert_rows",
            tenant="silo",
            table="customers",
            rows=[{"name": "Zed", "email": "zed-pii@silo.example"}],
        )
        for who in ["ops", "boss", "admin", "silo-admin", "pool-admin"]:
            r = await call(who, "get_audit_log", tenant="silo", limit=20)
            s = json.dumps(r)
            print(
                f"[redact] {who} get_audit_log silo -> {'!!PII' if 'zed-pii' in s else 'no pii'} trust={r.get('content_trust')} err={r.get('error', {}).get('code')}"
            )
        # approval with pii: a bulk delete needing approval filtered on email?
        r = await show(
            "pii-appr",
            "silo-admin",
            "delete_rows",
            tenant="silo",
            table="customers",
            filters=[{"column": "email", "op": "eq", "value": "zed-pii@silo.example"}],
        )
        r = await show(
            "pii-appr",
            "silo-admin",
            "run_sql",
            tenant="silo",
            sql="DELETE FROM customers WHERE email = 'zed-pii@silo.example'",
        )
        for who in ["boss", "ops", "silo-admin"]:
            r = await call(who, "list_approvals")
            s = json.dumps(r)
            print(
                f"[redact] {who} list_approvals -> {'!!PII' if 'zed-pii' in s else 'no pii'} err={r.get('error', {}).get('code')}"
            )
        # errors quoting values
        await show(
            "pii-err",
            "silo-admin",
            "insert_rows",
            tenant="silo",
            table="customers",
            rows=[{"name": "y" * 300, "email": "long-pii@silo.example"}],
        )
        await show(
            "pii-err",
            "silo-admin",
            "insert_rows",
            tenant="silo",
            table="customers",
            rows=[{"name": "dup", "email": "dup-pii@silo.example", "id": 1}],
        )
        await show(
            "pii-err",
            "silo-bot",
            "query_table",
            tenant="silo",
            table="customers",
            filters=[{"column": "email", "op": "eq", "value": "x"}],
        )
        await show(
            "pii-err",
            "silo-bot",
            "query_table",
            tenant="silo",
            table="customers",
            order_by=[{"column": "email"}],
        )
        await show(
            "pii-err",
            "silo-bot",
            "query_table",
            tenant="silo",
            table="customers",
            aggregates=[{"fn": "max", "column": "email"}],
        )
        await show(
            "pii-err",
            "silo-bot",
            "query_table",
            tenant="silo",
            table="customers",
            group_by=["email"],
        )
        await show(
            "pii-err",
            "silo-bot",
            "run_sql",
            tenant="silo",
            sql="SELECT CAST(name AS INTEGER) FROM customers",
        )
