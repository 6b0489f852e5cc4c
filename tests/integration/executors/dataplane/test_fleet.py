"""Fleet migrations: canary then waves, stop at the first broken tenant, report each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from paybill.server.executors.dataplane import fleet, migrate
from paybill.server.executors.dataplane.naming import TenantRoute
from tests.support.served import Served

PAYBILL = str(Path(sys.executable).parent / "paybill")


def _downgrade_all(served: Served) -> list[fleet.TargetReport]:
    engines = served.services.engines
    with served.services.db.session() as session:
        reports = fleet.targets(session)
    for report in reports:
        route = report.routes[0]
        schema = route.schema if engines.postgres else None
        with engines.for_route(route).begin() as conn:
            migrate.downgrade(conn, schema, "t0001")
    return reports


def _run_cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAYBILL, "tenants", "migrate", *args],
        env=served.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fleet_migration_brings_every_target_to_head(served: Served) -> None:
    _downgrade_all(served)
    result = _run_cli(served)
    assert result.returncode == 0, result.stderr
    assert "pool" in result.stdout and "migrated" in result.stdout
    again = _run_cli(served)
    assert "current" in again.stdout and "migrated" not in again.stdout


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_broken_tenant_stops_the_wave_and_is_reported(served: Served) -> None:
    for slug, plan in (("b1", "pro"), ("b2", "pro"), ("b3", "pro"), ("s1", "enterprise")):
        served.ok("admin", "create_tenant", slug=slug, name=slug, plan=plan)
    served.drain()
    reports = _downgrade_all(served)
    assert [r.target for r in reports] == ["pool", "bridge:b1", "bridge:b2", "bridge:b3", "silo:s1"]
    broken: TenantRoute = reports[2].routes[0]
    with served.services.engines.shared.begin() as conn:
        # Someone hand-patched b2: the column the next migration adds already exists.
        conn.execute(text(f'ALTER TABLE "{broken.schema}".support_tickets ADD channel text'))
    result = _run_cli(served, "--wave-size", "2")
    assert result.returncode == 1
    lines = {
        line.split()[0]: line.split()[1]
        for line in result.stdout.splitlines()[1:]
        if not line.startswith("  ")
    }
    assert lines == {
        "pool": "migrated",
        "bridge:b1": "migrated",
        "bridge:b2": "failed",
        "bridge:b3": "not_run",
        "silo:s1": "not_run",
    }
    assert "channel" in result.stdout  # the error names what broke
    assert "2 target(s) not run" in result.stderr
    engines = served.services.engines
    assert fleet.objects.target_revision(engines, reports[3].routes[0]) == "t0001"
    assert fleet.objects.target_revision(engines, reports[1].routes[0]) == migrate.head()
