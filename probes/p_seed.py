import json


async def main(c, backend):
    tenants = ["pool", "other", "brid"]
    for t in tenants:
        r = await c.call(
            f"{t}-admin",
            "insert_rows",
            tenant=t,
            table="customers",
            rows=[{"name": f"{t} cust {i}", "country": "DE"} for i in range(3)],
        )
        print(t, json.dumps(r)[:200])
        r = await c.call(
            f"{t}-admin",
            "insert_rows",
            tenant=t,
            table="invoices",
            rows=[
                {"customer_id": 1, "amount_cents": 100 * i, "currency": "EUR", "status": "open"}
                for i in range(3)
            ],
        )
        print(t, json.dumps(r)[:200])
        r = await c.call(
            f"{t}-admin",
            "insert_rows",
            tenant=t,
            table="support_tickets",
            rows=[
                {
                    "customer_id": 1,
                    "subject": "help",
                    "body": f"my card is 4111-{t}",
                    "status": "open",
                    "priority": "high",
                }
            ],
        )
        print(t, json.dumps(r)[:200])
