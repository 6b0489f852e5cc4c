"""Passwords of tenant login roles, kept in files only the server's user can read."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from paybill.server.executors.dataplane.naming import TenantRoute


class TenantCredentials:
    """One file per tenant role under ``<data dir>/credentials`` (mode 0600)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "credentials"

    def _path(self, route: TenantRoute) -> Path:
        return self.root / f"{route.role}.secret"

    def ensure(self, route: TenantRoute) -> str:
        """The role's password, minted on first use."""
        path = self._path(route)
        if path.exists():
            return path.read_text().strip()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        password = secrets.token_urlsafe(32)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password)
        os.replace(path.with_suffix(".tmp"), path)
        return password

    def forget(self, route: TenantRoute) -> None:
        self._path(route).unlink(missing_ok=True)
