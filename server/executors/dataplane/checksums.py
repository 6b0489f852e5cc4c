"""Per-table checksums of one tenant's rows, the same for every isolation model and backend.

The canonical encoding of a table is one line per row, in primary-key order: the row's
rowcodec JSON object without ``tenant_id`` and without ``id``, keys sorted, compact separators,
UTF-8, then ``\\n``. Surrogate ids are storage-local (pooled tables draw ids from one sequence
shared by every tenant, so the same rows may need new ids when they move into a pool), so a
row's identity is its position, and a reference column (``REFERENCES``) is encoded as the
1-based position of the row it points at, or ``{"unresolved": <id>}`` when the tenant has no
such row. The checksum is SHA-256 over those lines; an empty table hashes the empty string.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.dataplane import tenant_rows
from paybill.server.executors.dataplane.access import Gate, tenant_transaction
from paybill.server.executors.dataplane.engines import Engines
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.schema import TENANT_TABLES

# Column name -> the table whose ``id`` it holds (the schema declares no foreign keys).
REFERENCES: dict[str, str] = {"customer_id": "customers"}


def load_order() -> list[str]:
    """Tenant tables with referenced tables first, so their ids are known before use."""
    referenced = [t for t in TENANT_TABLES if t in REFERENCES.values()]
    return referenced + [t for t in TENANT_TABLES if t not in referenced]


@dataclass(frozen=True)
class TableChecksum:
    rows: int
    sha256: str


class ChecksumMismatch(ProvisioningFailed):
    """Two sets of rows that must be equal are not; ``details["tables"]`` names them."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Canonical:
    """Checksums one tenant's tables, fed table by table in ``load_order()``."""

    def __init__(self) -> None:
        self._positions: dict[str, dict[int, int]] = {}

    def table(self, name: str, rows: Iterable[dict[str, Any]]) -> TableChecksum:
        """Raises:
        ValueError: rows are not in strictly increasing ``id`` order.
        """
        keep = name in REFERENCES.values()
        positions: dict[int, int] = {}
        digest = hashlib.sha256()
        previous: int | None = None
        count = 0
        for row in rows:
            row_id = row["id"]
            if previous is not None and row_id <= previous:
                raise ValueError(f"row id {row_id} follows {previous}: not in primary-key order")
            previous = row_id
            count += 1
            if keep:
                positions[row_id] = count
            digest.update(canonical_json(self._line(row)) + b"\n")
        if keep:
            self._positions[name] = positions
        return TableChecksum(count, digest.hexdigest())

    def _line(self, row: dict[str, Any]) -> dict[str, Any]:
        line = {k: v for k, v in row.items() if k != "id"}
        for column, target in REFERENCES.items():
            if column in line and line[column] is not None:
                position = self._positions.get(target, {}).get(line[column])
                line[column] = position if position is not None else {"unresolved": line[column]}
        return line


def checksums_of(conn: Connection, tenant_id: str) -> dict[str, TableChecksum]:
    """Checksums of the tenant's tables on an open route connection (``tenant_rows``)."""
    canonical = Canonical()
    return {
        name: canonical.table(name, tenant_rows.read_rows(conn, TENANT_TABLES[name], tenant_id))
        for name in load_order()
    }


def table_checksums(engines: Engines, route: TenantRoute) -> dict[str, TableChecksum]:
    """Row count and canonical SHA-256 of each of the tenant's tables at ``route``.

    Raises:
        ProvisioningFailed: bridge or silo routes on SQLite.
    """
    with tenant_rows.route_transaction(engines, route, write=False) as conn:
        return checksums_of(conn, route.tenant_id)


def gated_checksums(
    engines: Engines, route: TenantRoute, timeout_ms: int, gate: Gate
) -> dict[str, TableChecksum]:
    """``table_checksums`` in a tool call: as the tenant's own role, through the call's gate
    (``access.tenant_transaction``), in one read-only snapshot."""
    with tenant_transaction(
        engines, route, read_only=True, timeout_ms=timeout_ms, gate=gate
    ) as conn:
        return checksums_of(conn, route.tenant_id)


def require_equal(
    expected: dict[str, TableChecksum], actual: dict[str, TableChecksum], *, what: str
) -> None:
    """Raises:
    ChecksumMismatch: a table's count or checksum differs; every differing table is named.
    """
    differing = sorted(
        t for t in expected.keys() | actual.keys() if expected.get(t) != actual.get(t)
    )
    if differing:
        raise ChecksumMismatch(
            f"{what}: tables {', '.join(differing)} differ in row count or checksum; nothing "
            "was switched. Re-run the copy (or the import) and verify again.",
            tables={
                t: {"expected": _plain(expected.get(t)), "actual": _plain(actual.get(t))}
                for t in differing
            },
        )


def _plain(checksum: TableChecksum | None) -> dict[str, Any] | None:
    return None if checksum is None else {"rows": checksum.rows, "sha256": checksum.sha256}
