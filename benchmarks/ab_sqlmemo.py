"""Branch sqlmemo before/after, alternated call by call in one process.

Usage: python benchmarks/ab_sqlmemo.py [--rounds N]

On the per-call store (``bench_store``: one pooled tenant, 500 customers), each round calls
every series once in "before" mode and once in "after" mode, in an order alternated per
round. "Before" puts back, by patching, what branch sqlmemo changed: no remembered guard
outcome (every call parses, qualifies and renders), run_sql loads its tenant row whatever
its statement, data results converted and sized a cell and a row at a time, and the
visible schema built on every call. Prints the
p50 of each call's CPU time (``time.process_time``), wall time and in-process overhead (wall
minus the time inside the tenant transaction, as ``per_call.py``), and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from bench_store import SLUG, bench_store
from per_call import TenantTimer

from paybill.server.core.errors import too_large
from paybill.server.core.vocabulary import Role
from paybill.server.executors.dataplane import sqlguard
from paybill.server.executors.dataplane.schema import HIDDEN_COLUMNS, TENANT_TABLES
from paybill.server.executors.dataplane.sqlguard_memo import GuardMemo, Memo
from paybill.server.executors.dataplane.visibility import PII_ROLES, VisibleSchema, type_name
from paybill.server.guards import call as call_module
from paybill.tools import data_models
from paybill.tools.data import RunSqlInput

SQL = "SELECT name FROM customers WHERE id = 42"
SERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "get_tenant": ("get_tenant", {"tenant": SLUG}),
    "query_table (50 rows)": ("query_table", {"tenant": SLUG, "table": "customers", "limit": 50}),
    "run_sql (same text)": ("run_sql", {"tenant": SLUG, "sql": SQL}),
    "run_sql (new text each call)": ("run_sql", {"tenant": SLUG, "sql": SQL}),
}


class _NoMemo(GuardMemo):
    def get(self, key: Any) -> Memo | None:
        return None

    def put(self, key: Any, memo: Memo) -> None:
        return None


def _bounded_rows_before(rows: list[tuple[Any, ...]], max_bytes: int) -> Any:
    out: list[list[Any]] = []
    size = 0
    for row in rows:
        values = [data_models.json_value(v) for v in row]
        size += len(json.dumps(values, default=str, ensure_ascii=False).encode())
        if size > max_bytes:
            if not out:
                raise too_large(max_bytes)
            return out, True
        out.append(values)
    return out, False


def _visible_schema_before(role: Role, features: frozenset[str] | set[str]) -> VisibleSchema:
    pii = role in PII_ROLES and "data.pii" in features
    return VisibleSchema(
        {
            name: {
                c.name: type_name(c)
                for c in table.columns
                if c.name not in HIDDEN_COLUMNS and (pii or not c.info.get("pii"))
            }
            for name, table in TENANT_TABLES.items()
        }
    )


@contextmanager
def before() -> Iterator[None]:
    saved = (
        sqlguard._memo,
        RunSqlInput.may_change_state,
        data_models._bounded_rows,
        call_module.visible_schema,
    )
    sqlguard._memo = _NoMemo()
    RunSqlInput.may_change_state = lambda self: True  # type: ignore[method-assign]
    data_models._bounded_rows = _bounded_rows_before
    call_module.visible_schema = _visible_schema_before
    try:
        yield
    finally:
        (
            sqlguard._memo,
            RunSqlInput.may_change_state,
            data_models._bounded_rows,
            call_module.visible_schema,
        ) = saved


def _p50(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    print(f"load average at start: {os.getloadavg()}")
    modes = ("before", "after")
    cpu: dict[tuple[str, str], list[float]] = {(s, m): [] for s in SERIES for m in modes}
    wall: dict[tuple[str, str], list[float]] = {(s, m): [] for s in SERIES for m in modes}
    over: dict[tuple[str, str], list[float]] = {(s, m): [] for s in SERIES for m in modes}
    with bench_store() as store, TenantTimer.installed():
        for n in range(rounds + 20):  # the first 20 rounds warm pools and caches
            for mode in modes if n % 2 else modes[::-1]:
                for series, (tool, arguments) in SERIES.items():
                    if series.startswith("run_sql (new"):
                        arguments = {**arguments, "sql": f"{SQL} /* {mode} {n} */"}
                    with ExitStack() as stack:
                        if mode == "before":
                            stack.enter_context(before())
                        tenant, c0, w0 = (
                            TenantTimer.seconds,
                            time.process_time(),
                            time.perf_counter(),
                        )
                        outcome = store.pipeline.call(tool, "ops", arguments)
                        w1, c1 = time.perf_counter(), time.process_time()
                    if outcome.is_error:
                        raise SystemExit(f"{series} failed: {outcome.payload}")
                    if n >= 20:
                        cpu[series, mode].append((c1 - c0) * 1000)
                        wall[series, mode].append((w1 - w0) * 1000)
                        over[series, mode].append((w1 - w0 - (TenantTimer.seconds - tenant)) * 1000)
    print(f"load average at end: {os.getloadavg()}; {rounds} rounds")
    print(
        "| call | CPU p50 ms before | after | wall p50 ms before | after "
        "| overhead p50 ms before | after |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for series in SERIES:
        figures = [
            f"{_p50(table[series, mode]):.2f}" for table in (cpu, wall, over) for mode in modes
        ]
        print(f"| {series} | " + " | ".join(figures) + " |")
    _shaping()


def _shaping(repeat: int = 3000) -> None:
    """``data_result`` alone on 50 customer-like rows, before and after alternated."""
    now = datetime.now(UTC)
    rows = [(i, f"customer {i}", "DE", now) for i in range(50)]
    names = ["id", "name", "country", "created_at"]
    known = dict(zip(names, ["bigint", "varchar", "varchar", "timestamptz"], strict=True))
    took: dict[str, list[float]] = {"before": [], "after": []}
    for n in range(repeat):
        for mode in ("before", "after") if n % 2 else ("after", "before"):
            with before() if mode == "before" else nullcontext():
                start = time.perf_counter()
                data_models.data_result(names, rows, 50, known, max_bytes=1_000_000)
                took[mode].append((time.perf_counter() - start) * 1e6)
    print(
        f"data_result, 50 rows x 4 columns: p50 {_p50(took['before']):.0f} us before, "
        f"{_p50(took['after']):.0f} us after"
    )


if __name__ == "__main__":
    main()
