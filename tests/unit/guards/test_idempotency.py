"""Idempotency guard: a known key with the same arguments answers with the first result;
with other arguments it is a CONFLICT; dry runs and calls without a key are never replayed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from paybill.server.core.errors import Conflict
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.guards.authenticate import load_caller
from paybill.server.guards.idempotency import remember, replay
from paybill.server.store.database import Database
from tests.support.guard_calls import make_call, shipped

FIRST = {"tenant": "acme", "reason": "maintenance", "idempotency_key": "k-1"}
RESULT = {"to_state": "suspended"}


@pytest.mark.parametrize(
    ("situation", "arguments", "expected"),
    [
        ("same key, same arguments", FIRST, "replayed"),
        ("explicit defaults match omitted ones", {**FIRST, "dry_run": False}, "replayed"),
        ("same key, other arguments", {**FIRST, "reason": "other"}, "CONFLICT"),
        ("another key", {**FIRST, "idempotency_key": "k-2"}, None),
        ("no key", {"tenant": "acme", "reason": "maintenance"}, None),
        ("a dry run with the key", {**FIRST, "dry_run": True}, None),
    ],
)
def test_replay(store: Database, situation: str, arguments: dict, expected: str | None) -> None:
    with Session(store.engine) as session:
        add_principal(session, "ops", Role.OPERATOR)
        caller = load_caller(session, "ops")
        first = make_call(
            shipped("suspend_tenant"), caller=caller, session=session, arguments=FIRST
        )
        assert replay(first) is None
        remember(first, RESULT, is_error=False)
        again = make_call(
            shipped("suspend_tenant"), caller=caller, session=session, arguments=arguments
        )
        if expected == "CONFLICT":
            with pytest.raises(Conflict) as refused:
                replay(again)
            assert refused.value.details == {"idempotency_key": "k-1"}
            return
        answer = replay(again)
        if expected is None:
            assert answer is None, situation
            return
        assert answer is not None, situation
        assert (answer.outcome.payload, answer.outcome.is_error) == (RESULT, False)
        assert (answer.rule, answer.audited_as) == ("idempotent replay", "replayed")


def test_dry_runs_are_never_remembered(store: Database) -> None:
    with Session(store.engine) as session:
        add_principal(session, "ops", Role.OPERATOR)
        caller = load_caller(session, "ops")
        dry = make_call(
            shipped("suspend_tenant"),
            caller=caller,
            session=session,
            arguments={**FIRST, "dry_run": True},
        )
        remember(dry, RESULT, is_error=False)
        real = make_call(shipped("suspend_tenant"), caller=caller, session=session, arguments=FIRST)
        assert replay(real) is None
