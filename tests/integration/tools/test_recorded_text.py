"""Recorded arguments (audit log, approvals) are marked as untrusted tenant data and redacted
by the data tools' column rules: hidden and PII columns by role and plan."""

from __future__ import annotations

from typing import Any

from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.executors.dataplane.visibility import visible_schema
from paybill.tools.redaction import REDACTED, visible_arguments
from tests.support.served import Served

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "country": "GB"}
MARKER = "untrusted_tenant_data"


def _globex_admin(served: Served) -> None:
    with served.services.db.session() as session:
        add_principal(session, "globex-admin", Role.TENANT_ADMIN, "globex")


def _events(served: Served, reader: str, tool: str) -> tuple[dict[str, Any], list[dict]]:
    log = served.ok(reader, "get_audit_log", tenant="globex", limit=200)
    return log, [e for e in log["events"] if e["tool"] == tool]


def _enterprise(served: Served) -> None:
    """globex moves to enterprise (data.pii) and keeps its pooled storage."""
    served.ok("admin", "change_plan", tenant="globex", plan="enterprise", migrate_isolation=False)
    served.drain()


def test_a_refused_write_keeps_no_pii_for_readers(served: Served) -> None:
    """globex is on pro (no data.pii): an email sent to it is refused, but its arguments are
    on record; no reader sees the email, as query_table would show it to none of them."""
    _globex_admin(served)
    for row in (ADA, {"name": "x", "tenant_id": "someone-else"}):
        served.error("admin", "insert_rows", tenant="globex", table="customers", rows=[row])
    for reader in ("globex-admin", "ops", "boss", "admin"):
        log, events = _events(served, reader, "insert_rows")
        assert log["content_trust"] == MARKER and "[redacted]" in log["notice"]
        rows = [row for event in events for row in event["arguments"]["rows"]]
        assert {"name": "Ada Lovelace", "email": REDACTED, "country": "GB"} in rows, reader
        assert {"name": "x", "tenant_id": REDACTED} in rows, reader
        assert "ada@example.com" not in str(log) and "someone-else" not in str(log)


def test_pii_shows_to_the_roles_the_data_tools_show_it_to(served: Served) -> None:
    _globex_admin(served)
    _enterprise(served)
    served.ok("admin", "insert_rows", tenant="globex", table="customers", rows=[ADA])
    seen = {}
    for reader in ("globex-admin", "admin", "ops", "boss"):
        _, events = _events(served, reader, "insert_rows")
        seen[reader] = events[0]["arguments"]["rows"][0]["email"]
    assert seen == {
        "globex-admin": "ada@example.com",
        "admin": "ada@example.com",
        "ops": REDACTED,
        "boss": REDACTED,
    }


def test_statements_literals_and_params_are_redacted(served: Served) -> None:
    served.ok(
        "admin",
        "run_sql",
        tenant="globex",
        sql="SELECT name FROM customers WHERE country = 'GB' AND name = :who",
        params={"who": "Ada Lovelace"},
    )
    _, events = _events(served, "ops", "run_sql")
    arguments = events[0]["arguments"]
    assert arguments["sql"] == (
        f"SELECT name FROM customers WHERE country = '{REDACTED}' AND name = :who"
    )
    assert arguments["params"] == {"who": REDACTED}


def test_approvals_are_marked_and_redacted_and_run_with_the_real_values(served: Served) -> None:
    _enterprise(served)
    served.ok("admin", "insert_rows", tenant="globex", table="customers", rows=[ADA])
    pending = served.error(
        "admin",
        "update_rows",
        tenant="globex",
        table="customers",
        values={"email": "new@example.com", "country": "FR"},
    )
    assert pending["code"] == "APPROVAL_REQUIRED"
    listed = served.ok("boss", "list_approvals")
    assert listed["content_trust"] == MARKER
    assert listed["approvals"][0]["arguments"]["values"] == {"email": REDACTED, "country": "FR"}
    decided = served.ok(
        "boss",
        "decide_approval",
        approval_id=pending["details"]["approval_id"],
        decision="approve",
        reason="fine by me",
    )
    assert decided["content_trust"] == MARKER
    assert decided["approval"]["arguments"]["values"] == {"email": REDACTED, "country": "FR"}
    assert decided["result"]["rows_affected"] == 1
    assert "new@example.com" not in str(decided)
    mine = served.ok("admin", "list_approvals", status="executed")["approvals"][0]
    assert mine["arguments"]["values"]["email"] == "new@example.com"  # a PII reader
    # The approved call ran with what was asked for, not with the redacted copy.
    rows = served.ok("admin", "query_table", tenant="globex", table="customers")["rows"]
    assert ["Ada Lovelace", "new@example.com", "FR"] in [row[1:4] for row in rows]


def test_a_reader_who_may_see_pii_sees_the_values() -> None:
    arguments = {"table": "customers", "rows": [ADA], "sql": "x = 'a'"}
    wide = visible_schema(Role.PLATFORM_ADMIN, {"data.pii"})
    assert visible_arguments("insert_rows", arguments, wide, sees_all=True) == arguments
    narrow = visible_schema(Role.TENANT_ADMIN, set())
    redacted = visible_arguments("insert_rows", arguments, narrow, sees_all=False)
    assert redacted["rows"] == [{**ADA, "email": REDACTED}]
    unknown_table = visible_arguments("update_rows", {"table": "nope", "values": ADA}, wide, True)
    assert unknown_table["values"] == dict.fromkeys(ADA, REDACTED)
    quoted = visible_arguments(
        "run_sql", {"sql": "a = 'it''s' AND b = $x$secret$x$ AND c = E'\\'q'"}, narrow, False
    )
    assert "secret" not in quoted["sql"] and "it" not in quoted["sql"] and "q'" not in quoted["sql"]
    numbers = visible_arguments(
        "run_sql", {"sql": "SELECT c1 FROM t WHERE phone = 4915112345 AND x > 1.5e3"}, narrow, False
    )
    assert numbers["sql"] == (f"SELECT c1 FROM t WHERE phone = {REDACTED} AND x > {REDACTED}")
