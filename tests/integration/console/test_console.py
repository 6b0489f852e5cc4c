"""The operator console over a served store (Starlette's TestClient): sessions, CSRF,
headers, role visibility, four-eyes, typed errors; every action through the pipeline."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from paybill.server.console import admin
from paybill.server.console.gateway import Gateway
from paybill.server.console.security import CSP
from paybill.server.core.errors import Unauthenticated
from paybill.server.domain.principals import authenticate
from paybill.server.store import Approval, AuditEvent
from tests.support.console import console_client, csrf_of, login
from tests.support.served import Served

# The console is a layer over the pipeline; the store's backend makes no difference to it.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

OFFBOARD = {"tenant": "globex", "confirm_slug": "globex", "reason": "customer left"}
ORIGIN = {"origin": "http://testserver"}
PAGES = ["/tenants", "/tenants/acme", "/runs", "/approvals", "/audit", "/principals"]


def offboarding(served: Served, requester: str = "ops") -> str:
    return served.error(requester, "offboard_tenant", **OFFBOARD)["details"]["approval_id"]


def status_of(served: Served, approval_id: str) -> str:
    with served.services.db.session() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        return approval.status.value


def last_events(served: Served, n: int = 1) -> list[AuditEvent]:
    with served.services.db.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(n)
        return list(session.scalars(query))


def decide(client: TestClient, approval_id: str, decision: str, csrf: str | None = None):
    page = client.get(f"/approvals/{approval_id}")
    token = csrf if csrf is not None else csrf_of(page.text)
    return client.post(
        f"/approvals/{approval_id}/decide",
        data={"csrf": token, "decision": decision, "comment": "checked the effect"},
        headers=ORIGIN,
    )


def test_every_page_renders_with_strict_headers(served: Served, console: TestClient) -> None:
    login(console, served.keys["admin"])
    run = served.ok("admin", "list_workflows")["workflows"][0]["id"]
    for path in [*PAGES, f"/runs/{run}", "/static/console.css", "/nowhere", "/login"]:
        page = console.get(path)
        expected = {"/nowhere": 404, "/login": 303}.get(path, 200)  # logged in: /login moves on
        assert page.status_code == expected, path
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
    assert "<script" not in console.get("/tenants").text.replace(
        '<script src="/static/console.js" defer></script>', ""
    )


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(
    served: Served, console: TestClient
) -> None:
    page = console.get("/login")
    answer = console.post(
        "/login",
        data={"api_key": served.keys["boss"], "csrf": csrf_of(page.text)},
        headers=ORIGIN,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/approvals")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "paybill_console=" in c)
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert f"max-age={served.services.settings.console_session_seconds}" in flags
    assert "secure" not in flags.replace("samesite", "")  # plain http on 127.0.0.1
    assert served.keys["boss"] not in cookie
    approvals = console.get("/approvals")
    assert approvals.status_code == 200 and "boss" in approvals.text
    copied = console.cookies.get("paybill_console")
    out = console.post("/logout", data={"csrf": csrf_of(approvals.text)}, headers=ORIGIN)
    assert out.status_code == 303
    assert console.get("/approvals").headers["location"] == "/login"
    # A copy of the cookie taken before the logout no longer works: it ended server-side.
    console.cookies.set("paybill_console", copied)
    assert console.get("/approvals").headers["location"] == "/login"
    # Logging in again works at once.
    page = console.get("/login")
    again = console.post(
        "/login",
        data={"api_key": served.keys["boss"], "csrf": csrf_of(page.text)},
        headers=ORIGIN,
    )
    assert again.status_code == 303
    assert console.get("/approvals").status_code == 200


def test_a_wrong_key_is_refused_audited_and_rate_limited(
    served: Served, console: TestClient
) -> None:
    page = console.get("/login")
    wrong = console.post(
        "/login", data={"api_key": "pb_nope", "csrf": csrf_of(page.text)}, headers=ORIGIN
    )
    assert wrong.status_code == 401
    assert "invalid or revoked" in wrong.text and "paybill_console=" not in str(wrong.headers)
    event = last_events(served)[0]
    assert (event.tool, event.rule, event.decision.value) == (
        "<console>",
        "console:UNAUTHENTICATED",
        "denied",
    )
    assert "pb_nope" not in str(event.arguments) and event.arguments["key_sha256"]
    codes = []
    for _ in range(served.services.settings.console_login_per_minute + 1):
        page = console.get("/login")
        codes.append(
            console.post(
                "/login", data={"api_key": "x", "csrf": csrf_of(page.text)}, headers=ORIGIN
            ).status_code
        )
    assert (
        codes[-1] == 429
        and "QUOTA_EXCEEDED"
        in console.post(
            "/login",
            data={"api_key": "x", "csrf": csrf_of(console.get("/login").text)},
            headers=ORIGIN,
        ).text
    )


def test_login_without_its_form_token_is_refused(served: Served, console: TestClient) -> None:
    answer = console.post("/login", data={"api_key": served.keys["admin"]}, headers=ORIGIN)
    assert answer.status_code == 403 and "paybill_console=" not in str(answer.headers)


def test_pages_without_a_session_go_to_login_and_forms_are_refused(
    served: Served, console: TestClient
) -> None:
    approval_id = offboarding(served)
    for path in PAGES:
        answer = console.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login"), path
    refused = console.post(
        f"/approvals/{approval_id}/decide",
        data={"csrf": "x", "decision": "approve", "comment": "no session"},
        headers=ORIGIN,
    )
    assert refused.status_code == 401 and "UNAUTHENTICATED" in refused.text
    assert status_of(served, approval_id) == "pending"
    assert last_events(served)[0].rule == "console:UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [
        ("forged", ORIGIN),
        ("", ORIGIN),
        (None, {"origin": "http://evil.example"}),
        (None, {"origin": "null", "sec-fetch-site": "cross-site"}),
    ],
    ids=["wrong token", "no token", "other origin", "cross-site"],
)
def test_a_forged_form_changes_nothing_and_is_audited(
    served: Served, console: TestClient, csrf: str | None, headers: dict[str, str]
) -> None:
    approval_id = offboarding(served)
    login(console, served.keys["boss"])
    token = csrf if csrf is not None else csrf_of(console.get("/approvals").text)
    answer = console.post(
        f"/approvals/{approval_id}/decide",
        data={"csrf": token, "decision": "approve", "comment": "forged"},
        headers=headers,
    )
    assert answer.status_code == 403 and "DENIED" in answer.text
    assert status_of(served, approval_id) == "pending"
    event = last_events(served)[0]
    assert (event.principal, event.tool, event.rule) == ("boss", "<console>", "console:DENIED")


def test_a_foreign_host_is_refused(served: Served, console: TestClient) -> None:
    login(console, served.keys["boss"])
    page = console.get("/approvals")
    foreign = {"host": "evil.example"}
    assert console.get("/approvals", headers=foreign).status_code == 421
    answer = console.post("/logout", data={"csrf": csrf_of(page.text)}, headers=foreign)
    assert answer.status_code == 421 and answer.headers["x-content-type-options"] == "nosniff"
    assert console.get("/approvals").status_code == 200  # the session was not ended


def test_an_approver_rejects_an_offboarding(served: Served, console: TestClient) -> None:
    approval_id = offboarding(served)
    login(console, served.keys["boss"])
    listing = console.get("/approvals").text
    assert approval_id[:8] in listing
    page = console.get(f"/approvals/{approval_id}").text
    assert 'value="approve"' in page and "offboard_tenant" in page and "tenant-provided" in page
    assert "effect-offboarding" in page and "30 days of retention" in page
    answer = decide(console, approval_id, "reject")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/approvals/{approval_id}?decided=rejected"
    assert status_of(served, approval_id) == "rejected"
    event = last_events(served)[0]
    assert (event.principal, event.tool, event.decision.value) == (
        "boss",
        "decide_approval",
        "allowed",
    )
    again = decide(console, approval_id, "reject", csrf=csrf_of(page))
    assert again.status_code == 409 and "CONFLICT" in again.text
    assert last_events(served)[0].decision.value == "denied"
    # The banner states the stored status, whatever a crafted link says.
    spoofed = console.get(f"/approvals/{approval_id}?decided=approved").text
    assert "Decision recorded" in spoofed
    assert spoofed.split("Decision recorded")[1].split("</p>")[0].count("approved") == 0


def test_the_requester_gets_no_form_and_is_refused(served: Served, console: TestClient) -> None:
    approval_id = offboarding(served, requester="admin")
    login(console, served.keys["admin"])
    page = console.get(f"/approvals/{approval_id}").text
    assert 'value="approve"' not in page and "four-eyes" in page
    answer = decide(console, approval_id, "approve", csrf=csrf_of(page))
    assert answer.status_code in (403, 409) and "requester" in answer.text
    assert status_of(served, approval_id) == "pending"
    event = last_events(served)[0]
    assert (event.tool, event.decision.value) == ("decide_approval", "denied")


def test_an_expired_or_unknown_approval_is_a_typed_error(
    served: Served, console: TestClient
) -> None:
    approval_id = offboarding(served)
    with served.services.db.session() as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        approval.expires_at = approval.created_at - timedelta(seconds=1)
    login(console, served.keys["boss"])
    page = console.get(f"/approvals/{approval_id}").text
    expired = decide(console, approval_id, "approve", csrf=csrf_of(page))
    assert expired.status_code >= 400 and "Traceback" not in expired.text
    assert status_of(served, approval_id) != "executed"
    assert last_events(served)[0].decision.value == "denied"
    unknown = console.get("/approvals/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404 and "NOT_FOUND" in unknown.text
    malformed = console.get("/approvals/../../etc")
    assert malformed.status_code == 404


def test_a_tenant_admin_sees_only_its_tenant_and_cannot_decide(
    served: Served, console: TestClient
) -> None:
    globex = offboarding(served)
    acme = served.error(
        "ops", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="moving out"
    )["details"]["approval_id"]
    login(console, served.keys["acme-admin"])
    tenants = console.get("/tenants").text
    assert "/tenants/acme" in tenants and "globex" not in tenants
    assert console.get("/tenants/globex").status_code in (403, 404)
    assert console.get(f"/approvals/{globex}").status_code == 404
    assert globex[:8] not in console.get("/approvals").text
    page = console.get(f"/approvals/{acme}")
    assert page.status_code == 200 and 'value="approve"' not in page.text
    refused = decide(console, acme, "approve", csrf=csrf_of(page.text))
    assert refused.status_code == 403 and "DENIED" in refused.text
    assert status_of(served, acme) == "pending"
    assert console.get("/principals").status_code == 403
    page = console.get("/tenants").text
    disable = console.post("/principals/ops/disable", data={"csrf": csrf_of(page)}, headers=ORIGIN)
    assert disable.status_code == 403 and "DENIED" in disable.text
    event = last_events(served)[0]
    assert (event.principal, event.tool, event.decision.value) == (
        "acme-admin",
        "disable_principal",
        "denied",
    )
    assert served.ok("ops", "list_plans")  # ops is still active
    assert "globex" not in console.get("/runs").text


def test_a_role_without_approvals_lands_on_a_page_not_an_error(
    served: Served, console: TestClient
) -> None:
    login(console, served.keys["billing"])
    page = console.get("/approvals")
    assert page.status_code == 200 and "not shown to your role" in page.text
    assert console.get("/tenants").status_code == 200


def test_a_sql_write_approval_shows_statement_rows_and_keys(
    served: Served, console: TestClient
) -> None:
    rows = [{"name": "<i>c0</i>", "country": "DE"}, {"name": "c1", "country": "DE"}]
    served.ok("acme-admin", "insert_rows", tenant="acme", table="customers", rows=rows)
    sql = "DELETE FROM customers WHERE country = 'DE'"
    pending = served.error("admin", "run_sql", tenant="acme", sql=sql)
    login(console, served.keys["boss"])
    page = console.get(f"/approvals/{pending['details']['approval_id']}").text
    effect = page[page.index('<section class="card effect') :]
    assert "effect-sql_write" in effect and '<pre class="sql">DELETE FROM customers' in effect
    assert '<dd class="rows"><strong>2</strong></dd>' in effect
    assert '<table class="sample">' in effect and "<th>id</th>" in effect
    assert "built-in method" not in page


def test_tenant_text_is_escaped_and_labelled(served: Served, console: TestClient) -> None:
    served.ok("ops", "create_tenant", slug="evil", name="<script>alert(1)</script>", plan="free")
    login(console, served.keys["admin"])
    page = console.get("/tenants").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "tenant-provided" in page


def test_no_traceback_or_server_path_reaches_a_page(
    served: Served, console: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(console, served.keys["admin"])

    async def broken(*_args: object, **_kwargs: object) -> dict[str, object]:
        raise RuntimeError(f"boom in {served.services.settings.data_dir}/secret.py")

    monkeypatch.setattr(Gateway, "call", broken)
    with console_client(served, raise_server_exceptions=False) as fresh:
        fresh.cookies = console.cookies
        page = fresh.get("/tenants")
    assert page.status_code == 500 and "INTERNAL" in page.text and "reference" in page.text
    assert "boom" not in page.text and str(served.services.settings.data_dir) not in page.text
    assert "Traceback" not in page.text


def test_principals_rotate_revokes_others_keys_without_showing_one(served: Served) -> None:
    """Another principal's new key is never shown: an admin who saw the approver's key could
    decide their own request as that approver (four-eyes). Only one's own key is shown."""
    with console_client(served) as admin, console_client(served) as ops:
        login(admin, served.keys["admin"])
        login(ops, served.keys["ops"])
        assert ops.get("/tenants").status_code == 200
        page = admin.get("/principals").text
        rotated = admin.post("/principals/ops/rotate", data={"csrf": csrf_of(page)}, headers=ORIGIN)
        assert rotated.status_code == 200
        assert 'id="revoked"' in rotated.text and 'id="new-key"' not in rotated.text
        assert "pb_" not in rotated.text
        assert ops.get("/tenants").headers["location"] == "/login"  # its key was revoked
        with served.services.db.session() as session, pytest.raises(Unauthenticated):
            authenticate(session, served.keys["ops"])  # no new key was issued to anyone
        disabled = admin.post(
            "/principals/ops/disable", data={"csrf": csrf_of(page)}, headers=ORIGIN
        )
        assert disabled.status_code == 303
        assert "disabled" in admin.get("/principals").text
        own = admin.post("/principals/admin/disable", data={"csrf": csrf_of(page)}, headers=ORIGIN)
        assert own.status_code == 400 and "INVALID_INPUT" in own.text
        mine = admin.post("/principals/admin/rotate", data={"csrf": csrf_of(page)}, headers=ORIGIN)
        assert mine.status_code == 200
        key = mine.text.split('id="new-key">')[1].split("<")[0]
        assert key.startswith("pb_")
        assert admin.get("/tenants").headers["location"] == "/login"  # its old key revoked
        login(admin, key)
        assert admin.get("/tenants").status_code == 200
        assert key not in admin.get("/principals").text
    actions = [e.tool for e in last_events(served, 10) if not e.tool.startswith("list_")]
    assert actions[:3] == ["rotate_principal_key", "disable_principal", "disable_principal"]


def test_audit_filters_pages_and_chain_status(
    served: Served, console: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    served.error("acme-bot", "get_audit_log")
    login(console, served.keys["admin"])
    page = console.get("/audit", params={"principal": "acme-bot", "decision": "denied"}).text
    assert "Chain verified" in page
    assert page.count("<td>acme-bot</td>") >= 1 and "<td>ops</td>" not in page
    tool = console.get("/audit", params={"tool": "create_tenant"}).text
    assert "<code>create_tenant</code>" in tool and "<code>get_audit_log</code>" not in tool
    monkeypatch.setattr(admin, "PAGE", 3)
    for _ in range(4):
        served.ok("ops", "list_plans")
    first = console.get("/audit", params={"principal": "ops"}).text
    older = re.search(r'href="(/audit\?[^"]*before_id=\d+)"', first)
    assert older is not None
    second = console.get(html.unescape(older.group(1)))
    assert second.status_code == 200 and "<td>ops</td>" in second.text
    assert "<td>acme-bot</td>" not in second.text  # the filter carried over
    bad = console.get("/audit", params={"before_id": "DROP TABLE"})
    assert bad.status_code == 400 and "INVALID_INPUT" in bad.text
