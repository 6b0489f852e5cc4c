"""The per-call harness still runs end to end (its quickest mode) and prints every series.

Nothing here is a timing assertion: the figures are read by people (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import PG_ADMIN_URL, PostgresDatabases

HARNESS = Path(__file__).parents[2] / "benchmarks" / "per_call.py"
SERIES = [
    "echo (stdio)",
    "paybill get_tenant (stdio)",
    "paybill query_table (stdio)",
    "paybill run_sql (stdio)",
    "raw psycopg run_sql statement",
    "in-process get_tenant overhead",
    "in-process query_table overhead",
    "in-process run_sql overhead",
    "echo (8 sessions)",
    "paybill get_tenant (8 sessions)",
    "paybill query_table (8 sessions)",
    "paybill run_sql (8 sessions)",
]
# | name | p50 | p95 | ratio to the floor | n |
ROW = re.compile(r"^\| (?P<name>[^|]+?) \| (?P<p50>[\d.]+) \| [\d.]+ \| [\d.]+x \| \d+ \|$")


def test_the_quick_run_prints_every_series(postgres: PostgresDatabases) -> None:
    env = {**os.environ, "PAYBILL_BENCH_PG_URL": PG_ADMIN_URL}
    done = subprocess.run(
        [sys.executable, str(HARNESS), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m["name"]: m for m in map(ROW.match, done.stdout.splitlines()) if m}
    missing = [name for name in SERIES if name not in rows]
    assert not missing, done.stdout
    assert all(float(rows[name]["p50"]) > 0 for name in SERIES)
    assert re.search(r"load average at start: [\d.]+", done.stdout)
    assert re.search(r"load average at end: [\d.]+", done.stdout)
    # The benchmark's throw-away store is gone.
    store = re.search(r"store: (paybill_bench_\w+)", done.stdout)
    assert store is not None and not postgres.exists(store[1])


def test_the_replicas_harness_prints_every_series(postgres: PostgresDatabases) -> None:
    env = {**os.environ, "PAYBILL_BENCH_PG_URL": PG_ADMIN_URL}
    script = Path(__file__).parents[2] / "benchmarks" / "replicas.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {m["name"]: m for m in map(ROW.match, done.stdout.splitlines()) if m}
    for tool in ("get_tenant", "query_table"):
        for setup in ("1 replica", "2 replicas", "2 replicas, buckets per process"):
            assert float(rows[f"{tool}, {setup}"]["p50"]) > 0, done.stdout
    assert re.search(r"load average at end: [\d.]+", done.stdout)


# | engine | workers | runs | succeeded | audited once | wall s | runs/s | vs 1 worker |
SCALE_ROW = re.compile(
    r"^\| (?P<engine>embedded|temporal) \| (?P<workers>\d+) \| (?P<runs>\d+) \| "
    r"(?P<succeeded>\d+) \| (?P<audited>\d+) \| [\d.]+ \| [\d.]+ \| [\d.]+x \|$"
)


def test_the_engine_scale_harness_drains_every_run_once(postgres: PostgresDatabases) -> None:
    """Both engines, 1 and 3 worker processes (a Temporal dev server the harness starts):
    every run recorded succeeded and was audited exactly once, and the stores are gone."""
    env = {**os.environ, "PAYBILL_BENCH_PG_URL": PG_ADMIN_URL}
    script = Path(__file__).parents[2] / "benchmarks" / "engine_scale.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {
        (m["engine"], int(m["workers"])): m
        for m in map(SCALE_ROW.match, done.stdout.splitlines())
        if m
    }
    assert set(rows) == {(e, w) for e in ("embedded", "temporal") for w in (1, 3)}, done.stdout
    for row in rows.values():
        assert int(row["runs"]) == 6
        assert int(row["succeeded"]) == int(row["audited"]) == 6, done.stdout
    assert re.search(r"load average at start: [\d.]+", done.stdout)
    assert re.search(r"load average at end: [\d.]+", done.stdout)
    stores = re.findall(r"store: (paybill_bench_\w+)", done.stdout)
    assert len(stores) == 4 and not any(postgres.exists(name) for name in stores)
