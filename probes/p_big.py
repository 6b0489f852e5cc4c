import asyncio, json, time, subprocess, os


def rss():
    out = subprocess.run(
        ["ps", "-C", "paybill", "-o", "pid=,rss="], capture_output=True, text=True
    ).stdout
    return out.split()


async def main(c, backend):
    for n in [int(x) for x in (os.environ.get("BIG_NS") or "8,11,12,13").split(",")]:
        cols = " || ".join(f"c{i}.name" for i in range(n))
        sql = f"SELECT string_agg({cols}, ',') AS s FROM " + ", ".join(
            f"customers c{i}" for i in range(n)
        )
        t0 = time.monotonic()
        task = asyncio.create_task(c.call("pool-bot", "run_sql", tenant="pool", sql=sql))
        peak = 0
        while not task.done():
            r = rss()
            peak = max([peak] + [int(x) for x in r[1::2]])
            await asyncio.sleep(0.1)
        r = task.result()
        print(
            n,
            round(time.monotonic() - t0, 2),
            "s peak rss KB",
            peak,
            json.dumps(r)[:250] if r["_is_error"] else ("OK bytes=%d" % len(json.dumps(r))),
        )
