"""SQLite store and tenant-data files are private to the server's user (mode 0600), like the
tenant credentials, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from paybill.server.executors.dataplane.credentials import TenantCredentials
from paybill.server.executors.dataplane.engines import Engines, tenants_file_url
from paybill.server.store.database import Database, make_engine


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # files would be created 0644
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:  # WAL: the -wal and -shm files appear with the first write
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        files = sorted(p.name for p in Path(engine.url.database or "").parent.iterdir())
    engine.dispose()
    assert any(name.endswith("-wal") for name in files), files


def test_store_and_tenant_files_are_created_0600(tmp_path: Path, open_umask: None) -> None:
    store = tmp_path / "new" / "paybill.db"
    _write(f"sqlite:///{store}")
    engines = Engines(f"sqlite:///{store}", TenantCredentials(tmp_path / "data"))
    with engines.shared.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        tenants = Path(make_url(tenants_file_url(f"sqlite:///{store}")).database or "")
        assert any(p.name.endswith("-wal") for p in tenants.parent.iterdir())
        modes = {p.name: _mode(p) for p in store.parent.iterdir()}
    engines.dispose()
    assert tenants.exists()
    assert modes == dict.fromkeys(modes, 0o600), modes
    assert _mode(store.parent) == 0o700


def test_an_older_permissive_store_is_tightened(tmp_path: Path, open_umask: None) -> None:
    store = tmp_path / "paybill.db"
    store.touch(mode=0o644)
    wal = tmp_path / "paybill.db-wal"
    wal.touch(mode=0o644)
    make_engine(f"sqlite:///{store}").dispose()
    assert (_mode(store), _mode(wal)) == (0o600, 0o600)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_calls_pool_keeps_the_connections_concurrent_calls_opened(empty_url: str) -> None:
    """Eight connections held at once (eight HTTP sessions' calls) are kept when returned:
    the next eight checkouts open no new connection. With SQLAlchemy's default pool (five
    kept) three of them were closed and opened again, a backend start per overflow."""
    engine = Database(empty_url).engine
    opened: list[object] = []
    event.listen(engine, "connect", lambda dbapi_connection, _record: opened.append(1))
    try:
        for _ in range(2):
            held = [engine.connect() for _ in range(8)]
            for conn in held:
                conn.execute(text("SELECT 1"))
            for conn in held:
                conn.close()
        assert len(opened) == 8
    finally:
        engine.dispose()
