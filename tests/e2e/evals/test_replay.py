"""`paybill eval replay` over the real MCP client: the shipped transcripts (one test each, so
the workers share them out), determinism across transports, and a wrong expectation
reported at its step and field."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paybill.evals.replay import TRANSPORTS, Replayer, ReplayOptions, replay_all
from paybill.evals.report import TranscriptResult
from paybill.evals.transcript import load
from tests.support import REPO

ROOT = REPO
SHIPPED = sorted((ROOT / "evals" / "transcripts").glob("*.jsonl"))
PG_ADMIN_URL = os.environ.get(
    "PAYBILL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PAYBILL = str(Path(sys.executable).parent / "paybill")
# Small transcripts on both backends, replayed together by the concurrency test.
CONCURRENT = ("onboard_pooled", "onboard_bridge", "suspend_resume", "data_writes")


@pytest.fixture(scope="session")
def replayer() -> Iterator[Replayer]:
    """One sandbox factory and server preloader per test worker, shared by the replays."""
    with Replayer(PG_ADMIN_URL) as shared:
        yield shared


def _comparable(result: TranscriptResult) -> dict[str, Any]:
    """The result without the transport's name, which is all two transports may differ in."""
    data = result.model_dump(mode="json")
    data.pop("transport")
    return data


def _failures(result: TranscriptResult) -> list[str]:
    if not result.results:
        return [f"{result.scenario}: {result.first_difference}"]
    return [
        f"{result.scenario} step {r.index} ({r.tool} as {r.principal}): {r.difference}"
        for r in result.results
        if not r.ok
    ]


def test_shipped_transcripts_cover_the_issue() -> None:
    transcripts = [load(p) for p in SHIPPED]
    assert len(transcripts) >= 25
    attacks = [s for t in transcripts if t.header.scenario.startswith("attack_") for s in t.steps]
    refused = [s for s in attacks if s.expect.is_error]
    assert len(refused) >= 300
    assert all(s.expect.code for s in refused), "every attack step names its error code"
    assert {t.header.backend for t in transcripts} == {"sqlite", "postgresql"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_transcript_is_green_on_stdio_and_http_with_identical_reports(
    replayer: Replayer, path: Path
) -> None:
    """Each transcript on stdio, on streamable HTTP, then on stdio again, each against a fresh
    store: green every time, every step replayed, and the three results identical but for
    the transport's name (determinism across runs on one transport and across transports)."""
    transcript = load(path)
    runs = [asyncio.run(replayer.replay(transcript, t)) for t in (*TRANSPORTS, TRANSPORTS[0])]
    for result in runs:
        assert result.ok, f"{result.transport}:\n" + "\n".join(_failures(result))
        assert result.steps == len(result.results) == len(transcript.steps)
    first, *others = (_comparable(result) for result in runs)
    assert all(other == first for other in others)


def test_transcripts_replayed_at_once_share_one_launcher_and_stay_green() -> None:
    """``paybill eval replay --jobs``: several transcripts at once (one sandbox factory and
    preloader between them, each against a store of its own), every step counted."""
    paths = [p for p in SHIPPED if p.stem in CONCURRENT]
    report = asyncio.run(replay_all(paths, ReplayOptions(pg_admin_url=PG_ADMIN_URL, jobs=3)))
    assert [t.file for t in report.transcripts] == [p.name for p in paths]
    assert report.ok, "\n".join(f for t in report.transcripts for f in _failures(t))
    assert report.steps == sum(len(load(p).steps) for p in paths) == report.passed


def test_a_wrong_expectation_fails_naming_the_step_and_field(tmp_path: Path) -> None:
    lines = (ROOT / "evals" / "transcripts" / "suspend_resume.jsonl").read_text().splitlines()
    step = json.loads(lines[2])  # step 2: the real suspension
    step["expect"]["match"]["to_state"] = "archived"
    lines[2] = json.dumps(step)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text("\n".join(lines) + "\n")
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [PAYBILL, "eval", "replay", str(wrong), "--report", str(report_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("PAYBILL_")},
    )
    assert result.returncode == 1, result.stderr
    assert "step 2 (line 3, suspend_tenant): match to_state" in result.stdout
    report = json.loads(report_path.read_text())
    transcript = report["transcripts"][0]
    assert (transcript["steps"], transcript["failed"]) == (6, 1)
    failed = transcript["results"][1]
    assert failed["ok"] is False and failed["line"] == 3
    assert failed["difference"] == 'match to_state: expected "archived", got "suspended"'
