"""Settings come from PAYBILL_* variables; bad database URLs are refused up front."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from paybill.server.core.settings import Settings


def test_default_store_is_sqlite_in_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv("PAYBILL_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    url = Settings().database_url
    assert url == f"sqlite:///{tmp_path}/paybill/paybill.db"


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYBILL_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("PAYBILL_PRINCIPAL", "alice")
    settings = Settings()
    assert (settings.database_url, settings.principal) == ("postgresql+psycopg://u@h/db", "alice")


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "postgresql://u@h/db", "foo://x"])
def test_bad_database_url_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("PAYBILL_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="database"):
        Settings()
