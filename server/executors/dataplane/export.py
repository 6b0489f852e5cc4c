"""Export one tenant's rows to a bundle, verify a bundle, and import it into a tenant route.

The bundle format is ``bundle.py`` / ``docs/export-format.md``; checksums are
``checksums.py``. An import may target another tenant id and another isolation model: its
per-table checksums must equal the manifest's before the transaction commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.vocabulary import Isolation
from paybill.server.executors.dataplane import bundle, migrate, tenant_rows
from paybill.server.executors.dataplane.bundle import ExportCorrupt, ExportManifest, TableEntry
from paybill.server.executors.dataplane.checksums import (
    Canonical,
    TableChecksum,
    canonical_json,
    checksums_of,
    load_order,
    require_equal,
)
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.loader import Loader, LoadReport, TargetNotEmpty
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.rowcodec import decode_row
from paybill.server.executors.dataplane.schema import TENANT_TABLES

__all__ = ["ExportCorrupt", "ExportManifest", "export_tenant", "import_tenant", "verify_export"]


def export_tenant(engines: Engines, route: TenantRoute, path: Path) -> ExportManifest:
    """Write the tenant's rows at ``route`` to a bundle at ``path`` (mode 0600, atomic).

    Every table is read from one snapshot. Re-running overwrites ``path`` with a fresh bundle.

    Raises:
        ProvisioningFailed: the route's tables are not at the tenant-schema head, bridge or
            silo on SQLite, or the file cannot be written.
    """
    files: dict[str, IO[bytes]] = {}
    entries: dict[str, TableEntry] = {}
    # Rows spool to private temporary files: the tar needs each member's size up front.
    with ExitStack() as stack:
        with tenant_rows.route_transaction(engines, route, write=False) as conn:
            revision = tenant_rows.require_head(conn, route)
            canonical = Canonical()
            for name in load_order():
                handle = files[name] = stack.enter_context(tempfile.TemporaryFile())
                digest = hashlib.sha256()
                rows = _written(
                    tenant_rows.read_rows(conn, TENANT_TABLES[name], route.tenant_id),
                    handle,
                    digest,
                )
                checksum = canonical.table(name, rows)
                entries[name] = TableEntry(
                    bundle.table_file(name), checksum.rows, checksum.sha256, digest.hexdigest()
                )
        body = {
            "format": bundle.FORMAT,
            "format_version": bundle.FORMAT_VERSION,
            "tenant_id": route.tenant_id,
            "isolation": route.isolation.value,
            "schema_revision": revision,
            "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tables": {n: asdict(e) for n, e in entries.items()},
        }
        manifest = _manifest(body, bundle.overall_hash(body))
        bundle.write_bundle(Path(path), manifest, files)
    return manifest


def _written(
    rows: Iterator[dict[str, Any]], handle: IO[bytes], digest: Any
) -> Iterator[dict[str, Any]]:
    for row in rows:
        line = canonical_json(row) + b"\n"
        handle.write(line)
        digest.update(line)
        yield row


def verify_export(path: Path) -> ExportManifest:
    """Re-read the bundle and recompute every count and checksum against its manifest.

    Raises:
        ExportCorrupt: unreadable, a malformed or altered manifest, missing or extra files,
            or a table whose rows, count or checksums differ (``details["table"]`` names it).
        ProvisioningFailed: the export is of another tenant-schema revision than this server's.
    """
    with bundle.BundleReader(Path(path)) as reader:
        data = reader.manifest()
        manifest = _parse(data)
        if data.get("overall_sha256") != bundle.overall_hash(manifest.body()):
            raise ExportCorrupt(
                "manifest.json was altered: its overall hash does not match its contents.",
                member=bundle.MANIFEST,
            )
        if manifest.schema_revision != migrate.head():
            raise ProvisioningFailed(
                f"The export is of tenant-schema revision {manifest.schema_revision}; this "
                f"server is at {migrate.head()}. Import it with a matching Paybill version.",
                revision=manifest.schema_revision,
            )
        expected = {bundle.MANIFEST} | {bundle.table_file(t) for t in TENANT_TABLES}
        if reader.names != expected:
            raise ExportCorrupt(
                "The bundle's files differ from its manifest.",
                extra=sorted(reader.names - expected),
                missing=sorted(expected - reader.names),
            )
        canonical = Canonical()
        for name in load_order():
            entry, digest = manifest.tables[name], hashlib.sha256()
            try:
                found = canonical.table(name, _checked(name, reader.lines(name, digest)))
            except ValueError as exc:
                raise ExportCorrupt(f"Table {name}: {exc}.", table=name) from None
            if found != TableChecksum(entry.rows, entry.sha256) or (
                digest.hexdigest() != entry.file_sha256
            ):
                raise ExportCorrupt(
                    f"Table {name} does not match the manifest (rows {found.rows} vs "
                    f"{entry.rows}, or its checksum): the bundle was altered or damaged.",
                    table=name,
                )
    return manifest


def _checked(name: str, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        decode_row(TENANT_TABLES[name], row, dialect="postgresql")  # ValueError if it misfits
        yield row


def _parse(data: dict[str, Any]) -> ExportManifest:
    if data.get("format") != bundle.FORMAT or data.get("format_version") != bundle.FORMAT_VERSION:
        raise ExportCorrupt(
            f"Not a {bundle.FORMAT} bundle of version {bundle.FORMAT_VERSION}.",
            format=str(data.get("format")),
            format_version=str(data.get("format_version")),
        )
    try:
        TenantRoute(data["tenant_id"], Isolation(data["isolation"])).role  # noqa: B018 (validates)
        if set(data["tables"]) != set(TENANT_TABLES):
            raise ValueError(f"tables {sorted(data['tables'])}")
        return _manifest(data, data["overall_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportCorrupt(
            f"manifest.json is malformed ({exc}).", member=bundle.MANIFEST
        ) from None


def _manifest(body: dict[str, Any], overall: Any) -> ExportManifest:
    tables = {}
    for name, entry in body["tables"].items():
        parsed = TableEntry(
            str(entry["file"]), entry["rows"], str(entry["sha256"]), str(entry["file_sha256"])
        )
        if parsed.file != bundle.table_file(name) or not isinstance(parsed.rows, int):
            raise ValueError(f"entry of table {name}")
        tables[name] = parsed
    return ExportManifest(
        format_version=int(body["format_version"]),
        tenant_id=str(body["tenant_id"]),
        isolation=str(body["isolation"]),
        schema_revision=str(body["schema_revision"]),
        created_at=str(body["created_at"]),
        tables=tables,
        overall_sha256=str(overall),
    )


def import_tenant(engines: Engines, route: TenantRoute, path: Path) -> LoadReport:
    """Load a verified bundle into ``route`` (provisioned, holding no rows of its tenant).

    One transaction: it commits only if the loaded rows' checksums equal the manifest's, so a
    failed import leaves the target empty and the import can simply be run again.

    Raises:
        ExportCorrupt: see ``verify_export`` (also if the file changes while loading).
        TargetNotEmpty: the route already holds rows of its tenant.
        ChecksumMismatch: the loaded rows do not reproduce the manifest's checksums.
        ProvisioningFailed: the route is not provisioned at the tenant-schema head.
    """
    manifest = verify_export(path)
    with tenant_rows.route_transaction(engines, route, write=True) as conn:
        tenant_rows.require_head(conn, route)
        held = {t: n for t, n in tenant_rows.row_counts(conn, route.tenant_id).items() if n}
        if held:
            raise TargetNotEmpty(
                f"Tenant {route.tenant_id} already holds rows at its {route.isolation.value} "
                "route; an import only fills an empty tenant. Delete them or import elsewhere.",
                tables=held,
            )
        loader = Loader(conn, route)
        with bundle.BundleReader(Path(path)) as reader:
            for name in load_order():
                try:
                    loader.load(name, reader.lines(name, hashlib.sha256()))
                except ValueError as exc:
                    raise ExportCorrupt(f"Table {name}: {exc}.", table=name) from None
        report = loader.finish()
        report.checksums = checksums_of(conn, route.tenant_id)
        require_equal(
            manifest.checksums(), report.checksums, what=f"Import into tenant {route.tenant_id}"
        )
    return report
