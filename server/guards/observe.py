"""What the pipeline tells observers about each call: who, what, how it ended, how long, and
how long each guard stage took. Observers (metrics, traces, the JSON call log) turn it into
their own form; the pipeline times stages with a clock read before and after each guard and
knows nothing else about them."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("paybill.observe")


@dataclass
class CallTrace:
    """A call being timed: ``mark`` closes a stage that started at a ``now()`` reading."""

    tool: str
    principal: str | None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_wall_ns: int = field(default_factory=time.time_ns)
    started_ns: int = field(default_factory=time.perf_counter_ns)
    stages: list[tuple[str, int, int]] = field(default_factory=list)  # name, start, end

    @staticmethod
    def now() -> int:
        return time.perf_counter_ns()

    def mark(self, stage: str, since: int) -> None:
        self.stages.append((stage, since, time.perf_counter_ns()))

    def wall(self, moment_ns: int) -> int:
        """A ``now()`` reading as wall-clock nanoseconds (for spans)."""
        return self.started_wall_ns + (moment_ns - self.started_ns)


@dataclass(frozen=True)
class CallRecord:
    """A finished call, as observers see it: never its arguments or its result."""

    trace: CallTrace
    principal: str  # the authenticated name, else the name the transport vouched for
    tenant_id: str | None
    decision: str  # allowed | denied
    code: str  # "ok" or the error code
    ended_ns: int

    @property
    def duration_seconds(self) -> float:
        return (self.ended_ns - self.trace.started_ns) / 1e9

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per stage name (a name shared by several guards adds up)."""
        totals: dict[str, float] = {}
        for name, start, end in self.trace.stages:
            totals[name] = totals.get(name, 0.0) + (end - start) / 1e9
        return totals


class CallObserver(Protocol):
    def finished(self, record: CallRecord) -> None: ...


class Observers:
    """Several observers as one; an observer that fails is logged, never the call's problem."""

    def __init__(self, observers: Iterable[CallObserver] = ()) -> None:
        self.observers = tuple(observers)

    def finished(self, record: CallRecord) -> None:
        for observer in self.observers:
            try:
                observer.finished(record)
            except Exception:
                log.exception("call observer %s failed", type(observer).__name__)
