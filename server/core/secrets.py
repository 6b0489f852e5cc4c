"""Secrets given in a setting or, preferably, a file (mounted secrets): one way to read them."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from paybill.server.core.errors import InvalidInput


def configured_secret(value: SecretStr | None, file: Path | None, setting: str) -> str:
    """The secret of ``PAYBILL_<setting>`` or the first line of ``PAYBILL_<setting>_FILE``;
    "" when neither is set.

    Raises: InvalidInput (the file cannot be read).
    """
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return ""
    try:
        lines = file.read_text().splitlines()
    except OSError as exc:
        raise InvalidInput(
            f"PAYBILL_{setting}_FILE cannot be read ({exc.strerror or 'unreadable'}); fix the "
            "path or its permissions."
        ) from None
    return lines[0].strip() if lines else ""
