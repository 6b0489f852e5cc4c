"""Per-call cost of Paybill beside its floors, measured side by side in one run.

Usage: python benchmarks/per_call.py [--rounds N] [--bursts N] [--calls N] [--quick]
       [--acl-scale] [--baseline PATH_TO_ANOTHER_PAYBILL]

On a throw-away PostgreSQL store (PAYBILL_BENCH_PG_URL, default the test server) with one
provisioned pooled tenant holding 500 customers, each round calls, in an order rotated per
round: a bare MCP SDK echo tool over stdio (the floor), `paybill serve` over stdio
(get_tenant, query_table, run_sql), the run_sql statement over a raw psycopg connection,
the in-process guard pipeline (each call's total and its overhead: the total minus the time
inside its tenant transaction) and, when installed, postgres-mcp over stdio. Then 8
streamable-HTTP sessions call the bare echo and Paybill's guarded reads in alternating
bursts. Prints Markdown tables, the goals of issue 15 and the load average at start and end;
docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg
from bench_store import SLUG, BenchStore, bench_store
from echo_server import __file__ as ECHO_SERVER
from http_load import burst, echo_http, free_port, http_process, sessions
from mcp import Client, StdioServerParameters
from series import Series, table

from paybill.server.guards.call import Call

HERE = Path(__file__).parent
PAYBILL = str(Path(sys.executable).parent / "paybill")
SQL = "SELECT country, count(*) FROM customers GROUP BY country"
RAW_SQL = (
    "SELECT country, count(*) FROM tenant_pool.customers WHERE tenant_id = %s GROUP BY country"
)
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "get_tenant": ("get_tenant", {"tenant": SLUG}),
    "query_table": ("query_table", {"tenant": SLUG, "table": "customers", "limit": 50}),
    "run_sql": ("run_sql", {"tenant": SLUG, "sql": SQL}),
}
PEER = os.environ.get("PAYBILL_BENCH_POSTGRES_MCP", "/tmp/pgmcp/bin/postgres-mcp")  # noqa: S108
Step = Callable[[], Awaitable[None]]


class TenantTimer:
    """Seconds spent inside tenant transactions (``Call.tenant_work``'s body: connection,
    scoping, the statement, commit), so the in-process overhead is the rest of the call."""

    seconds = 0.0

    @classmethod
    @contextmanager
    def installed(cls) -> Iterator[None]:
        original = Call.tenant_work

        @contextmanager
        def timed(call: Call, route: Any, read_only: bool) -> Iterator[None]:
            with original(call, route, read_only):
                start = time.perf_counter()
                try:
                    yield
                finally:
                    cls.seconds += time.perf_counter() - start

        Call.tenant_work = timed  # type: ignore[assignment,method-assign]
        try:
            yield
        finally:
            Call.tenant_work = original  # type: ignore[method-assign]


def _mcp_step(client: Client, tool: str, arguments: dict[str, Any], out: Series) -> Step:
    async def step() -> None:
        start = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        out.values.append((time.perf_counter() - start) * 1000)
        if result.is_error:
            raise SystemExit(f"{out.name} failed: {result.content}")

    return step


def _in_process_steps(store: BenchStore, total: Series, overhead: Series, name: str) -> Step:
    tool, arguments = CALLS[name]

    async def step() -> None:
        before = TenantTimer.seconds
        start = time.perf_counter()
        outcome = store.pipeline.call(tool, "ops", arguments)
        elapsed = time.perf_counter() - start
        if outcome.is_error:
            raise SystemExit(f"in-process {tool} failed: {outcome.payload}")
        total.values.append(elapsed * 1000)
        overhead.values.append((elapsed - (TenantTimer.seconds - before)) * 1000)

    return step


def _psycopg_step(conn: psycopg.Connection[Any], tenant_id: str, out: Series) -> Step:
    async def step() -> None:
        start = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute(RAW_SQL, (tenant_id,))  # type: ignore[arg-type]
            cursor.fetchall()
        conn.commit()
        out.values.append((time.perf_counter() - start) * 1000)

    return step


async def latency(
    store: BenchStore, servers: dict[str, str], rounds: int, peer: bool, warmup: int
) -> tuple[Series, list[Series]]:
    floor = Series("echo (stdio)")
    rows: list[Series] = []
    steps: list[Step] = []
    async with AsyncExitStack() as stack:
        echo = await stack.enter_async_context(
            Client(StdioServerParameters(command=sys.executable, args=[ECHO_SERVER]))
        )
        steps.append(_mcp_step(echo, "echo", {"text": "ping"}, floor))
        for label, command in servers.items():
            server = StdioServerParameters(
                command=command, args=["serve", "--principal", "ops"], env=store.env()
            )
            paybill = await stack.enter_async_context(Client(server))
            for name, (tool, arguments) in CALLS.items():
                rows.append(Series(f"{label} {name} (stdio)"))
                steps.append(_mcp_step(paybill, tool, arguments, rows[-1]))
        conn = stack.enter_context(psycopg.connect(store.libpq_url))
        rows.append(Series("raw psycopg run_sql statement"))
        steps.append(_psycopg_step(conn, store.tenant_id, rows[-1]))
        stack.enter_context(TenantTimer.installed())
        for name in CALLS:
            total, overhead = Series(f"in-process {name}"), Series(f"in-process {name} overhead")
            rows += [total, overhead]
            steps.append(_in_process_steps(store, total, overhead, name))
        if peer:
            # Its log (every request at INFO) would drown the tables: stderr is dropped.
            params = StdioServerParameters(
                command="/bin/sh",
                args=["-c", 'exec "$0" --access-mode=restricted 2>/dev/null', PEER],
                env={**os.environ, "DATABASE_URI": store.libpq_url},
            )
            # An SDK 1.x server: the initialize handshake, without probing for 2026 first.
            client = await stack.enter_async_context(Client(params, mode="legacy"))
            rows.append(Series("postgres-mcp execute_sql (stdio)"))
            peer_sql = RAW_SQL.replace("%s", f"'{store.tenant_id}'")
            steps.append(_mcp_step(client, "execute_sql", {"sql": peer_sql}, rows[-1]))
        for step in steps:  # warm up: imports, connection pools, caches
            for _ in range(warmup):
                await step()
        for series in [floor, *rows]:
            series.values.clear()
        for i in range(rounds):
            for step in steps[i % len(steps) :] + steps[: i % len(steps)]:
                await step()
    return floor, rows


async def throughput(
    store: BenchStore, servers: dict[str, str], bursts: int, calls: int
) -> tuple[Series, list[Series]]:
    floor = Series("echo (8 sessions)", unit="calls/s")
    rows: list[Series] = []
    with ExitStack() as processes:
        port = free_port()
        echo_url = processes.enter_context(http_process(echo_http(port), port))
        async with AsyncExitStack() as stack:
            echo = await stack.enter_async_context(sessions(echo_url, None))
            plan = [(floor, echo, "echo", {"text": "ping"})]
            for label, command in servers.items():
                port = free_port()
                serve = [command, "serve", "--transport", "streamable-http", "--port", str(port)]
                url = processes.enter_context(http_process(serve, port, store.env()))
                paybill = await stack.enter_async_context(sessions(url, store.keys["ops"]))
                for name, (tool, arguments) in CALLS.items():
                    rows.append(Series(f"{label} {name} (8 sessions)", unit="calls/s"))
                    plan.append((rows[-1], paybill, tool, arguments))
            for _, clients, tool, arguments in plan:  # warm up
                await burst(clients, tool, arguments, 1)
            for _ in range(bursts):
                for series, clients, tool, arguments in plan:
                    series.values.append(await burst(clients, tool, arguments, calls))
    return floor, rows


def _acl_scale(quick: bool) -> None:
    script = HERE / "acl_scale.py"
    if not script.exists():
        print("\nACL scale: benchmarks/acl_scale.py is not there; skipped")
        return
    command = [sys.executable, str(script)]
    usage = subprocess.run([*command, "--help"], capture_output=True, text=True, check=False)  # noqa: S603
    if quick and "--quick" in usage.stdout:
        command.append("--quick")
    print("\n## ACL scale (benchmarks/acl_scale.py)\n", flush=True)
    subprocess.run(command, check=True)  # noqa: S603


def _goals(
    latency_floor: Series, rows: list[Series], http_floor: Series, http: list[Series]
) -> None:
    by_name = {row.name: row for row in rows + http}
    run_sql = by_name["paybill run_sql (stdio)"].p50
    print("\nGoals (issue 15):")
    for name in CALLS:
        p50 = by_name[f"in-process {name} overhead"].p50
        print(f"- in-process {name} overhead p50 {p50:.2f} ms (goal <= 0.5 ms)")
    print(f"- run_sql over stdio / echo: {run_sql / latency_floor.p50:.2f}x (goal <= 1.5x)")
    peer = by_name.get("postgres-mcp execute_sql (stdio)")
    if peer is not None:
        print(f"- run_sql over stdio / postgres-mcp: {run_sql / peer.p50:.2f}x (goal <= 0.2x)")
    for name in ("run_sql", "query_table"):
        rate = by_name[f"paybill {name} (8 sessions)"].p50
        print(f"- {name} over HTTP / echo calls/s: {rate / http_floor.p50:.2f}x (goal >= 0.8x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--bursts", type=int, default=10, help="HTTP bursts per series")
    parser.add_argument("--calls", type=int, default=25, help="calls per session per burst")
    parser.add_argument("--quick", action="store_true", help="a few rounds: checks it runs")
    parser.add_argument("--acl-scale", action="store_true", help="also run acl_scale.py")
    parser.add_argument(
        "--baseline",
        metavar="PAYBILL",
        help="another build's paybill executable (say, main's venv), served and measured "
        "in the same rounds as this one: a before/after under the same load",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.bursts, args.calls = 3, 1, 2
    peer = shutil.which(PEER) is not None
    started = os.getloadavg()
    print(f"# per-call cost, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    print(f"load average at start: {started[0]:.2f} {started[1]:.2f} {started[2]:.2f}")
    with bench_store() as store:
        warmup = 1 if args.quick else 10
        servers = {"paybill": PAYBILL}
        if args.baseline:
            servers["baseline"] = args.baseline
        floor, rows = anyio.run(latency, store, servers, args.rounds, peer, warmup)
        http_floor, http = anyio.run(throughput, store, servers, args.bursts, args.calls)
    print(f"\n## Latency: {args.rounds} interleaved rounds\n")
    print(table([floor, *rows], floor, "PostgreSQL store"))
    if not peer:
        print(f"\npostgres-mcp: not installed at {PEER}; series skipped")
    print(
        f"\n## Throughput: 8 streamable-HTTP sessions, {args.bursts} bursts of 8 x {args.calls}\n"
    )
    print(table([http_floor, *http], http_floor, "PostgreSQL store"))
    _goals(floor, rows, http_floor, http)
    ended = os.getloadavg()
    print(f"\nload average at end: {ended[0]:.2f} {ended[1]:.2f} {ended[2]:.2f}", flush=True)
    if args.acl_scale:
        _acl_scale(args.quick)


if __name__ == "__main__":
    main()
