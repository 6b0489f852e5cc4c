"""`paybill eval replay` over the real MCP client: the shipped transcripts, determinism, and
a wrong expectation reported at its step and field."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from paybill.evals import snapshot
from paybill.evals.replay import ReplayOptions, replay_all
from paybill.evals.report import Report
from paybill.evals.transcript import load
from tests.support import REPO

ROOT = REPO
SHIPPED = sorted((ROOT / "evals" / "transcripts").glob("*.jsonl"))
PG_ADMIN_URL = os.environ.get(
    "PAYBILL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PAYBILL = str(Path(sys.executable).parent / "paybill")


def _replay(paths: list[Path], transport: str) -> Report:
    options = ReplayOptions(transport=transport, pg_admin_url=PG_ADMIN_URL, jobs=3)
    return asyncio.run(replay_all(paths, options))


def _comparable(report: Report) -> dict[str, Any]:
    """The report without the transport's name, which is all two transports may differ in."""
    data = report.model_dump(mode="json")
    data.pop("transport")
    for transcript in data["transcripts"]:
        transcript.pop("transport")
    return data


def _failures(report: Report) -> list[str]:
    return [
        f"{t.scenario} step {r.index} ({r.tool} as {r.principal}): {r.difference}"
        for t in report.transcripts
        for r in t.results
        if not r.ok
    ] + [f"{t.scenario}: {t.first_difference}" for t in report.transcripts if not t.results]


def test_shipped_transcripts_cover_the_issue() -> None:
    transcripts = [load(p) for p in SHIPPED]
    assert len(transcripts) >= 25
    attacks = [s for t in transcripts if t.header.scenario.startswith("attack_") for s in t.steps]
    refused = [s for s in attacks if s.expect.is_error]
    assert len(refused) >= 300
    assert all(s.expect.code for s in refused), "every attack step names its error code"
    assert {t.header.backend for t in transcripts} == {"sqlite", "postgresql"}


def test_shipped_transcripts_are_green_on_stdio_and_http_with_identical_reports() -> None:
    """stdio, then streamable HTTP, then stdio again: every transcript green each time, and
    the three reports identical but for the transport's name (determinism across runs and
    transports)."""
    reports = []
    for transport in ("stdio", "streamable-http", "stdio"):
        report = _replay(SHIPPED, transport)
        assert report.ok, f"{transport}:\n" + "\n".join(_failures(report))
        reports.append(_comparable(report))
    assert reports[0]["steps"] == sum(len(load(p).steps) for p in SHIPPED)
    assert reports[0] == reports[1] == reports[2]


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


def test_a_store_change_names_the_section() -> None:
    before = {"tenants": [["t1", "acme", "active"]], "tenant_rows": {"acme": {"c": "1:ab"}}}
    rows = {**before, "tenant_rows": {"acme": {"c": "2:cd"}}}
    assert snapshot.changes(before, before, frozenset()) is None
    assert snapshot.changes(before, rows, frozenset()).startswith("tenant_rows.acme changed")
    state = {**before, "tenants": [["t1", "acme", "suspended"]]}
    assert snapshot.changes(before, state, frozenset()).startswith("tenants changed")
    assert snapshot.changes(before, state, frozenset({"tenants"})) is None
