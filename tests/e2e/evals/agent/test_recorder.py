"""The recorder: ids become captures, and only what a replay reproduces is expected."""

from __future__ import annotations

from paybill.evals.agent.models import ToolCall
from paybill.evals.agent.recorder import stable_match, steps_of
from paybill.evals.transcript import Header, dumps, parse

RUN = "11111111-2222-4333-8444-555555555555"
TENANT = "99999999-2222-4333-8444-555555555555"


def _call(tool: str, arguments: dict, result: dict, code: str | None = None) -> ToolCall:
    return ToolCall(
        turn=1, tool=tool, arguments=arguments, is_error=code is not None, code=code, result=result
    )


def _created(status: str) -> dict:
    return {
        "tenant": {"id": TENANT, "slug": "acme", "state": "provisioning", "allowed": ["x"]},
        "workflow": {"id": RUN, "kind": "provision", "status": status, "lock": "w1"},
        "dry_run": False,
    }


def test_ids_reused_in_arguments_become_captures() -> None:
    steps = steps_of(
        [
            _call("create_tenant", {"slug": "acme"}, _created("pending")),
            _call(
                "get_workflow",
                {"workflow_id": RUN},
                {"id": RUN, "kind": "provision", "status": "succeeded"},
            ),
            _call("get_tenant", {"tenant": "acme"}, {"id": TENANT, "state": "active"}),
        ]
    )
    assert steps[0].capture == {"workflow_id": "workflow.id"}
    assert steps[1].arguments == {"workflow_id": "${workflow_id}"}
    # Tenant ids appear in no arguments: nothing to capture.
    assert steps[2].capture == {}


def test_a_run_in_flight_hides_states_until_a_result_shows_it_finished() -> None:
    steps = steps_of(
        [
            _call("create_tenant", {"slug": "acme"}, _created("pending")),
            _call("get_tenant", {"tenant": "acme"}, {"slug": "acme", "state": "provisioning"}),
            _call(
                "get_workflow",
                {"workflow_id": RUN},
                {"id": RUN, "kind": "provision", "status": "succeeded", "lock": None},
            ),
            _call("get_tenant", {"tenant": "acme"}, {"slug": "acme", "state": "active"}),
        ]
    )
    assert steps[0].expect.match == {
        "tenant": {"slug": "acme"},
        "workflow": {"kind": "provision"},
        "dry_run": False,
    }
    assert steps[1].expect.match == {"slug": "acme"}
    assert steps[2].expect.match == {"kind": "provision", "status": "succeeded", "lock": None}
    assert steps[3].expect.match == {"slug": "acme", "state": "active"}


def test_refusals_expect_their_code_only_and_the_transcript_parses() -> None:
    refused = _call(
        "run_sql",
        {"tenant": "acme", "sql": "DROP TABLE x"},
        {"error": {"code": "SQL_REJECTED", "message": "no", "details": {}}},
        code="SQL_REJECTED",
    )
    steps = steps_of([refused])
    assert steps[0].expect.model_dump(exclude_defaults=True) == {
        "is_error": True,
        "code": "SQL_REJECTED",
    }
    header = Header(scenario="s", principal="ops", role="operator")
    assert parse(dumps(header, steps)).steps == steps


def test_stable_match_drops_ids_times_numbers_lists_and_cursors() -> None:
    result = {
        "id": TENANT,
        "name": f"tenant {TENANT}",
        "at": "2026-11-29T10:00:00+00:00",
        "amount_cents": 1200,
        "items": [1, 2],
        "next_cursor": "abc",
        "nested": {"deeper": {"too": "deep"}, "ok": True},
        "plan": "pro",
    }
    assert stable_match(result) == {"nested": {"ok": True}, "plan": "pro"}
