"""Notification settings are refused at start when unusable; the signature is Stripe-like."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from pydantic import ValidationError

from paybill.server.core.errors import InvalidInput
from paybill.server.core.settings import Settings
from paybill.server.domain.notifications import body_bytes, signature, webhook_target
from paybill.server.executors.webhooks import backoff_seconds

URL = "https://hooks.example.test/paybill"


def test_off_without_a_url() -> None:
    assert webhook_target(Settings(approval_webhook_url="")) is None


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.test/x", "file:///etc/passwd", "hooks.example.test", "http://"]
)
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ValidationError, match="http:// or https:// URL"):
        Settings(approval_webhook_url=url)


def test_a_url_needs_a_secret_of_sixteen_characters(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="PAYBILL_APPROVAL_WEBHOOK_SECRET"):
        webhook_target(Settings(approval_webhook_url=URL))
    with pytest.raises(InvalidInput):
        webhook_target(Settings(approval_webhook_url=URL, approval_webhook_secret="short"))
    missing = tmp_path / "missing"
    with pytest.raises(InvalidInput, match="cannot be read"):
        webhook_target(Settings(approval_webhook_url=URL, approval_webhook_secret_file=missing))
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret-from-a-file-1234\n")
    target = webhook_target(
        Settings(approval_webhook_url=URL, approval_webhook_secret_file=secret_file)
    )
    assert target is not None and target.secret == b"s3cret-from-a-file-1234"


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    body = body_bytes({"b": 1, "a": "x"})
    assert body == b'{"a":"x","b":1}'
    mac = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"k" * 16, 1700000000, body) == f"t=1700000000,v1={mac}"


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = Settings(approval_webhook_backoff_seconds=5, approval_webhook_backoff_max_seconds=30)
    assert [backoff_seconds(settings, n) for n in range(1, 6)] == [5, 10, 20, 30, 30]
