"""The audit chain's HMAC key: a file outside the database, never stored in it or logged.

A database-only attacker who rewrites audit rows cannot recompute their MACs without this
file. Every replica of a deployment must read the same key (a shared secret mount); an
event signed with another key is reported by ``verify`` as signed by an unknown key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from paybill.server.core.errors import InvalidInput

KEY_BYTES = 32


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A public name for the key (stored per event, so a rotation can tell keys apart);
        a digest of a 32-byte random key reveals nothing about it."""
        digest = hashlib.sha256(b"paybill-audit-key-id\0" + self.secret).hexdigest()
        return f"hk1-{digest[:16]}"

    def mac(self, message: bytes) -> str:
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def load_key(path: Path) -> AuditKey:
    """Read the key file.

    Raises:
        InvalidInput: the file is missing, readable by others, or not a hex-encoded key.
    """
    try:
        mode = path.stat().st_mode
        raw = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise InvalidInput(
            f"No audit key at {path}: run `paybill init` to create one, or point "
            "PAYBILL_AUDIT_KEY_FILE at the deployment's shared key."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Cannot read the audit key at {path}: {exc}.") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"The audit key at {path} is accessible to other users; run `chmod 600 {path}`."
        )
    try:
        secret = bytes.fromhex(raw)
    except ValueError:
        secret = b""
    if len(secret) != KEY_BYTES:
        raise InvalidInput(f"The audit key at {path} must be {KEY_BYTES * 2} hex digits.")
    return AuditKey(secret)


def ensure_key(path: Path) -> tuple[AuditKey, bool]:
    """The key at ``path``, created (mode 0600, random) when missing; True when created.

    Raises:
        InvalidInput: it cannot be created, or an existing file is unusable (``load_key``).
    """
    if path.exists():
        return load_key(path), False
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InvalidInput(
            f"Cannot create the audit key at {path} ({exc.strerror}); point "
            "PAYBILL_AUDIT_KEY_FILE at the deployment's key or a writable place."
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # A hard link appears whole or not at all and never replaces a file: two processes
        # starting together end up with one key.
        os.link(temporary, path)
        created = True
    except FileExistsError:
        created = False
    finally:
        temporary.unlink(missing_ok=True)
    return load_key(path), created
