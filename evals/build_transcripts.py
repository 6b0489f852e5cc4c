"""Write the shipped scenario and attack transcripts (evals/transcripts/*.jsonl).

Run from a checkout: ``python -m paybill.evals.build_transcripts``. The output is
committed; edit this script and run it again rather than editing generated files by hand
(``onboard_pooled.jsonl`` is hand-written and left alone). The SQL attacks come from the
SQL guard's golden corpus (``evals/sql_corpus/rejected``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paybill.evals import attacks, scenarios
from paybill.evals.sql_corpus import load
from paybill.evals.transcript import Header, Step, dumps

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "evals" / "transcripts"


def golden_sql() -> list[dict[str, Any]]:
    """Rejected statements of the SQL guard's golden corpus: name, sql, rule, writer."""
    return [
        {
            "name": case.id,
            "writer": case.writer,
            "rule": case.expect_rule or "",
            **({"params": case.params} if case.params else {}),
            "sql": case.sql,
        }
        for case in load("rejected")
    ]


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
