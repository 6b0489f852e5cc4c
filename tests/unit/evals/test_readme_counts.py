"""Figures the README states about the tree are the tree's: they drift otherwise."""

from __future__ import annotations

import re
from pathlib import Path

from paybill.evals.sql_corpus import load

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_counts_the_sql_corpus() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    stated = re.search(r"\((\d+) rejected, (\d+) accepted statements\)", text)
    assert stated is not None, "the README no longer states the corpus size"
    assert (int(stated[1]), int(stated[2])) == (len(load("rejected")), len(load("accepted")))
