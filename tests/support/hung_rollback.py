"""A worker process whose isolation migration fails mid-copy and then hangs in its rollback,
for tests that kill it there (``python -m tests.support.hung_rollback MARKER``; the store
comes from the ``PAYBILL_*`` environment, as for ``paybill worker``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from paybill.server.app import build_services
from paybill.server.core.errors import ProvisioningFailed
from paybill.server.core.settings import Settings
from paybill.server.executors.dataplane import relocate
from paybill.server.workflows.engine.worker import Worker


def main(marker: Path) -> None:
    def copy_fails(*_args: Any, **_kwargs: Any) -> Any:
        raise ProvisioningFailed("injected: the target ran out of disk mid-copy.")

    def cleanup_hangs(*_args: Any, **_kwargs: Any) -> Any:
        marker.touch()  # the failure is on record by now; the rollback is under way
        time.sleep(120)

    relocate.copy_tenant = copy_fails  # type: ignore[assignment]
    relocate.cleanup = cleanup_hangs  # type: ignore[assignment]
    Worker(build_services(Settings())).run_pending()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
