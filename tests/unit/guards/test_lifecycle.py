"""Lifecycle guard: a tool's lifecycle action, and reads and writes of tenant data, only in
the states that allow them."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import InvalidInput, InvalidTransition
from paybill.server.executors.dataplane.sqlguard import GuardedSql
from paybill.server.guards.lifecycle import check_action, check_data_state
from paybill.server.guards.spec import DataAccess
from tests.support.guard_calls import make_call, spec, tenant


@pytest.mark.parametrize(
    ("action", "state", "expected"),
    [
        ("suspend", "active", None),
        ("suspend", "suspended", "INVALID_TRANSITION"),
        ("resume", "suspended", None),
        ("resume", "active", "INVALID_TRANSITION"),
        ("update", "active", None),
        ("update", "suspended", "INVALID_TRANSITION"),
        ("update", "updating", "INVALID_TRANSITION"),
        ("offboard", "failed", None),
        ("offboard", "archived", "INVALID_TRANSITION"),
        (None, "archived", None),
    ],
)
def test_lifecycle_action(action: str | None, state: str, expected: str | None) -> None:
    call = make_call(spec(lifecycle_action=action), target=tenant(state))
    if expected is None:
        check_action(call)
        return
    with pytest.raises(InvalidTransition) as refused:
        check_action(call)
    assert refused.value.details["action"] == action
    assert refused.value.details["state"] == state


def test_an_unknown_lifecycle_action_is_a_spec_error() -> None:
    with pytest.raises(InvalidInput):
        check_action(make_call(spec(lifecycle_action="explode"), target=tenant()))


def test_the_refusal_lists_what_is_allowed_now() -> None:
    with pytest.raises(InvalidTransition) as refused:
        check_action(make_call(spec(lifecycle_action="resume"), target=tenant("active")))
    assert refused.value.message == (
        "Cannot resume tenant 'acme' while it is active; actions allowed now: suspend, "
        "update, offboard."
    )


READ = DataAccess("read", dry_run="read")
WRITE = DataAccess("write", dry_run="write")
COUNTED_WRITE = DataAccess("write", dry_run="read")  # update_rows, delete_rows
STATEMENT = DataAccess("statement", dry_run=None)  # run_sql


@pytest.mark.parametrize(
    ("situation", "access", "statement", "dry_run", "state", "refused_as"),
    [
        ("read, active", READ, None, False, "active", None),
        ("read, updating", READ, None, False, "updating", None),
        ("read, archived", READ, None, False, "archived", None),
        ("read, suspended", READ, None, False, "suspended", "read data"),
        ("read, offboarding", READ, None, False, "offboarding", "read data"),
        ("write, active", WRITE, None, False, "active", None),
        ("write, updating", WRITE, None, False, "updating", "write data"),
        ("write, archived", WRITE, None, False, "archived", "write data"),
        ("write dry run, archived", WRITE, None, True, "archived", "write data"),
        ("counted write dry run, archived", COUNTED_WRITE, None, True, "archived", None),
        ("counted write dry run, suspended", COUNTED_WRITE, None, True, "suspended", "read data"),
        ("read statement, archived", STATEMENT, "read", False, "archived", None),
        ("write statement, archived", STATEMENT, "write", False, "archived", "write data"),
        ("statement dry run, suspended", STATEMENT, "write", True, "suspended", None),
        ("no data access, suspended", None, None, False, "suspended", None),
    ],
)
def test_data_states(situation, access, statement, dry_run, state, refused_as) -> None:
    call = make_call(
        spec(data_access=access),
        target=tenant(state),
        arguments={"tenant": "acme", "dry_run": dry_run},
    )
    if statement is not None:
        call.sql = GuardedSql("-- validated", {}, statement, frozenset())
    if refused_as is None:
        check_data_state(call)
        return
    with pytest.raises(InvalidTransition) as refused:
        check_data_state(call)
    assert refused.value.details["action"] == refused_as, situation
    assert refused.value.message.startswith(f"Cannot {refused_as} tenant 'acme' while it is")
