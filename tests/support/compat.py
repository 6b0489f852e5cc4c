"""A fresh store with one platform admin, and `paybill serve` over HTTP on a free port."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from paybill.server.core.vocabulary import Role
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.principals import add_principal
from paybill.server.store.database import Database
from tests.support.serving import paybill_http

__all__ = ["compat_store", "npx", "paybill_http"]


def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        pytest.fail("npx (Node.js) is required for the client-compatibility tests")
    return found


def compat_store(tmp_path: Path) -> tuple[dict[str, str], str]:
    """Environment for `paybill` on a new store, and the API key of its platform admin."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = Database(url)
    initialise(db)
    with db.session() as session:
        key = add_principal(session, "compat", Role.PLATFORM_ADMIN)[1].plaintext
    db.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYBILL_")}
    env |= {"PAYBILL_DATABASE_URL": url, "PAYBILL_DATA_DIR": str(tmp_path / "data")}
    return env, key
