"""Authenticate guard: only an active principal the transport vouches for gets through."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from paybill.server.core.errors import Unauthenticated
from paybill.server.core.vocabulary import Role
from paybill.server.domain.principals import add_principal
from paybill.server.guards.authenticate import authenticate
from paybill.server.guards.call import ANONYMOUS
from paybill.server.store import Principal
from paybill.server.store.database import Database
from tests.support.guard_calls import make_call


@pytest.mark.parametrize(
    ("situation", "principal", "expected"),
    [
        ("an active principal", "ops", None),
        ("no principal at all", None, "No principal"),
        ("an empty name", "", "No principal"),
        ("an unknown principal", "ghost", "'ghost' is unknown or disabled"),
        ("a disabled principal", "retired", "'retired' is unknown or disabled"),
    ],
)
def test_authenticate(store: Database, situation, principal, expected) -> None:
    with Session(store.engine) as session:
        add_principal(session, "ops", Role.OPERATOR)
        add_principal(session, "retired", Role.OPERATOR)
        session.scalar(select(Principal).where(Principal.name == "retired")).disabled = True
        session.flush()
        call = make_call(caller=ANONYMOUS, session=session, principal=principal, validated=False)
        if expected is None:
            authenticate(call)
            assert (call.caller.name, call.caller.role) == ("ops", Role.OPERATOR)
            return
        with pytest.raises(Unauthenticated) as refused:
            authenticate(call)
        assert expected in refused.value.message, situation
        assert call.caller is ANONYMOUS
