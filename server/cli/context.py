"""What every CLI command shares: settings and an open store, both built on first use (so
`paybill --help` and `paybill principal --help` import neither pydantic nor SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paybill.server.core.settings import Settings
    from paybill.server.store.database import Database


@dataclass
class CliContext:
    verbose: bool = False  # `paybill --verbose`: libraries' INFO logs too (``cli.logs``)

    @cached_property
    def settings(self) -> Settings:
        from paybill.server.core.settings import Settings

        return Settings()

    @cached_property
    def db(self) -> Database:
        from paybill.server.store.database import Database

        return Database(self.settings.database_url)

    def current_db(self) -> Database:
        """The store, refusing to work on one that `paybill init` has not brought up to date.

        Raises: InvalidInput (no store there yet: nothing is created; or not up to date).
        """
        from paybill.server.domain.bootstrap import require_current, require_existing

        require_existing(self.settings.database_url)
        require_current(self.db)
        return self.db
