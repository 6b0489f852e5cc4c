"""An agent run as a replayable transcript (the format of ``paybill.evals.transcript``).

Replays run on a fresh store, where ids and times come out different, so the recorder
  - captures every id (a UUID) a result returned and writes later arguments that reuse it
    as ``${name}``, with ``capture`` on the step that produced it;
  - expects only what a replay reproduces: ``is_error`` and ``code``, and for successes a
    ``match`` of stable fields (strings and booleans, no ids, times, numbers or lists:
    amounts follow the clock and step lists follow the worker's timing);
  - while a workflow run it has seen is still pending or running, leaves ``state`` and
    ``status`` out too, and of a run only its kind and creator: a background worker moves
    the rest on at its own pace, so a replay may see it a step further (all of it comes
    back once a result shows the run finished).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paybill.evals.agent.models import ToolCall
from paybill.evals.transcript import Expect, Header, Step, dumps

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_HASH = re.compile(r"^[0-9a-f]{64}$")
# Opaque or per-run values that are not UUIDs.
_VOLATILE_KEYS = frozenset({"cursor", "next_cursor", "hash", "prev_hash", "api_key"})
_PROGRESS_KEYS = frozenset({"state", "status"})
# What a run in flight shows that its worker does not change (progress, lock, error... move).
_RUN_FIXED = frozenset({"kind", "created_by"})
_UNFINISHED = frozenset({"pending", "running"})
MATCH_DEPTH = 2


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}" if path else str(index))
    else:
        yield path, value


def _stable(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if not isinstance(value, str):
        return False
    return not (_UUID.search(value) or _DATETIME.match(value) or _HASH.match(value))


def stable_match(result: dict[str, Any], *, settled: bool = True, depth: int = 0) -> dict[str, Any]:
    """The fields of a result that a replay on a fresh store reproduces (``settled``: no
    workflow run is in flight, so lifecycle states and statuses are reproducible too)."""
    skip = _VOLATILE_KEYS if settled else _VOLATILE_KEYS | _PROGRESS_KEYS
    kept: dict[str, Any] = {}
    for key, value in result.items():
        if key in skip or (not settled and _is_run(result) and key not in _RUN_FIXED):
            continue
        if isinstance(value, dict) and depth + 1 < MATCH_DEPTH:
            nested = stable_match(value, settled=settled, depth=depth + 1)
            if nested:
                kept[key] = nested
        elif not isinstance(value, dict | list) and _stable(value):
            kept[key] = value
    return kept


def _is_run(value: dict[str, Any]) -> bool:
    """A workflow run (an object with an id, a kind and a status)."""
    return {"id", "kind", "status"} <= value.keys()


def _runs(value: Any) -> Iterator[dict[str, Any]]:
    """Workflow runs anywhere in a result."""
    if isinstance(value, dict):
        if _is_run(value):
            yield value
        for item in value.values():
            yield from _runs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _runs(item)


class _Captures:
    """Ids seen in results so far, and the capture names later arguments refer to them by."""

    def __init__(self) -> None:
        self.origin: dict[str, tuple[int, str]] = {}  # id -> (step index, path)
        self.names: dict[str, str] = {}  # id -> capture name
        self.by_step: dict[int, dict[str, str]] = {}  # step index -> {name: path}

    def learn(self, step: int, result: dict[str, Any]) -> None:
        for path, value in _leaves(result):
            if isinstance(value, str) and _UUID.fullmatch(value) and value not in self.origin:
                self.origin[value] = (step, path)

    def substitute(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.origin:
            return "${" + self._name(value) + "}"
        if isinstance(value, dict):
            return {k: self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        return value

    def _name(self, value: str) -> str:
        if value not in self.names:
            step, path = self.origin[value]
            base = re.sub(r"[^A-Za-z0-9_]", "_", path).strip("_") or "value"
            name, n = base, 2
            while name in self.names.values():
                name, n = f"{base}_{n}", n + 1
            self.names[value] = name
            self.by_step.setdefault(step, {})[name] = path
        return self.names[value]


def steps_of(calls: list[ToolCall]) -> list[Step]:
    """Transcript steps for the calls of a run, in order."""
    captures = _Captures()
    in_flight: set[str] = set()
    drafts: list[tuple[ToolCall, dict[str, Any], Expect]] = []
    for index, call in enumerate(calls):
        arguments = captures.substitute(call.arguments)
        result = call.result or {}
        captures.learn(index, result)
        for run in _runs(result):
            if run["status"] in _UNFINISHED:
                in_flight.add(run["id"])
            else:
                in_flight.discard(run["id"])
        if call.is_error:
            expect = Expect(is_error=True, code=call.code)
        else:
            match = stable_match(result, settled=not in_flight)
            expect = Expect(is_error=False, match=match or None)
        drafts.append((call, arguments, expect))
    steps = []
    for index, (call, arguments, expect) in enumerate(drafts):
        steps.append(
            Step(
                tool=call.tool,
                arguments=arguments,
                expect=expect,
                capture=captures.by_step.get(index, {}),
            )
        )
    return steps


def write(path: Path, header: Header, calls: list[ToolCall]) -> Path:
    """Write the transcript of a run to ``path`` (JSONL) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(header, steps_of(calls)), encoding="utf-8")
    return path
