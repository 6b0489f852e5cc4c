import json, sys

Q = [
    "SELECT count(*) AS n FROM customers NATURAL JOIN (SELECT '{e}' AS email) d",
    "SELECT c.name FROM customers c NATURAL JOIN (SELECT '{e}' AS email) d",
    "SELECT v.email AS guess, c.name FROM customers c NATURAL JOIN (VALUES ('nobody@x.example'), ('{e}')) AS v(email)",
]


async def main(c, backend):
    for who, e in [
        ("pool-bot", "pii1@x.example"),
        ("pool-bot", "pii4@x.example"),
        ("brid-bot", "bpii2@x.example"),
        ("silo-bot", "secret1@silo.example"),
    ]:
        if who.startswith(("brid", "silo")) and backend != "postgresql":
            continue
        t = who.split("-")[0]
        for q in Q:
            r = await c.call(who, "run_sql", tenant=t, sql=q.format(e=e))
            print(who, e, "|", q[:60], "->", json.dumps(r.get("result", r.get("error")))[-160:])
        r = await c.call(
            who,
            "run_sql",
            tenant=t,
            sql="SELECT count(*) AS n FROM customers NATURAL JOIN (SELECT 'nope@x' AS email) d",
        )
        print(who, "control nope ->", json.dumps(r.get("result", r.get("error")))[-80:])
