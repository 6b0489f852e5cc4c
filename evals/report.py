"""Replay reports: per step, per transcript, the table printed and the JSON written.

Everything in a report is a function of the transcript and the server's behaviour: no
times, ids or paths of the run, so replaying the same transcript twice gives the same
report. The one exception, ``duration_seconds``, sits at the top level of the JSON file
and is not part of ``Report.transcripts``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class StepResult(BaseModel):
    index: int = Field(description="1-based step number (the header is not a step).")
    line: int = Field(description="Line of the step in the transcript file.")
    tool: str
    principal: str
    ok: bool
    is_error: bool | None = None
    code: str | None = Field(default=None, description="error.code the server returned.")
    difference: str | None = Field(default=None, description="Why the step failed.")


class TranscriptResult(BaseModel):
    scenario: str
    file: str
    transport: str
    steps: int
    passed: int
    failed: int
    first_difference: str | None
    results: list[StepResult]

    @property
    def ok(self) -> bool:
        return self.failed == 0


class Report(BaseModel):
    transport: str
    transcripts: list[TranscriptResult]
    steps: int = 0
    passed: int = 0
    failed: int = 0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.transcripts)

    def totalled(self) -> Report:
        return self.model_copy(
            update={
                "steps": sum(t.steps for t in self.transcripts),
                "passed": sum(t.passed for t in self.transcripts),
                "failed": sum(t.failed for t in self.transcripts),
            }
        )


def table(report: Report) -> str:
    """A fixed-width table: scenario, steps, passed, failed, first difference."""
    rows = [("SCENARIO", "STEPS", "PASSED", "FAILED", "FIRST DIFFERENCE")]
    rows += [
        (t.scenario, str(t.steps), str(t.passed), str(t.failed), t.first_difference or "-")
        for t in report.transcripts
    ]
    rows.append(("TOTAL", str(report.steps), str(report.passed), str(report.failed), ""))
    width = max(len(r[0]) for r in rows)
    return "\n".join(
        f"{r[0]:<{width}}  {r[1]:>5}  {r[2]:>6}  {r[3]:>6}  {r[4]}".rstrip() for r in rows
    )
