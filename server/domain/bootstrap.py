"""Bring a store up to date (`paybill init`) and check it is before serving."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from paybill.server.core.errors import InvalidInput
from paybill.server.domain.plans import load_catalogue, sync_plans
from paybill.server.store import migrate
from paybill.server.store.database import Database


@dataclass(frozen=True)
class InitReport:
    revision_before: str | None
    revision_after: str | None
    plans_changed: list[str]

    @property
    def changed(self) -> bool:
        return self.revision_before != self.revision_after or bool(self.plans_changed)


def initialise(db: Database, policies_dir: Path | None = None) -> InitReport:
    """Migrate the store to head and sync the plan catalogue. Idempotent."""
    catalogue = load_catalogue(policies_dir)  # validate before touching the store
    before = migrate.current_revision(db.engine)
    migrate.upgrade(db.engine)
    with db.session() as session:
        changed = sync_plans(session, catalogue)
    return InitReport(before, migrate.current_revision(db.engine), changed)


def require_existing(database_url: str) -> None:
    """Raises: InvalidInput when the URL names a SQLite file that does not exist: opening it
    would create it (and its folders), and only `paybill init` creates a store."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database or "")
    if not path.exists():
        raise InvalidInput(
            f"No Paybill store at {path}; run `paybill init` to create it (or set "
            "PAYBILL_DATABASE_URL to the store you meant)."
        )


def require_current(db: Database) -> None:
    """Raises: InvalidInput when the store is missing or behind the code's migrations."""
    try:
        current = migrate.current_revision(db.engine)
    except OperationalError as exc:
        raise InvalidInput(f"Cannot open the store at {db.engine.url!r}: {exc.orig}") from None
    head = migrate.head_revision(db.engine)
    if current != head:
        raise InvalidInput(
            f"The store is at revision {current or 'none'} but this Paybill needs {head}; "
            "run `paybill init` (it migrates the store and loads the plans and policies)."
        )
