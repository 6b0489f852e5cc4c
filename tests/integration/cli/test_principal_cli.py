"""`paybill principal disable|rotate-key|list` on a real store: the change, the audit event
(principal ``cli``), and what the old and new keys can do afterwards."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from paybill.server.cli.main import cli
from paybill.server.core.errors import Unauthenticated
from paybill.server.domain.principals import authenticate
from paybill.server.store import AuditEvent
from tests.support.served import Served


def paybill(served: Served, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=served.env())


def events(served: Served, tool: str) -> list[AuditEvent]:
    with served.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.tool == tool)))


def authenticates(served: Served, key: str) -> str:
    with served.services.db.session() as session:
        return authenticate(session, key).name


def test_rotate_key_refuses_the_old_key_and_accepts_the_new(served: Served) -> None:
    old = served.keys["acme-bot"]
    assert authenticates(served, old) == "acme-bot"
    rotated = paybill(served, "principal", "rotate-key", "acme-bot")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.strip().rsplit(" ", 1)[1]
    assert new.startswith("pb_") and new != old
    with pytest.raises(Unauthenticated):
        authenticates(served, old)
    assert authenticates(served, new) == "acme-bot"
    [event] = events(served, "principal.rotate_key")
    assert (event.principal, event.decision, event.outcome) == ("cli", "allowed", "ok")
    assert event.arguments["name"] == "acme-bot"
    assert new not in json.dumps(event.arguments)


def test_disable_stops_every_call_and_is_audited(served: Served) -> None:
    key = served.keys["acme-bot"]
    disabled = paybill(served, "principal", "disable", "acme-bot")
    assert disabled.exit_code == 0, disabled.output
    assert served.error("acme-bot", "list_plans")["code"] == "UNAUTHENTICATED"
    with pytest.raises(Unauthenticated):
        authenticates(served, key)
    # A disabled principal gets no new key: refused, audited, nothing changed.
    again = paybill(served, "principal", "rotate-key", "acme-bot")
    assert again.exit_code == 1
    assert "is disabled" in str(again.exception)
    [allowed] = events(served, "principal.disable")
    assert (allowed.principal, allowed.decision) == ("cli", "allowed")
    [denied] = events(served, "principal.rotate_key")
    assert (denied.decision, denied.error_code) == ("denied", "INVALID_INPUT")


def test_unknown_principal_is_refused_and_audited(served: Served) -> None:
    result = paybill(served, "principal", "disable", "nobody")
    assert result.exit_code == 1
    [denied] = events(served, "principal.disable")
    assert (denied.decision, denied.error_code) == ("denied", "NOT_FOUND")


def test_list_shows_tenant_slugs(served: Served) -> None:
    listed = paybill(served, "principal", "list")
    row = next(line for line in listed.output.splitlines() if line.startswith("acme-bot"))
    assert row.split()[:3] == ["acme-bot", "tenant_agent", "acme"]
    rows = json.loads(paybill(served, "principal", "list", "--json").output)
    assert {r["name"]: r["tenant"] for r in rows}["acme-admin"] == "acme"
    assert {r["name"]: r["tenant"] for r in rows}["boss"] is None
