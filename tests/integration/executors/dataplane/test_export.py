"""Tenant export bundles: export → verify → import reproduces the checksums; tampering is
caught and named; imports refuse a non-empty target. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane.access import tenant_transaction, ungated
from paybill.server.executors.dataplane.checksums import Canonical, load_order, table_checksums
from paybill.server.executors.dataplane.export import (
    ExportCorrupt,
    export_tenant,
    import_tenant,
    verify_export,
)
from paybill.server.executors.dataplane.loader import TargetNotEmpty
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import customers
from tests.support.tenant_data import Lab, add_customer, open_lab, seed, tenant_view

ROWS = {"customers": 3, "invoices": 3, "support_tickets": 2, "usage_events": 2}
# The checksums of seed(..., "golden"): one constant for both backends and every isolation.
GOLDEN = {
    "customers": (3, "30f6b38f92a29bc92ed52558027e8156b22776d83ae452a50d0057216dd2bdd4"),
    "invoices": (3, "48c63c8efd7d6b355011dbe5ee0428af4045f11e8bb7ee6740ccd6fda6959a63"),
    "support_tickets": (2, "037092fb4447f18773f4df164a214deb0f89b9cb75cd29f28bf7bd58038870eb"),
    "usage_events": (2, "dbedf2777e0a77d6fe80437bda5a328c0646f64bb65578646c076dab45d9f000"),
}


@pytest.fixture
def lab(store_url: str, tmp_path: Path) -> Iterator[Lab]:
    yield from open_lab(store_url, tmp_path)


def _ids(lab: Lab, route: TenantRoute) -> list[int]:
    statement = select(customers.c.id).where(customers.c.tenant_id == route.tenant_id)
    with tenant_transaction(
        lab.engines, route, read_only=True, timeout_ms=10_000, gate=ungated
    ) as conn:
        return list(conn.execute(statement.order_by(customers.c.id)).scalars())


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def _rewrite(path: Path, change: Callable[[dict[str, bytes]], None]) -> None:
    members = _members(path)
    change(members)
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_export_verify_import_round_trip(lab: Lab, tmp_path: Path) -> None:
    engines = lab.engines
    source, bystander = lab.tenant(), lab.tenant()
    seed(engines, source, "src")
    seed(engines, bystander, "other")
    before, other_before = table_checksums(engines, source), table_checksums(engines, bystander)
    path = tmp_path / "export.tar"

    manifest = export_tenant(engines, source, path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert manifest.checksums() == before
    assert {name: entry.rows for name, entry in manifest.tables.items()} == ROWS
    assert manifest.tenant_id == source.tenant_id and manifest.isolation == "pooled"
    assert verify_export(path) == manifest
    rows = b"".join(data for name, data in _members(path).items() if name != "manifest.json")
    assert b"tenant_id" not in rows and source.tenant_id.encode() not in rows
    assert b"other" not in rows  # only the exported tenant's rows

    # Into a fresh tenant of the same pool: every id is taken, so every table is renumbered.
    fresh = lab.tenant()
    report = import_tenant(engines, fresh, path)

    assert table_checksums(engines, fresh) == manifest.checksums() == report.checksums
    assert sorted(report.renumbered) == sorted(load_order())
    assert report.rows == ROWS
    assert set(_ids(lab, fresh)).isdisjoint(_ids(lab, source))
    # References followed the renumbering: every invoice still names the same customer.
    assert [tuple(r) for r in tenant_view(engines, fresh)] == [
        tuple(r) for r in tenant_view(engines, source)
    ]
    assert table_checksums(engines, source) == before
    assert table_checksums(engines, bystander) == other_before
    assert add_customer(engines, fresh, "after import") > max(_ids(lab, fresh)[:-1])


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("isolation", [Isolation.BRIDGE, Isolation.SILO])
def test_import_into_another_isolation_keeps_ids(
    lab: Lab, tmp_path: Path, isolation: Isolation
) -> None:
    engines = lab.engines
    source = lab.tenant()
    seed(engines, source, "src")
    manifest = export_tenant(engines, source, tmp_path / "export.tar")
    target = lab.tenant(isolation)

    report = import_tenant(engines, target, tmp_path / "export.tar")

    assert report.renumbered == []
    assert table_checksums(engines, target) == manifest.checksums()
    assert _ids(lab, target) == _ids(lab, source)
    # The target's sequence was moved past the imported ids (else: duplicate key).
    assert add_customer(engines, target, "next") == max(_ids(lab, source)) + 1


def test_import_refuses_a_target_holding_rows(lab: Lab, tmp_path: Path) -> None:
    engines = lab.engines
    source, target = lab.tenant(), lab.tenant()
    seed(engines, source, "src")
    add_customer(engines, target, "already here")
    export_tenant(engines, source, tmp_path / "export.tar")
    held = table_checksums(engines, target)

    with pytest.raises(TargetNotEmpty) as refused:
        import_tenant(engines, target, tmp_path / "export.tar")

    assert refused.value.details["tables"] == {"customers": 1}
    assert table_checksums(engines, target) == held


def _edit_table(name: str, edit: Callable[[list[bytes]], list[bytes]]) -> Callable:
    def change(members: dict[str, bytes]) -> None:
        key = f"tables/{name}.jsonl"
        members[key] = b"".join(edit(members[key].splitlines(keepends=True)))

    return change


def _edit_manifest(edit: Callable[[dict], None]) -> Callable:
    def change(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["manifest.json"])
        edit(manifest)
        members["manifest.json"] = json.dumps(manifest).encode()

    return change


def _forge_row(lines: list[bytes]) -> list[bytes]:
    return [lines[0].replace(b"Ada", b"Eve"), *lines[1:]]


def _plant_tenant_id(lines: list[bytes]) -> list[bytes]:
    row = json.loads(lines[0]) | {"tenant_id": "00000000-0000-0000-0000-000000000000"}
    return [json.dumps(row).encode() + b"\n", *lines[1:]]


TAMPERING = {
    "changed value": (_edit_table("customers", _forge_row), "customers"),
    "dropped row": (_edit_table("invoices", lambda lines: lines[:-1]), "invoices"),
    "reordered rows": (_edit_table("usage_events", lambda lines: lines[::-1]), "usage_events"),
    "planted tenant_id": (_edit_table("support_tickets", _plant_tenant_id), "support_tickets"),
    "manifest row count": (
        _edit_manifest(lambda m: m["tables"]["usage_events"].update(rows=3)),
        "manifest.json",
    ),
    "extra file": (lambda members: members.update({"tables/evil.jsonl": b"{}\n"}), None),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_detected_and_named(lab: Lab, tmp_path: Path, kind: str) -> None:
    engines = lab.engines
    source = lab.tenant()
    seed(engines, source, "src")
    path = tmp_path / "export.tar"
    export_tenant(engines, source, path)
    change, named = TAMPERING[kind]
    _rewrite(path, change)

    with pytest.raises(ExportCorrupt) as caught:
        verify_export(path)

    if named == "manifest.json":
        assert caught.value.details["member"] == "manifest.json"
    elif named is not None:
        assert caught.value.details["table"] == named
        assert named in caught.value.message
    else:
        assert caught.value.details["extra"] == ["tables/evil.jsonl"]
    target = lab.tenant()
    with pytest.raises(ExportCorrupt):
        import_tenant(engines, target, path)
    assert all(c.rows == 0 for c in table_checksums(engines, target).values())


def test_forged_table_with_a_matching_entry_fails_the_manifest_hash(
    lab: Lab, tmp_path: Path
) -> None:
    """Rewriting a table and its manifest entry is caught by the overall hash (a forger who
    also re-hashes the whole manifest is not: the bundle is unsigned, docs/export-format.md)."""
    engines = lab.engines
    source = lab.tenant()
    seed(engines, source, "src")
    path = tmp_path / "export.tar"
    export_tenant(engines, source, path)

    def forge(members: dict[str, bytes]) -> None:
        _edit_table("customers", _forge_row)(members)
        data = members["tables/customers.jsonl"]
        canonical = Canonical().table("customers", map(json.loads, data.splitlines()))
        manifest = json.loads(members["manifest.json"])
        manifest["tables"]["customers"].update(
            sha256=canonical.sha256, file_sha256=hashlib.sha256(data).hexdigest()
        )
        members["manifest.json"] = json.dumps(manifest).encode()

    _rewrite(path, forge)
    with pytest.raises(ExportCorrupt, match="overall hash") as caught:
        verify_export(path)
    assert caught.value.details["member"] == "manifest.json"


def test_checksums_ignore_ids_but_not_order_values_or_references() -> None:
    def digest(rows: dict[str, list[dict]]) -> dict:
        canonical = Canonical()
        return {name: canonical.table(name, rows.get(name, [])) for name in load_order()}

    people = [{"id": 3, "name": "a"}, {"id": 8, "name": "b"}]
    bills = [{"id": 5, "customer_id": 8}, {"id": 6, "customer_id": 99}]
    same = digest({"customers": people, "invoices": bills})
    renumbered = digest(
        {
            "customers": [{"id": 40, "name": "a"}, {"id": 41, "name": "b"}],
            "invoices": [{"id": 1, "customer_id": 41}, {"id": 2, "customer_id": 99}],
        }
    )
    assert renumbered == same
    pointing_elsewhere = digest(
        {"customers": people, "invoices": [{"id": 5, "customer_id": 3}, bills[1]]}
    )
    assert pointing_elsewhere["invoices"] != same["invoices"]
    renamed = digest({"customers": [people[0], {"id": 8, "name": "c"}], "invoices": bills})
    assert renamed["customers"] != same["customers"]
    with pytest.raises(ValueError, match="primary-key order"):
        digest({"customers": people[::-1]})


def test_checksums_are_the_same_on_every_backend_and_isolation(lab: Lab) -> None:
    isolations = list(Isolation) if lab.engines.postgres else [Isolation.POOLED]
    for isolation in isolations:
        route = lab.tenant(isolation)
        seed(lab.engines, route, "golden")
        found = {n: (c.rows, c.sha256) for n, c in table_checksums(lab.engines, route).items()}
        assert found == GOLDEN, (isolation, found)
