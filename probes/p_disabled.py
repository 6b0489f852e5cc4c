import json, subprocess, sqlite3, os


async def main(c, backend):
    r = await c.call(
        "other-admin",
        "run_sql",
        tenant="other",
        sql="DELETE FROM invoices WHERE amount_cents = 777",
    )
    aid = r.get("error", {}).get("details", {}).get("approval_id")
    print("request", r.get("error", {}).get("code"), aid)
    url = c.env["PAYBILL_DATABASE_URL"]
    if backend == "sqlite":
        db = sqlite3.connect(url.split("///", 1)[1])
        db.execute("update principals set disabled = 1 where name = 'other-admin'")
        db.commit()
    else:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "af_w1",
                "-qc",
                "update principals set disabled = true where name = 'other-admin'",
            ],
            check=True,
        )
    r = await c.call(
        "boss", "decide_approval", approval_id=aid, decision="approve", reason="looks fine"
    )
    print("decide after requester disabled", json.dumps(r)[:400])
    r = await c.call("other-admin", "list_plans")
    print("disabled principal call", json.dumps(r)[:200])
