"""Row digests in effects are keyed: a reader cannot test guessed values against them."""

from __future__ import annotations

import hashlib

from paybill.server.domain.audit_key import AuditKey
from paybill.server.domain.effects import sealed_digest


def test_a_sealed_digest_needs_the_servers_key() -> None:
    plain = hashlib.sha256(b'[1,"acme","carol@example.org"]\n').hexdigest()
    ours, theirs = AuditKey(b"k" * 32), AuditKey(b"x" * 32)
    sealed = sealed_digest(ours, plain)
    assert sealed == sealed_digest(ours, plain)  # stable: it binds an approval
    assert sealed not in (plain, sealed_digest(theirs, plain))
    guess = hashlib.sha256(b'[1,"acme","dave@example.org"]\n').hexdigest()
    assert sealed_digest(ours, guess) != sealed
