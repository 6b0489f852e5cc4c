"""ACL decision cost as the store grows: 100, 1,000 and 10,000 tenants x 6 roles.

Usage: python benchmarks/acl_scale.py [DATABASE_URL_PREFIX] [--decisions N]

For each size, a fresh SQLite store (or a PostgreSQL database named by the prefix plus the
size) gets one principal bound to each of the 6 roles in every tenant's domain (6 x tenants
role bindings), then times ``Acl.allowed`` (the compiled index) and Casbin's own ``enforce``
on random (principal, its tenant, tool) requests, and the per-call change check: the
control-versions read against the count of ``casbin_rules`` it replaced, and a full reload
(after any ACL change). Prints p50s in microseconds (reload: milliseconds) and the
10,000/100 ratios; no assertion.

The compiled decision is timed two ways. "warm": back to back, in batches of ``BATCH``
decisions (a decision is a few hundred nanoseconds; two clock reads and the loop around one
decision were a quarter of that, the same at every size). Back to back, 100 tenants' index
stays in the core's caches and 10,000 tenants' does not: the ratio is that of an L2 hit to
a miss. "in a call": one decision after ``--evict-mb`` of other memory traffic (untimed),
as the rest of a call (SQL, JSON, audit) leaves the caches; "floor" is an empty request
timed the same way, the clock and the interpreter coming back to a cold cache.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from paybill.server.core.vocabulary import Role
from paybill.server.domain.acl import Acl, load_permissions, subject
from paybill.server.domain.bootstrap import initialise
from paybill.server.domain.control_versions import read_versions
from paybill.server.store import CasbinRule
from paybill.server.store.database import Database, make_engine

SIZES = (100, 1_000, 10_000)
ROLES = [role.value for role in Role]
BATCH = 10
Request = tuple[str, str, str]


def _p50_us(run: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def _p50_batched_us(decide: Callable[[str, str, str], bool], requests: list[Request]) -> float:
    """Per-decision p50 of batches of ``BATCH`` back-to-back decisions."""
    samples = []
    for at in range(0, len(requests) - BATCH + 1, BATCH):
        batch = requests[at : at + BATCH]
        start = time.perf_counter()
        for name, domain, tool in batch:
            decide(name, domain, tool)
        samples.append((time.perf_counter() - start) * 1e6 / BATCH)
    return statistics.median(samples)


def _p50_in_call_us(
    decide: Callable[[str, str, str], bool], requests: list[Request], evict_mb: int
) -> float:
    """p50 of one decision after ``evict_mb`` MB of memory traffic outside the timer."""
    source, target = bytearray(evict_mb << 20), bytearray(evict_mb << 20)
    samples = []
    for name, domain, tool in requests:
        target[:] = source
        start = time.perf_counter()
        decide(name, domain, tool)
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def _nothing(name: str, domain: str, tool: str) -> bool:
    return False


def measure(url: str, tenants: int, decisions: int, evict_mb: int) -> dict[str, float]:
    db = Database(url)
    initialise(db)
    rows = [
        {"ptype": "g", "v0": subject(f"p{t}-{r}"), "v1": role, "v2": f"t{t}"}
        for t in range(tenants)
        for r, role in enumerate(ROLES)
    ]
    with db.session() as session:
        session.execute(insert(CasbinRule), rows)
    reader = make_engine(url, write_lock=False)
    acl = Acl(reader)
    tools = sorted({tool for _, tool, _ in load_permissions()})
    rng = random.Random(15)  # noqa: S311 (benchmark requests, not secrets)
    requests: list[Request] = []
    for _ in range(decisions):
        t, r = rng.randrange(tenants), rng.randrange(len(ROLES))
        requests.append((f"p{t}-{r}", f"t{t}", rng.choice(tools)))
    pending = iter(requests)

    def casbin() -> bool:
        name, domain, tool = next(pending)
        return acl.enforce(subject(name), domain, tool, "call")

    result = {
        "compiled": _p50_batched_us(acl.allowed, requests),
        "in_call": _p50_in_call_us(acl.allowed, requests, evict_mb),
        "floor": _p50_in_call_us(_nothing, requests, evict_mb),
        "casbin": _p50_us(casbin, decisions),
    }
    # What the first call after any ACL change pays: Casbin's load plus the index build.
    result["reload"] = _p50_us(acl.reload, 3) / 1000
    with Session(db.engine) as session:
        result["versions"] = _p50_us(lambda: read_versions(session), 300)
        count = select(func.max(CasbinRule.id), func.count(CasbinRule.id))
        result["count"] = _p50_us(lambda: session.execute(count).one(), 300)
    reader.dispose()
    db.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url_prefix", nargs="?", help="e.g. postgresql+psycopg://u@h/acl_")
    parser.add_argument("--decisions", type=int, default=3_000)
    parser.add_argument("--evict-mb", type=int, default=8, help="above the core's L2 cache")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="paybill-acl-"))
    results = {}
    for tenants in SIZES:
        url = f"{args.url_prefix}{tenants}" if args.url_prefix else f"sqlite:///{tmp}/{tenants}.db"
        results[tenants] = measure(url, tenants, args.decisions, args.evict_mb)
    print(f"p50 in microseconds, {args.decisions} decisions per size, 6 roles per tenant")
    print(
        "tenants  bindings  warm  in call  floor    casbin  versions read  rules count  reload ms"
    )
    for tenants, r in results.items():
        print(
            f"{tenants:>7} {tenants * 6:>9} {r['compiled']:>5.2f} {r['in_call']:>8.2f} "
            f"{r['floor']:>6.2f} {r['casbin']:>9.1f} "
            f"{r['versions']:>14.1f} {r['count']:>12.1f} {r['reload']:>10.1f}"
        )
    low, high = results[SIZES[0]], results[SIZES[-1]]
    print(
        f"ratio {SIZES[-1]}/{SIZES[0]}: compiled warm {high['compiled'] / low['compiled']:.2f}, "
        f"in call {high['in_call'] / low['in_call']:.2f}, "
        f"casbin {high['casbin'] / low['casbin']:.2f}, "
        f"versions read {high['versions'] / low['versions']:.2f}, "
        f"rules count {high['count'] / low['count']:.2f}"
    )


if __name__ == "__main__":
    main()
