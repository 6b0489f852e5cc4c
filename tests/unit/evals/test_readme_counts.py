"""Figures the README states about the tree are the tree's: they drift otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path

from paybill.evals.sql_corpus import load

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_counts_the_sql_corpus() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    stated = re.search(r"\((\d+) rejected, (\d+) accepted statements\)", text)
    assert stated is not None, "the README no longer states the corpus size"
    assert (int(stated[1]), int(stated[2])) == (len(load("rejected")), len(load("accepted")))


TRANSCRIPTS = README.parent / "evals" / "transcripts"


def _attack_refusals() -> int:
    """Steps of the attack transcripts that expect a typed refusal."""
    refused = 0
    for path in TRANSCRIPTS.glob("attack_*.jsonl"):
        steps = [json.loads(line) for line in path.read_text().splitlines()[1:] if line.strip()]
        refused += sum(1 for step in steps if step.get("expect", {}).get("is_error"))
    return refused


def test_readme_counts_the_transcripts() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    stated = re.search(r"(\d+) scenarios and an attack suite of (\d+) adversarial steps", text)
    assert stated is not None, "the README no longer states the transcript counts"
    scenarios = [p for p in TRANSCRIPTS.glob("*.jsonl") if not p.name.startswith("attack_")]
    assert (int(stated[1]), int(stated[2])) == (len(scenarios), _attack_refusals())
    evals_readme = (README.parent / "evals" / "README.md").read_text(encoding="utf-8")
    refused = re.search(r"\(`attack_\*\.jsonl`, (\d+) refused steps\)", evals_readme)
    assert refused is not None and int(refused[1]) == _attack_refusals()


def test_readme_layout_names_every_top_level_folder() -> None:
    text = README.read_text(encoding="utf-8")
    layout = text[text.index("## Layout") : text.index("## Development")]
    rows = set(re.findall(r"^\| `([a-z_]+)/", layout, flags=re.MULTILINE))
    folders = {p.name for p in README.parent.iterdir() if p.is_dir()}
    folders = {name for name in folders if not name.startswith(".")}
    untracked = {"build", "dist", "node_modules", "paybill.egg-info", "__pycache__"}
    assert folders - untracked - rows == set(), "folders missing from the README's Layout"
