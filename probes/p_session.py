import json, httpx2

H = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def main(c, backend):
    ka, kb = c.keys["ops"], c.keys["pool-bot"]
    async with httpx2.AsyncClient(timeout=30) as h:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "x", "version": "1"},
            },
        }
        r = await h.post(c.url, headers={**H, "Authorization": f"Bearer {ka}"}, json=init)
        sid = r.headers.get("mcp-session-id")
        print("init A", r.status_code, "sid", bool(sid))
        await h.post(
            c.url,
            headers={
                **H,
                "Authorization": f"Bearer {ka}",
                "mcp-session-id": sid or "",
                "mcp-protocol-version": "2025-06-18",
            },
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        )
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_tenants", "arguments": {}},
        }
        for label, key in [("B with A's session", kb), ("no key with A's session", None)]:
            hd = {**H, "mcp-session-id": sid or "", "mcp-protocol-version": "2025-06-18"}
            if key:
                hd["Authorization"] = f"Bearer {key}"
            r = await h.post(c.url, headers=hd, json=call)
            print(label, r.status_code, r.text[:300].replace("\n", " "))
