"""The local provisioner's routing records are the server's own: owner-only, like the
credentials and the store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from paybill.server.core.vocabulary import CloudTarget, Isolation
from paybill.server.executors.local import LocalProvisioner
from paybill.server.executors.provisioner import TenantFacts

FACTS = TenantFacts(
    id="0f708d92-ca8a-4cc6-8265-6d9ade920c6e",
    slug="acme",
    plan="pro",
    tier=2,
    isolation=Isolation.BRIDGE,
    cloud=CloudTarget.LOCAL,
    region="local",
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_records_and_their_folders_are_owner_only(tmp_path: Path) -> None:
    provisioner = LocalProvisioner(tmp_path, engines=None)  # type: ignore[arg-type]
    old = os.umask(0o022)  # a common default, under which plain writes come out 0644
    try:
        record = provisioner._write(FACTS, {"state": "provisioned"})
        leftover = record.with_suffix(".tmp")
        leftover.write_text("{}")
        leftover.chmod(0o644)
        record = provisioner._write(FACTS, {"state": "active"})
    finally:
        os.umask(old)
    assert (_mode(record), _mode(record.parent), _mode(tmp_path / "tenants")) == (
        0o600,
        0o700,
        0o700,
    )
    assert '"active"' in record.read_text()
