"""What every CLI command shares: settings and an open store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from paybill.server.core.settings import Settings
from paybill.server.domain.bootstrap import require_current, require_existing
from paybill.server.store.database import Database


@dataclass
class CliContext:
    settings: Settings = field(default_factory=Settings)
    verbose: bool = False  # `paybill --verbose`: libraries' INFO logs too (``cli.logs``)

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url)

    def current_db(self) -> Database:
        """The store, refusing to work on one that `paybill init` has not brought up to date.

        Raises: InvalidInput (no store there yet: nothing is created; or not up to date).
        """
        require_existing(self.settings.database_url)
        require_current(self.db)
        return self.db
