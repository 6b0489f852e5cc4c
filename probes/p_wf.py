import json, re


async def main(c, backend):
    for t in ["other", "pool"]:
        log = await c.call("ops", "get_audit_log", tenant=t, limit=200)
        ids = sorted(
            set(re.findall(r'"(?:workflow_id|run_id|id)": "([0-9a-f-]{36})"', json.dumps(log)))
        )
        for rid in ids:
            for who in ["billing", "pool-bot", "pool-admin", "ops"]:
                r = await c.call(who, "get_workflow", workflow_id=rid)
                if r["_is_error"]:
                    continue
                s = json.dumps(r)
                m = re.findall(r".{80}/(?:tmp|work|root|home)/.{60}", s)
                print(who, t, rid[:8], r.get("kind"), "paths:", m[:2])
