import json, time

T = ["customers", "invoices", "usage_events", "support_tickets"]
CASES = {
    "natural150": "SELECT * FROM customers t0 "
    + " ".join(f"NATURAL JOIN {T[i % 4]} t{i}" for i in range(1, 151)),
    "comma200": "SELECT * FROM " + ", ".join(f"{T[i % 4]} t{i}" for i in range(200)),
    "join16star": "SELECT * FROM customers t0 "
    + " ".join(f"JOIN {T[i % 4]} t{i} ON true" for i in range(1, 17)),
    "cte_chain": "WITH "
    + ", ".join(
        f"w{i} AS (SELECT * FROM {'customers' if i == 0 else f'w{i - 1}'})" for i in range(40)
    )
    + " SELECT * FROM w39",
    "cte_fanout": "WITH a AS (SELECT * FROM customers), b AS (SELECT * FROM a, a AS a2), c AS (SELECT * FROM b, b AS b2) SELECT count(*) FROM c, c AS c2",
    "union_many": " UNION ALL ".join("SELECT * FROM customers" for _ in range(60)),
    "in_list": "SELECT id FROM customers WHERE id IN ("
    + ",".join(str(i) for i in range(1500))
    + ")",
    "case_deep": "SELECT " + "CASE WHEN id = 1 THEN " * 40 + "1" + " END" * 40 + " FROM customers",
    "subq_select_list": "SELECT "
    + ", ".join(
        f"(SELECT count(*) FROM customers c{i} WHERE c{i}.id = c.id) AS s{i}" for i in range(40)
    )
    + " FROM customers c",
    "star_many_derived": "SELECT * FROM "
    + ", ".join(f"(SELECT * FROM customers) d{i}" for i in range(20)),
    "exists_many": "SELECT id FROM customers c WHERE "
    + " AND ".join(
        f"EXISTS (SELECT 1 FROM invoices i{i} WHERE i{i}.customer_id = c.id)" for i in range(60)
    ),
    "window_many": "SELECT "
    + ", ".join(f"row_number() OVER (PARTITION BY name ORDER BY id) AS r{i}" for i in range(100))
    + " FROM customers",
}


async def main(c, backend):
    for name, sql in CASES.items():
        t0 = time.monotonic()
        r = await c.call("pool-bot", "run_sql", tenant="pool", sql=sql[:10000])
        dt = time.monotonic() - t0
        e = r.get("error", {})
        print(
            f"{name:18} len={len(sql):6} {dt:5.2f}s {e.get('code', 'OK')} {e.get('details', {}).get('rule', '')} {e.get('details', {}).get('limit', '')}"
        )
