"""A signed record of the audit log's tip, kept in a file outside the database.

The chain alone cannot tell a log whose newest events were deleted from a shorter log. The
checkpoint says "the log had at least ``count`` events, and event ``last_id`` had hash
``last_hash``"; it is MACed with the audit key, so a database-only attacker can neither
forge it nor make the table agree with it after deleting events up to it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from paybill.server.domain.audit_key import AuditKey


class CheckpointUnreadable(Exception):
    """The checkpoint file exists but is not a checkpoint signed with the current key."""


@dataclass(frozen=True)
class Checkpoint:
    count: int  # events in the chain up to and including last_id
    last_id: int
    last_hash: str
    unkeyed: int  # length of the legacy (unkeyed) prefix when the log became keyed
    key_id: str


def _message(checkpoint: Checkpoint) -> bytes:
    body = json.dumps(asdict(checkpoint), sort_keys=True, separators=(",", ":"))
    return b"paybill-audit-checkpoint\0" + body.encode()


def read_checkpoint(path: Path, key: AuditKey) -> Checkpoint | None:
    """The checkpoint at ``path``, or None when there is none yet.

    Raises:
        CheckpointUnreadable: the file is malformed or its MAC does not match ``key``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointUnreadable(f"cannot read the checkpoint file: {exc}") from None
    try:
        mac = data.pop("mac")
        checkpoint = Checkpoint(
            count=int(data["count"]),
            last_id=int(data["last_id"]),
            last_hash=str(data["last_hash"]),
            unkeyed=int(data["unkeyed"]),
            key_id=str(data["key_id"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        raise CheckpointUnreadable("the checkpoint file is not a checkpoint") from None
    if checkpoint.key_id != key.key_id or not secrets.compare_digest(
        str(mac), key.mac(_message(checkpoint))
    ):
        raise CheckpointUnreadable("the checkpoint file is not signed with the audit key")
    return checkpoint


def write_checkpoint(path: Path, checkpoint: Checkpoint, key: AuditKey) -> None:
    """Replace the checkpoint atomically (write, fsync, rename): a reader sees the old one or
    the new one, never half of either."""
    data = {**asdict(checkpoint), "mac": key.mac(_message(checkpoint))}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
