"""The caller's visible schema as sqlglot's ``MappingSchema``, built once, not per statement.

``qualify`` given a plain dict builds a ``MappingSchema`` (normalising every table and
column name) on every call, and that schema's lookup caches start cold each time. The
schema is kept under its whole content (tables, columns, types) as the key, so a caller
whose role or plan shows other columns gets another entry: nothing decided under one
visible schema is reused under another, and no version has to invalidate it.

The lookup caches inside a ``MappingSchema`` grow with the identifiers of the statements
it resolves (aliases an agent chooses), so an entry is rebuilt after ``_USES`` statements:
memory stays bounded whatever the statements are.
"""

from __future__ import annotations

import threading

from sqlglot.schema import MappingSchema

from paybill.server.executors.dataplane.sqlguard_memo import SchemaKey, schema_key
from paybill.server.executors.dataplane.visibility import VisibleSchema

_USES = 200  # statements resolved by one MappingSchema before it is rebuilt
_ENTRIES = 32  # distinct visible schemas kept (today at most a handful: role x plan)
_cache: dict[SchemaKey, tuple[MappingSchema, int]] = {}
_lock = threading.Lock()


def mapping_schema(schema: VisibleSchema) -> MappingSchema:
    """A ``MappingSchema`` (PostgreSQL names) of exactly ``schema``'s tables and columns."""
    key = schema_key(schema)
    with _lock:
        found = _cache.get(key)
        if found is None or found[1] >= _USES:
            if found is None and len(_cache) >= _ENTRIES:
                _cache.clear()
            found = (MappingSchema(dict(schema.tables), dialect="postgres"), 0)
        _cache[key] = (found[0], found[1] + 1)
    return found[0]
