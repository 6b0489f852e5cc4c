"""Write the shipped scenario and attack transcripts (evals/transcripts/*.jsonl).

Run from a checkout: ``python -m paybill.evals.build_transcripts``. The output is
committed; edit this script and run it again rather than editing generated files by hand
(``onboard_pooled.jsonl`` is hand-written and left alone). The SQL attacks come from the
SQL guard's golden files in ``tests/fixtures/sql/rejected``.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

from paybill.evals import attacks, scenarios
from paybill.evals.transcript import Header, Step, dumps

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "evals" / "transcripts"
GOLDEN = ROOT / "tests" / "fixtures" / "sql" / "rejected"


def golden_sql() -> list[dict[str, Any]]:
    """Rejected statements: name, sql, rule, writer (same reading as tests/dataplane)."""
    cases = []
    for path in sorted(GOLDEN.glob("*.sql")):
        for block in path.read_text(encoding="utf-8").split("\n-- name:")[1:]:
            name, _, rest = block.partition("\n")
            case: dict[str, Any] = {"name": f"{path.stem}:{name.strip()}", "writer": False}
            body, escaped = [], False
            for line in rest.splitlines():
                if line.startswith("-- expect:"):
                    case["rule"] = line[10:].strip().partition(" ")[2]
                elif line.startswith("-- writer:"):
                    case["writer"] = line[10:].strip() == "true"
                elif line.startswith("-- params:"):
                    import json

                    case["params"] = json.loads(line[10:])
                elif line.startswith("-- escaped:"):
                    escaped = line[11:].strip() == "true"
                else:
                    body.append(line)
            text = "\n".join(body).strip()
            case["sql"] = codecs.decode(text, "unicode_escape") if escaped else text
            cases.append(case)
    return cases


def main() -> None:
    built = {**scenarios.build(), **attacks.build(golden_sql())}
    for name, (header, steps) in sorted(built.items()):
        (OUT / f"{name}.jsonl").write_text(
            dumps(Header.model_validate(header), [Step.model_validate(s) for s in steps]),
            encoding="utf-8",
        )
    print(f"wrote {len(built)} transcripts to {OUT}")


if __name__ == "__main__":
    main()
