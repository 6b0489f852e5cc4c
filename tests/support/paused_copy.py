"""A worker process that pauses an isolation migration's copy mid-way (after its first table,
before the second), writes the PostgreSQL backend pid the copy is loading through to
``MARKER`` and waits for ``GO`` to exist, so a test can terminate that backend under it:
``python -m tests.support.paused_copy MARKER GO`` (the store comes from ``PAYBILL_*``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from paybill.server.app import build_services
from paybill.server.core.settings import Settings
from paybill.server.executors.dataplane.loader import Loader
from paybill.server.workflows.engine.worker import Worker


def main(marker: Path, go: Path) -> None:
    real_load, loads = Loader.load, [0]

    def load(self: Loader, name: str, rows: Any) -> int:
        loads[0] += 1
        if loads[0] == 2 and not marker.exists():
            pid = self.conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            marker.write_text(str(pid))
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return real_load(self, name, rows)

    Loader.load = load  # type: ignore[method-assign]
    Worker(build_services(Settings())).run_pending()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
