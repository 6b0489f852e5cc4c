"""A private SQLite store for the guards that read it (principals, ACL bindings, runs,
idempotency records, approvals): a copy of the session's migrated template."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from paybill.server.store.database import Database


@pytest.fixture
def store(template_store, tmp_path: Path) -> Iterator[Database]:
    target = tmp_path / "store.db"
    shutil.copyfile(template_store("sqlite"), target)
    database = Database(f"sqlite:///{target}")
    yield database
    database.dispose()
