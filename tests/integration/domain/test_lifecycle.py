"""Every (state, action) pair of the lifecycle, persisted transitions, and concurrency."""

from __future__ import annotations

import threading

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from paybill.server.core.errors import Conflict, InvalidInput, InvalidTransition
from paybill.server.domain.lifecycle import Lifecycle, LifecycleDefinition
from paybill.server.domain.tenants import create_tenant, get_tenant
from paybill.server.store import LifecycleTransition, Tenant
from paybill.server.store.database import Database

# The expected lifecycle, written out by hand (ARCHITECTURE.md section 3) so the packaged
# definition is checked against the design rather than against itself.
ALLOWED = {
    ("requested", "provision"): "provisioning",
    ("provisioning", "provisioned"): "active",
    ("provisioning", "fail"): "failed",
    ("updating", "fail"): "failed",
    ("failed", "retry_provision"): "provisioning",
    ("failed", "retry_update"): "updating",
    ("failed", "rollback_update"): "active",
    ("active", "suspend"): "suspended",
    ("suspended", "resume"): "active",
    ("active", "update"): "updating",
    ("updating", "updated"): "active",
    ("active", "offboard"): "offboarding",
    ("suspended", "offboard"): "offboarding",
    ("failed", "offboard"): "offboarding",
    ("offboarding", "archive"): "archived",
    ("archived", "delete"): "deleted",
}
STATES = [
    "requested",
    "provisioning",
    "active",
    "suspended",
    "updating",
    "failed",
    "offboarding",
    "archived",
    "deleted",
]
ACTIONS = sorted({action for _, action in ALLOWED})


def test_definition_has_exactly_the_designed_states_and_actions(lifecycle: Lifecycle) -> None:
    assert sorted(lifecycle.definition.states) == sorted(STATES)
    assert sorted(lifecycle.definition.actions) == ACTIONS


def _tenant_in(db: Database, lifecycle: Lifecycle, state: str) -> str:
    with db.session() as session:
        tenant = create_tenant(
            session, lifecycle, slug=f"t-{state}", name=state, plan_id="free", actor="test"
        )
        tenant.state = state  # place the tenant directly; the transition is what is tested
    return f"t-{state}"


@pytest.mark.parametrize("state", STATES)
def test_every_action_in_every_state(db: Database, lifecycle: Lifecycle, state: str) -> None:
    slug = _tenant_in(db, lifecycle, state)
    for action in ACTIONS:
        expected = ALLOWED.get((state, action))
        with db.session() as session:
            tenant = get_tenant(session, slug)
            if expected is None:
                with pytest.raises(InvalidTransition) as refused:
                    lifecycle.apply(session, tenant, action, actor="t", reason="table")
                allowed_now = sorted(a for (s, a) in ALLOWED if s == state)
                assert refused.value.details["state"] == state
                assert sorted(refused.value.details["allowed_actions"]) == allowed_now
                session.rollback()
                continue
            record = lifecycle.apply(session, tenant, action, actor="t", reason="table")
            assert (record.from_state, record.to_state) == (state, expected)
            session.rollback()  # undo, so the next action starts from `state` again


def test_transition_is_persisted_with_actor_and_reason(db: Database, lifecycle: Lifecycle) -> None:
    with db.session() as session:
        tenant = create_tenant(
            session, lifecycle, slug="acme", name="Acme", plan_id="pro", actor="alice"
        )
        lifecycle.apply(session, tenant, "provision", actor="alice", reason="onboarding")
    with db.session() as session:
        tenant = get_tenant(session, "acme")
        assert tenant.state == "provisioning"
        assert tenant.version == 2
        history = session.scalars(
            select(LifecycleTransition)
            .where(LifecycleTransition.tenant_id == tenant.id)
            .order_by(LifecycleTransition.id)
        ).all()
        assert [(h.action, h.from_state, h.to_state, h.actor, h.reason) for h in history] == [
            ("create", "", "requested", "alice", "tenant requested"),
            ("provision", "requested", "provisioning", "alice", "onboarding"),
        ]
        assert all(h.created_at.tzinfo is not None for h in history)


def test_refused_transition_names_state_and_allowed_actions(
    db: Database, lifecycle: Lifecycle
) -> None:
    with db.session() as session:
        tenant = create_tenant(session, lifecycle, slug="acme", name="A", plan_id="free", actor="a")
        with pytest.raises(InvalidTransition) as refused:
            lifecycle.apply(session, tenant, "suspend", actor="a", reason="r")
        assert "while it is requested" in refused.value.message
        assert "provision" in refused.value.message
        with pytest.raises(InvalidInput):
            lifecycle.apply(session, tenant, "explode", actor="a", reason="r")
        assert tenant.state == "requested"


def test_stale_tenant_cannot_be_transitioned(db: Database, lifecycle: Lifecycle) -> None:
    slug = _tenant_in(db, lifecycle, "active")
    with db.session() as session:
        stale = get_tenant(session, slug)  # version N, kept after the session ends
    with db.session() as session:
        lifecycle.apply(session, get_tenant(session, slug), "suspend", actor="a", reason="first")
    with db.session() as session:
        stale = session.merge(stale, load=False)
        with pytest.raises(Conflict, match="changed by another request"):
            lifecycle.apply(session, stale, "offboard", actor="b", reason="second")
    with db.session() as session:
        assert get_tenant(session, slug).state == "suspended"


# SQLite takes its write lock at BEGIN, so there transitions simply queue; the race between
# two open transactions exists only on PostgreSQL, where the version column decides it.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_transitions_cannot_both_win(db: Database, lifecycle: Lifecycle) -> None:
    slug = _tenant_in(db, lifecycle, "active")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(action: str) -> None:
        try:
            with db.session() as session:
                tenant = get_tenant(session, slug)
                barrier.wait(timeout=10)  # both have read version N before either writes
                lifecycle.apply(session, tenant, action, actor=action, reason="race")
            outcomes[action] = "won"
        except Conflict:
            outcomes[action] = "conflict"

    threads = [threading.Thread(target=attempt, args=(a,)) for a in ("suspend", "offboard")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes.values()) == ["conflict", "won"]
    winner = next(a for a, o in outcomes.items() if o == "won")
    with db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant.state == {"suspend": "suspended", "offboard": "offboarding"}[winner]
        actions = session.scalars(
            select(LifecycleTransition.action).where(LifecycleTransition.tenant_id == tenant.id)
        ).all()
        assert actions == ["create", winner]


@pytest.mark.parametrize(
    ("definition", "complaint"),
    [
        (
            {"initial": "a", "states": ["a"], "actions": {"go": {"from": ["a"], "to": "b"}}},
            "unknown states",
        ),
        (
            {
                "initial": "a",
                "states": ["a", "b"],
                "final": ["b"],
                "actions": {"go": {"from": ["a"], "to": "b"}, "back": {"from": ["b"], "to": "a"}},
            },
            "leave a final state",
        ),
        (
            {"initial": "a", "states": ["a"], "actions": {"Go!": {"from": ["a"], "to": "a"}}},
            "snake_case",
        ),
    ],
)
def test_inconsistent_definitions_are_refused(definition: dict, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        LifecycleDefinition.model_validate(definition)
