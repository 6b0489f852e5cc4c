"""Session and login tokens: signed, expiring, and useless once altered."""

from __future__ import annotations

import stat
from pathlib import Path

from paybill.server.console.sessions import SessionCodec, csrf_ok
from paybill.server.core.settings import Settings

SECRET = b"k" * 32


def test_a_session_round_trips_and_carries_its_csrf_token() -> None:
    codec = SessionCodec(SECRET, max_age=60)
    token, issued = codec.issue("boss", "ABCDEFGHIJKL")
    assert codec.read(token) == issued
    assert csrf_ok(issued, issued.csrf) and not csrf_ok(issued, "") and not csrf_ok(issued, "x")


def test_forged_expired_and_foreign_tokens_are_no_session() -> None:
    codec = SessionCodec(SECRET, max_age=60)
    token, _ = codec.issue("boss", "ABCDEFGHIJKL")
    assert codec.read(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert SessionCodec(b"o" * 32, max_age=60).read(token) is None
    assert SessionCodec(SECRET, max_age=-1).read(token) is None  # older than its lifetime
    assert codec.read(None) is None and codec.read("") is None
    login_cookie, _ = codec.login_token()
    assert codec.read(login_cookie) is None  # another purpose (salt), not a session


def test_the_login_token_matches_only_its_form_value() -> None:
    codec = SessionCodec(SECRET, max_age=60)
    cookie, nonce = codec.login_token()
    assert codec.login_ok(cookie, nonce)
    assert not codec.login_ok(cookie, "other") and not codec.login_ok(None, nonce)
    session, _ = codec.issue("boss", "ABCDEFGHIJKL")
    assert not codec.login_ok(session, nonce)


def test_the_signing_key_is_a_private_file_shared_by_restarts(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", data_dir=tmp_path / "d")
    token, _ = SessionCodec.from_settings(settings).issue("boss", "ABCDEFGHIJKL")
    key = tmp_path / "d" / "console.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert SessionCodec.from_settings(settings).read(token) is not None
