"""Reader of the SQL golden files in tests/fixtures/sql/{accepted,rejected}/*.sql."""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sql"


@dataclass
class Case:
    file: str
    name: str
    sql: str
    expect_code: str | None = None
    expect_rule: str | None = None
    writer: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"


def load(kind: str) -> list[Case]:
    cases: list[Case] = []
    for path in sorted((FIXTURES / kind).glob("*.sql")):
        current: Case | None = None
        body: list[str] = []
        escaped = False

        def close() -> None:
            if current is not None:
                text = "\n".join(body).strip()
                current.sql = codecs.decode(text, "unicode_escape") if escaped else text
                cases.append(current)

        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("-- name:"):
                close()
                current, body, escaped = Case(path.stem, line[8:].strip(), ""), [], False
            elif current is None:
                continue
            elif line.startswith("-- expect:"):
                code, _, rule = line[10:].strip().partition(" ")
                current.expect_code, current.expect_rule = code, rule or None
            elif line.startswith("-- writer:"):
                current.writer = line[10:].strip() == "true"
            elif line.startswith("-- params:"):
                current.params = json.loads(line[10:])
            elif line.startswith("-- escaped:"):
                escaped = line[11:].strip() == "true"
            else:
                body.append(line)
        close()
    return cases
