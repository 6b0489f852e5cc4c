"""Engine and session factory for the control-plane store."""

from __future__ import annotations

import os
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from paybill.server.core.settings import parse_database_url

# At most this many connections per store engine: SQLAlchemy's default (5 kept, 10 more
# opened when needed and closed again when returned).
STORE_CONNECTIONS = 15
# The calls' engine (``Database``) keeps more: `paybill serve` runs a call per HTTP session in
# a worker thread, each holding a store connection, and with 5 kept, 8 sessions at once opened
# a new PostgreSQL connection (a backend start) every few calls. Other store engines (the
# audit reader, DDL) see little concurrency and keep 5, so an idle process holds few.
CALL_POOL = 10


def make_engine(database_url: str, *, write_lock: bool = True, kept: int = 5) -> Engine:
    """Create an engine; for SQLite, create the file's directory and enforce foreign keys.

    ``write_lock=False`` gives plain deferred transactions on SQLite, for readers that must
    not queue behind (or deadlock with) a writer on the same thread. ``kept``: connections a
    PostgreSQL pool keeps once opened, of at most ``STORE_CONNECTIONS``.
    """
    url = parse_database_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            private_file(Path(url.database))
        # pysqlite's own transaction handling is off (isolation_level=None) so that SQLAlchemy
        # emits BEGIN itself: IMMEDIATE takes the write lock up front, so concurrent calls
        # queue on the busy timeout instead of failing when a read upgrades to a write, and
        # SAVEPOINTs (dry runs) work.
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})
        event.listen(engine, "connect", _sqlite_pragmas)
        if write_lock:
            event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return postgres_engine(url, pool_size=kept, max_overflow=STORE_CONNECTIONS - kept)


def postgres_engine(url: str | URL, **options: Any) -> Engine:
    """A PostgreSQL engine whose pool hands out no connection the server has closed.

    Instead of ``pool_pre_ping`` (a round trip on every checkout), a connection is pinged
    only when its socket has something to read while idle: a server that terminates a
    backend or shuts down sends its FATAL error and closes, so that is what a dead pooled
    connection looks like. A failed ping replaces the connection before the call uses it. A
    connection lost without a word (a network cut) fails its first statement instead, which
    the pipeline answers as UNAVAILABLE (``outage``), as it did with the ping.
    """
    engine = create_engine(url, **options)
    event.listen(engine, "checkout", _checkout_check(engine))
    return engine


def _checkout_check(engine: Engine) -> Callable[[Any, Any, Any], None]:
    def check(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not dbapi_connection.closed and not _has_input(dbapi_connection.fileno()):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError("the server closed the pooled connection") from exc
            raise

    return check


def _has_input(fileno: int) -> bool:
    """Whether an idle connection's socket is readable (or closed) right now; no waiting."""
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def private_file(path: Path) -> None:
    """Create the SQLite file mode 0600 (its directory 0700 if new) before SQLite opens it,
    and tighten an older, more permissive one: SQLite gives its -wal, -shm and -journal files
    the database file's mode, so they follow."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Only a file that does not exist yet is opened here: closing any descriptor of a file
    # drops every POSIX lock this process holds on it, including those of open connections.
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    sidecars = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))
    for file in (path, *sidecars):
        try:
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except OSError:
            pass  # not ours to change (another user's file): SQLite reports what it must


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine plus a session factory; ``session()`` commits on success, rolls back on error."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = make_engine(database_url, kept=CALL_POOL)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @cached_property
    def autocommit(self) -> Engine:
        """PostgreSQL connections of their own pool in autocommit, for single statements
        sent on the driver's connection (``engine.raw_connection()``): each is its own
        transaction, so nothing is reset when one is returned."""
        url = parse_database_url(self.url)
        # SQLAlchemy's default pool (5 kept, 15 at most): a statement holds its connection
        # for one round trip, so few are ever out at once.
        return postgres_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if "autocommit" in self.__dict__:
            self.autocommit.dispose()


def updated_rows(result: Result[Any]) -> int:
    """The rows an UPDATE matched: Session.execute is typed as returning a Result, but for
    DML it is a CursorResult, which alone has ``rowcount``."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"expected the CursorResult of an UPDATE, got {type(result).__name__}")
    return result.rowcount
