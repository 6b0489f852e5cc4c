"""Comparing a structured tool result with a step's ``match``, and captured values.

Dicts match by subset (keys the expectation leaves out are ignored); lists match element
by element and must have the same length, unless written ``{"<contains>": [...]}`` (each
expected item matches some actual item) or ``{"<len>": n}``. Strings that are placeholders
match a kind of value instead of one value: see ``PLACEHOLDERS``. ``"${name}"`` is a value
captured by an earlier step, in ``match`` and in ``arguments`` alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_CAPTURED = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


PLACEHOLDERS: dict[str, Callable[[Any], bool]] = {
    "<any>": lambda v: True,
    "<present>": lambda v: v is not None,
    "<uuid>": lambda v: isinstance(v, str) and bool(_UUID.match(v)),
    "<datetime>": _is_datetime,
    "<hash>": lambda v: isinstance(v, str) and bool(_HASH.match(v)),
    "<int>": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "<str>": lambda v: isinstance(v, str),
}


@dataclass(frozen=True)
class Difference:
    """Where the actual result departs from the expectation (``path`` like ``tenant.state``)."""

    path: str
    expected: Any
    actual: Any

    def describe(self) -> str:
        where = self.path or "(result)"
        return f"{where}: expected {_short(self.expected)}, got {_short(self.actual)}"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class MissingCapture(KeyError):
    """A ``${name}`` that no earlier step captured."""


def substitute(value: Any, captured: dict[str, Any]) -> Any:
    """Replace every ``"${name}"`` string (whole string only) with its captured value."""
    if isinstance(value, str):
        found = _CAPTURED.match(value)
        if found is None:
            return value
        if found.group(1) not in captured:
            raise MissingCapture(found.group(1))
        return captured[found.group(1)]
    if isinstance(value, dict):
        return {k: substitute(v, captured) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, captured) for v in value]
    return value


def first_difference(expected: Any, actual: Any, path: str = "") -> Difference | None:
    """The first place ``actual`` does not match ``expected`` (depth first), or None."""
    if isinstance(expected, str) and expected in PLACEHOLDERS:
        ok = PLACEHOLDERS[expected](actual)
        return None if ok else Difference(path, expected, actual)
    if isinstance(expected, dict):
        if "<contains>" in expected or "<len>" in expected:
            return _special(expected, actual, path)
        if not isinstance(actual, dict):
            return Difference(path, expected, actual)
        for key, want in expected.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return Difference(where, want, "<missing>")
            found = first_difference(want, actual[key], where)
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return Difference(path, expected, actual)
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(want, got, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    # bool is an int in Python: keep true and 1 apart.
    if type(expected) is bool or type(actual) is bool:
        return None if expected is actual else Difference(path, expected, actual)
    return None if expected == actual else Difference(path, expected, actual)


def _special(expected: dict[str, Any], actual: Any, path: str) -> Difference | None:
    if not isinstance(actual, list):
        return Difference(path, expected, actual)
    if "<len>" in expected and len(actual) != expected["<len>"]:
        return Difference(f"{path}.<len>", expected["<len>"], len(actual))
    for index, want in enumerate(expected.get("<contains>", [])):
        if all(first_difference(want, got) is not None for got in actual):
            return Difference(f"{path}.<contains>[{index}]", want, "<no matching item>")
    return None


def extract(value: Any, path: str) -> Any:
    """Follow a dotted path (``tenant.id``, ``workflow.steps.0.name``) into a result.

    Raises:
        KeyError: the path does not exist in ``value``.
    """
    current = value
    for part in path.split(".") if path else []:
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise KeyError(path)
    return current
