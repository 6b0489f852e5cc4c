"""Read throughput of one and of two `paybill serve` replicas on one PostgreSQL store.

Usage: python benchmarks/replicas.py [--bursts N] [--calls N] [--sessions N] [--quick]

On a throw-away PostgreSQL store (PAYBILL_BENCH_PG_URL, default the test server; the store of
benchmarks/bench_store.py), streamable-HTTP sessions of the official MCP client call guarded
reads (get_tenant, query_table) in bursts, every session at once. The client is round-robin
by session (an MCP session lives on the server that opened it): with one replica every
session is on it; with two, session i is on replica i mod 2. The two-replica series run with
the rate buckets in the store (shared, the PostgreSQL default) and, for the cost of sharing
them, in each process (PAYBILL_SHARED_RATE_LIMITS=false). Series alternate burst by burst so
that they see the same load. Prints calls/s (p50, p95), the ratios to one replica and the
load average at start and end; docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AsyncExitStack, ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from bench_store import SLUG, BenchStore, bench_store
from http_load import burst, free_port, http_process, sessions
from mcp import Client
from series import Series, table

PAYBILL = str(Path(sys.executable).parent / "paybill")
READS: dict[str, dict[str, Any]] = {
    "get_tenant": {"tenant": SLUG},
    "query_table": {"tenant": SLUG, "table": "customers", "limit": 50},
}
# replicas' label -> (how many, the environment they add)
SETUPS: dict[str, tuple[int, dict[str, str]]] = {
    "1 replica": (1, {}),
    "2 replicas": (2, {}),
    "2 replicas, buckets per process": (2, {"PAYBILL_SHARED_RATE_LIMITS": "false"}),
}


def _serve(processes: ExitStack, store: BenchStore, extra: dict[str, str]) -> str:
    port = free_port()
    command = [PAYBILL, "serve", "--transport", "streamable-http", "--port", str(port)]
    return processes.enter_context(http_process(command, port, {**store.env(), **extra}))


async def measure(store: BenchStore, total: int, bursts: int, calls: int) -> list[Series]:
    rows: list[Series] = []
    plan: list[tuple[Series, list[Client], str]] = []
    with ExitStack() as processes:
        async with AsyncExitStack() as stack:
            for label, (count, extra) in SETUPS.items():
                urls = [_serve(processes, store, extra) for _ in range(count)]
                # ``total`` sessions in all, dealt round-robin over the replicas.
                per_replica = [
                    await stack.enter_async_context(
                        sessions(url, store.keys["ops"], len(range(r, total, count)))
                    )
                    for r, url in enumerate(urls)
                ]
                clients = [per_replica[i % count][i // count] for i in range(total)]
                for tool in READS:
                    rows.append(Series(f"{tool}, {label}", unit="calls/s"))
                    plan.append((rows[-1], clients, tool))
            for _, clients, tool in plan:  # warm up: pools, caches
                await burst(clients, tool, READS[tool], 2)
            for _ in range(bursts):
                for series, clients, tool in plan:
                    series.values.append(await burst(clients, tool, READS[tool], calls))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=8, help="bursts per series")
    parser.add_argument("--calls", type=int, default=20, help="calls per session per burst")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions in all")
    parser.add_argument("--quick", action="store_true", help="one short burst: checks it runs")
    args = parser.parse_args()
    if args.quick:  # five servers at once: fewer sessions keep the store's connections few
        args.bursts, args.calls, args.sessions = 1, 2, min(args.sessions, 4)
    started = os.getloadavg()
    print(f"# replicas, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")
    print(f"load average at start: {started[0]:.2f} {started[1]:.2f} {started[2]:.2f}")
    with bench_store() as store:
        rows = anyio.run(measure, store, args.sessions, args.bursts, args.calls)
    print(
        f"\n## {args.sessions} streamable-HTTP sessions, {args.bursts} bursts of "
        f"{args.sessions} x {args.calls} calls\n"
    )
    for tool in READS:
        series = [row for row in rows if row.name.startswith(f"{tool},")]
        print(table(series, series[0], "PostgreSQL store"), end="\n\n")
    ended = os.getloadavg()
    print(f"load average at end: {ended[0]:.2f} {ended[1]:.2f} {ended[2]:.2f}", flush=True)


if __name__ == "__main__":
    main()
