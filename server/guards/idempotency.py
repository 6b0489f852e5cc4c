"""Idempotent retries: a mutating call with a known key gets its first result again."""

from __future__ import annotations

from typing import Any

from paybill.server.domain import idempotency
from paybill.server.guards.call import Answer, Call, Outcome


def _normalised(call: Call) -> dict[str, Any]:
    """The validated arguments, so explicit defaults (dry_run=false) match omitted ones."""
    normalised: dict[str, Any] = call.arguments.model_dump(mode="json")
    return normalised


def replay(call: Call) -> Answer | None:
    """The stored result for the call's key, or None to run the call.

    Raises:
        Conflict: the key was used with other arguments.
    """
    key = call.idempotency_key
    if key is None:
        return None
    caller, tool = call.caller.id, call.spec.name
    idempotency.lock(call.session, caller, tool, key)
    stored = idempotency.replay(call.session, caller, tool, key, _normalised(call))
    if stored is None:
        return None
    outcome = Outcome(stored["payload"], is_error=stored["is_error"])
    return Answer(outcome, rule="idempotent replay", audited_as="replayed")


def remember(call: Call, payload: dict[str, Any], *, is_error: bool) -> None:
    """Store the call's result under its key, for replays."""
    key = call.idempotency_key
    if key is None:
        return
    idempotency.remember(
        call.session,
        call.caller.id,
        call.spec.name,
        key,
        _normalised(call),
        {"payload": payload, "is_error": is_error},
    )


def forget(call: Call) -> None:
    """Free the key this call claimed before its tenant work: nothing to replay."""
    key = call.idempotency_key
    if key is not None and call.claimed:
        idempotency.forget(call.session, call.caller.id, call.spec.name, key)
