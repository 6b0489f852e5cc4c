"""list_plans: the plan catalogue."""

from __future__ import annotations

from sqlalchemy import select

from paybill.server.guards.call import Call
from paybill.server.guards.spec import Scope, ToolInput, ToolOutput, ToolSpec
from paybill.server.store import Plan
from paybill.tools.models import PlanOut


class ListPlansInput(ToolInput):
    pass


class ListPlansOutput(ToolOutput):
    plans: list[PlanOut]


def list_plans(call: Call, args: ListPlansInput) -> ListPlansOutput:
    plans = call.session.scalars(select(Plan).order_by(Plan.tier))
    return ListPlansOutput(plans=[PlanOut.of(p) for p in plans])


TOOLS = [
    ToolSpec(
        name="list_plans",
        title="List plans",
        description="Plans with price, isolation model, limits and features, cheapest first.",
        input_model=ListPlansInput,
        output_model=ListPlansOutput,
        handler=list_plans,
        scope=Scope.CALLER,
    ),
]
