"""The SQL guard's golden corpus: statements it must accept or reject, with the expected
error code and rule (``accepted/*.sql``, ``rejected/*.sql``). The unit tests of the guard and
the attack transcripts (``build_transcripts``) both read it. A case's header lines:
``-- expect: SQL_REJECTED <rule>``, ``-- writer: true``, ``-- params: {json}``,
``-- escaped: true`` (the body holds backslash escapes) and ``-- backend: postgres`` (an
accepted statement only PostgreSQL runs; the SQLite store refuses it)."""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent


@dataclass
class Case:
    file: str
    name: str
    sql: str = ""
    expect_code: str | None = None
    expect_rule: str | None = None
    writer: bool = False
    # "postgres": a statement only PostgreSQL runs (SQLite refuses it); None: both.
    backend: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"


def _case(file: str, block: str) -> Case:
    name, _, rest = block.partition("\n")
    case = Case(file, name.strip())
    body, escaped = [], False
    for line in rest.splitlines():
        if line.startswith("-- expect:"):
            code, _, rule = line[10:].strip().partition(" ")
            case.expect_code, case.expect_rule = code, rule or None
        elif line.startswith("-- writer:"):
            case.writer = line[10:].strip() == "true"
        elif line.startswith("-- backend:"):
            case.backend = line[11:].strip()
        elif line.startswith("-- params:"):
            case.params = json.loads(line[10:])
        elif line.startswith("-- escaped:"):
            escaped = line[11:].strip() == "true"
        else:
            body.append(line)
    text = "\n".join(body).strip()
    case.sql = codecs.decode(text, "unicode_escape") if escaped else text
    return case


def load(kind: str) -> list[Case]:
    cases: list[Case] = []
    for path in sorted((CORPUS / kind).glob("*.sql")):
        blocks = path.read_text(encoding="utf-8").split("\n-- name:")[1:]
        cases += [_case(path.stem, block) for block in blocks]
    return cases
