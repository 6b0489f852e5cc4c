"""Load one tenant's rows into a route inside the caller's transaction.

Rows keep their ids when the target table holds none of them for another tenant (bridge and
silo targets, or a pool the ids came from). Otherwise the table is renumbered: new ids are
drawn in ascending order, so primary-key order and therefore checksums are unchanged, and
reference columns pointing at a renumbered table are rewritten. On PostgreSQL each sequence is
then moved past the loaded ids, never backwards (a pool's sequence serves other tenants too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from paybill.server.core.errors import ProvisioningFailed
from paybill.server.executors.dataplane.checksums import REFERENCES, TableChecksum
from paybill.server.executors.dataplane.naming import TenantRoute
from paybill.server.executors.dataplane.rowcodec import decode_row
from paybill.server.executors.dataplane.schema import TENANT_TABLES

_CHUNK = 500


class TargetNotEmpty(ProvisioningFailed):
    """The target route already holds rows of the tenant that are not a copy of the source."""


@dataclass
class LoadReport:
    """What a load wrote: rows per table, and the tables whose ids had to be renumbered."""

    rows: dict[str, int] = field(default_factory=dict)
    renumbered: list[str] = field(default_factory=list)
    checksums: dict[str, TableChecksum] = field(default_factory=dict)


class Loader:
    """Writes tables in ``checksums.load_order()``; call ``finish`` after the last one."""

    def __init__(self, conn: Connection, route: TenantRoute) -> None:
        self.conn = conn
        self.route = route
        self.report = LoadReport()
        self._new_ids: dict[str, dict[int, int]] = {}
        self._kept_max: dict[str, int] = {}

    def load(self, name: str, rows: Iterable[dict[str, Any]]) -> int:
        """Insert rowcodec objects into table ``name`` for the route's tenant.

        Raises:
            ValueError: a row does not fit the schema.
        """
        table = TENANT_TABLES[name]
        dialect = self.conn.dialect.name
        decoded = [decode_row(table, row, dialect=dialect) for row in rows]
        old_ids = [row["id"] for row in decoded]
        if old_ids and self._taken(table, old_ids):
            new_ids = self._allocate(table, len(old_ids))
            self._new_ids[name] = dict(zip(old_ids, new_ids, strict=True))
            for row, new_id in zip(decoded, new_ids, strict=True):
                row["id"] = new_id
            self.report.renumbered.append(name)
        elif old_ids:
            self._kept_max[name] = max(old_ids)
        for row in decoded:
            row["tenant_id"] = self.route.tenant_id
            for column, target in REFERENCES.items():
                mapping = self._new_ids.get(target)
                if column in row and mapping is not None and row[column] in mapping:
                    row[column] = mapping[row[column]]
        for start in range(0, len(decoded), _CHUNK):
            self.conn.execute(table.insert(), decoded[start : start + _CHUNK])
        self.report.rows[name] = len(decoded)
        return len(decoded)

    def finish(self) -> LoadReport:
        """Move PostgreSQL sequences past the ids that were kept."""
        if self.conn.dialect.name == "postgresql":
            for name, top in self._kept_max.items():
                self.conn.execute(
                    text(
                        "SELECT setval(s, GREATEST(:top, COALESCE(pg_sequence_last_value(s), 0))) "
                        "FROM (SELECT pg_get_serial_sequence(:t, 'id')::regclass AS s) AS q"
                    ),
                    {"top": top, "t": self._qualified(name)},
                )
        return self.report

    def _qualified(self, name: str) -> str:
        return f'"{self.route.schema}".{name}'

    def _taken(self, table: Table, ids: list[int]) -> bool:
        """Does another tenant hold any of ``ids`` in ``table`` at this route?"""
        for start in range(0, len(ids), _CHUNK):
            hit = self.conn.execute(
                select(table.c.id)
                .where(table.c.id.in_(ids[start : start + _CHUNK]))
                .where(table.c.tenant_id != self.route.tenant_id)
                .limit(1)
            ).first()
            if hit is not None:
                return True
        return False

    def _allocate(self, table: Table, count: int) -> list[int]:
        if self.conn.dialect.name == "postgresql":
            drawn = self.conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": self._qualified(table.name), "n": count},
            ).scalars()
            return sorted(drawn)
        # SQLite numbers a new INTEGER PRIMARY KEY as max(id) + 1: continue from there.
        top = self.conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        return list(range(top + 1, top + 1 + count))
