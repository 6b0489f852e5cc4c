"""The operator console in a real browser (Debian's Chromium through Playwright) against
`paybill console` on 127.0.0.1, with its embedded worker, on PostgreSQL: an approver approves
a plan change that moves the tenant's data and watches the run finish, rejects an
offboarding; a tenant admin sees only its tenant and cannot decide; forged and session-less
forms are refused; the audit page shows both decisions.

With PAYBILL_CONSOLE_SCREENSHOTS=<dir> it also saves screenshots of the main pages
(docs/console/ holds the committed ones).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.console import paybill_console, terraform_env
from tests.support.served import Served

# Moving a tenant's data to another isolation model needs PostgreSQL.
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

SHOTS = os.environ.get("PAYBILL_CONSOLE_SCREENSHOTS")
RUN_SECONDS = 90


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def log_in(context: BrowserContext, base: str, key: str) -> Page:
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#api_key", key)
    page.click("form button[type=submit]")
    expect(page).to_have_url(f"{base}/approvals")
    return page


def offboard(served: Served, slug: str) -> str:
    asked = served.error(
        "ops", "offboard_tenant", tenant=slug, confirm_slug=slug, reason=f"{slug} leaves"
    )
    return asked["details"]["approval_id"]


def status_of(served: Served, approval_id: str) -> str:
    return served.ok("admin", "get_approval", approval_id=approval_id)["approval"]["status"]


def test_the_console_journey(terraform_served: Served, browser: Browser) -> None:
    served = terraform_served
    plan = served.error("ops", "change_plan", tenant="acme", plan="pro")
    assert plan["code"] == "APPROVAL_REQUIRED"
    plan_id, globex_off = plan["details"]["approval_id"], offboard(served, "globex")
    size = {"width": 1280, "height": 900}
    with paybill_console(terraform_env(served)) as base:
        boss = browser.new_context(viewport=size)
        page = log_in(boss, base, served.keys["boss"])
        pending = page.locator("table.approvals").first
        expect(pending.locator("tr", has_text=plan_id[:8])).to_contain_text("change_plan")
        expect(pending.locator("tr", has_text=globex_off[:8])).to_contain_text("offboard_tenant")
        shot(page, "approvals")

        page.click(f"a[href='/approvals/{plan_id}']")
        effect = page.locator("section.effect")
        expect(effect.locator("h2")).to_contain_text("isolation_move")
        expect(effect).to_contain_text("pooled → bridge")
        expect(effect.locator("table.tables")).to_contain_text("customers")
        expect(effect.locator(".tp-label").first).to_be_visible()
        # The saved Terraform plan: acme's resource replaced, coloured as a destroy, and the
        # attribute that changes shown before and after.
        expect(effect.locator(".counts")).to_contain_text("+1 to add")
        expect(effect.locator(".counts")).to_contain_text("-1 to destroy")
        replaced = effect.locator("table.plan tr.destroy", has_text="null_resource.this")
        expect(replaced).to_contain_text("delete, create")
        expect(replaced.locator("td.before", has_text="pooled")).to_be_visible()
        expect(replaced.locator("td.after", has_text="bridge")).to_be_visible()
        shot(page, "approval")
        page.fill("#comment", "Checked the move: acme to bridge.")
        page.click("button.approve")
        expect(page).to_have_url(re.compile(rf"{re.escape(base)}/runs/[0-9a-f-]{{36}}$"))
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=RUN_SECONDS * 1000)
        expect(page.locator("main")).to_contain_text("applied the saved plan")
        shot(page, "run")
        tenant = served.ok("admin", "get_tenant", tenant="acme")
        assert (tenant["plan"], tenant["isolation"]) == ("pro", "bridge")

        page.goto(f"{base}/approvals/{globex_off}")
        page.fill("#comment", "The customer renewed; keep globex.")
        page.click("button.reject")
        expect(page.locator("#approval-status")).to_have_text("rejected")
        assert status_of(served, globex_off) == "rejected"

        acme_off = offboard(served, "acme")
        acme_admin = browser.new_context(viewport=size)
        mine = log_in(acme_admin, base, served.keys["acme-admin"])
        mine.goto(f"{base}/tenants")
        expect(mine.locator("main")).to_contain_text("acme")
        expect(mine.locator("main")).not_to_contain_text("globex")
        other = mine.goto(f"{base}/tenants/globex")
        assert other is not None and other.status in (403, 404)
        hidden = mine.goto(f"{base}/approvals/{globex_off}")
        assert hidden is not None and hidden.status == 404
        mine.goto(f"{base}/approvals/{acme_off}")
        expect(mine.locator("section.effect")).to_be_visible()
        expect(mine.locator("button.approve")).to_have_count(0)

        form = {"csrf": "forged", "decision": "approve", "comment": "let me in"}
        forged = acme_admin.request.post(
            f"{base}/approvals/{acme_off}/decide", form=form, headers={"origin": base}
        )
        assert forged.status == 403 and "DENIED" in forged.text()
        anonymous = browser.new_context()
        no_session = anonymous.request.post(
            f"{base}/approvals/{acme_off}/decide", form=form, headers={"origin": base}
        )
        assert no_session.status == 401 and "UNAUTHENTICATED" in no_session.text()
        assert status_of(served, acme_off) == "pending"

        page.goto(f"{base}/audit?tool=decide_approval")
        expect(page.locator("#chain-status")).to_contain_text("Chain verified")
        decisions = page.locator("table.audit tbody tr")
        expect(decisions).to_have_count(2)
        expect(decisions.first).to_contain_text("boss")
        expect(decisions.nth(0)).to_contain_text("reject")  # newest first
        expect(decisions.nth(1)).to_contain_text("approve")
        shot(page, "audit")
        if SHOTS:
            admin = log_in(browser.new_context(viewport=size), base, served.keys["admin"])
            for name in ("tenants", "principals"):
                admin.goto(f"{base}/{name}")
                shot(admin, name)
            admin.goto(f"{base}/tenants/acme")
            shot(admin, "tenant")
