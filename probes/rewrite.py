"""Print what the guard makes of statements (argv or stdin lines), as a tenant_agent on pro."""

import sys
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane.visibility import visible_schema
from paybill.server.executors.dataplane.sqlguard import guard_sql

schema = visible_schema(Role.TENANT_AGENT, {"data.read", "data.sql"})
d = "sqlite" if "--sqlite" in sys.argv else "postgres"
for sql in [a for a in sys.argv[1:] if a != "--sqlite"] or sys.stdin.read().splitlines():
    try:
        g = guard_sql(sql, {}, schema=schema, dialect=d, allow_write=False, max_rows=100)
        print("OK  ", sql, "\n  => ", g.sql, g.params)
    except Exception as e:
        print("REJ ", sql, "\n  => ", type(e).__name__, getattr(e, "details", ""), str(e)[:150])
