"""Audit appends per second from N threads, each a call's transaction: append, then the rest
of the call's transaction (``--hold-ms``, a sleep standing for its remaining statements), commit.

Usage: python benchmarks/audit_append.py DATABASE_URL [--threads N] [--calls N] [--hold-ms MS]

DATABASE_URL names an empty PostgreSQL (or SQLite) database; the store is initialised in it.
Prints calls per second, the median and 95th-percentile call time and how many events the
calls left unsealed, then verifies the log (which seals them) and prints what verify
reports. docs/benchmarks.md records the figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text

from paybill.server.core.vocabulary import Decision
from paybill.server.domain import audit
from paybill.server.domain.audit_key import ensure_key
from paybill.server.domain.audit_log import AuditLog
from paybill.server.domain.bootstrap import initialise
from paybill.server.store.database import Database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=200, help="per thread")
    parser.add_argument("--hold-ms", type=float, default=0.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="paybill-bench-"))
    db = Database(args.database_url)
    initialise(db)
    log = AuditLog(ensure_key(workdir / "audit.key")[0], workdir / "audit.checkpoint")
    times: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(args.threads + 1)

    def caller(n: int) -> None:
        mine: list[float] = []
        start.wait()
        for i in range(args.calls):
            began = time.perf_counter()
            with db.session() as session:
                entry = audit.AuditEntry(
                    f"bench-{n}", "list_plans", {"i": i}, Decision.ALLOWED, "r", "ok"
                )
                log.append(session, entry)
                if args.hold_ms:
                    time.sleep(args.hold_ms / 1000)
            mine.append(time.perf_counter() - began)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    calls = args.threads * args.calls
    times.sort()
    print(
        f"backend: {args.database_url.split(':', 1)[0]}, threads: {args.threads}, "
        f"calls: {calls}, hold: {args.hold_ms:g} ms"
    )
    print(
        f"{calls / elapsed:.0f} calls/s; per call median {statistics.median(times) * 1000:.1f} ms, "
        f"p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms"
    )
    with db.engine.connect() as conn:
        waiting = conn.scalar(text("SELECT count(*) FROM audit_events WHERE hash IS NULL"))
    print(f"left unsealed at the end (for the next sealer): {waiting}")
    with db.session() as session:
        report = log.verify(session)
    print(f"verify: ok={report.ok} checked={report.checked} reason={report.reason}")
    db.dispose()


if __name__ == "__main__":
    main()
