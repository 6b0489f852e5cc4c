"""The audit key file and the signed checkpoint file: created private, refused when exposed
or forged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from paybill.server.core.errors import InvalidInput
from paybill.server.domain.audit_checkpoint import (
    Checkpoint,
    CheckpointUnreadable,
    read_checkpoint,
    write_checkpoint,
)
from paybill.server.domain.audit_key import AuditKey, ensure_key, load_key

TIP = Checkpoint(count=3, last_id=7, last_hash="ab" * 32, unkeyed=1, key_id="hk1-x")


def test_the_key_is_created_once_private_and_random(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "audit.key"
    key, created = ensure_key(path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key.secret) == 32
    again, created_again = ensure_key(path)
    assert (again, created_again) == (key, False)
    assert key != ensure_key(tmp_path / "other.key")[0]
    assert list(path.parent.iterdir()) == [path]  # no temporary left behind


def test_the_key_id_names_the_key_without_revealing_it(tmp_path: Path) -> None:
    key, _ = ensure_key(tmp_path / "audit.key")
    assert key.key_id.startswith("hk1-") and len(key.key_id) <= 32
    assert key.secret.hex() not in key.key_id and key.secret.hex()[:16] not in key.key_id
    assert key.secret.hex() not in repr(key)


def test_an_exposed_or_malformed_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    ensure_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        load_key(path)
    path.write_text("not hex\n")
    os.chmod(path, 0o600)
    with pytest.raises(InvalidInput, match="64 hex digits"):
        load_key(path)
    with pytest.raises(InvalidInput, match="paybill init"):
        load_key(tmp_path / "missing.key")


def test_a_checkpoint_round_trips_and_a_forged_one_is_refused(tmp_path: Path) -> None:
    key, other = AuditKey(b"\x01" * 32), AuditKey(b"\x02" * 32)
    path = tmp_path / "audit.checkpoint"
    assert read_checkpoint(path, key) is None
    tip = Checkpoint(**{**TIP.__dict__, "key_id": key.key_id})
    write_checkpoint(path, tip, key)
    assert read_checkpoint(path, key) == tip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(CheckpointUnreadable, match="not signed"):
        read_checkpoint(path, other)
    path.write_text(path.read_text().replace('"count": 3', '"count": 2'))
    with pytest.raises(CheckpointUnreadable, match="not signed"):
        read_checkpoint(path, key)
    path.write_text("{")
    with pytest.raises(CheckpointUnreadable, match="cannot read"):
        read_checkpoint(path, key)


def test_a_key_that_cannot_be_created_is_a_typed_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(InvalidInput, match="Cannot create the audit key"):
        ensure_key(blocked / "audit.key")  # its directory would be a file
