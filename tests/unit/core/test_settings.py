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


def test_audit_files_default_to_the_data_dir_one_checkpoint_per_store(tmp_path) -> None:
    a = Settings(database_url="postgresql+psycopg://u:secret@h/a", data_dir=tmp_path)
    b = Settings(database_url="postgresql+psycopg://u:other@h/b", data_dir=tmp_path)
    assert a.audit_key_path == b.audit_key_path == tmp_path / "audit.key"
    assert a.audit_checkpoint_path.parent == tmp_path
    assert a.audit_checkpoint_path.name.startswith("audit-")
    assert a.audit_checkpoint_path != b.audit_checkpoint_path
    same = Settings(database_url="postgresql+psycopg://u:rotated@h/a", data_dir=tmp_path)
    assert same.audit_checkpoint_path == a.audit_checkpoint_path  # the password is not in it
    chosen = Settings(database_url=a.database_url, audit_checkpoint_file=tmp_path / "cp")
    assert chosen.audit_checkpoint_path == tmp_path / "cp"
