"""Timed series and the table the harness prints: p50/p95 and the ratio to the echo floor."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Series:
    """Milliseconds per call of one series, or calls per second of one throughput series."""

    name: str
    unit: str = "ms"
    values: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        ordered = sorted(self.values)
        return ordered[max(0, round(len(ordered) * 0.95) - 1)]


def table(rows: list[Series], floor: Series, note: str) -> str:
    """The series beside the floor they are compared with, as a Markdown table."""
    unit = floor.unit
    lines = [
        f"| series ({note}) | p50 {unit} | p95 {unit} | p50 / {floor.name} | n |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ratio = row.p50 / floor.p50 if floor.p50 else float("nan")
        lines.append(
            f"| {row.name} | {row.p50:.2f} | {row.p95:.2f} | {ratio:.2f}x | {len(row.values)} |"
        )
    return "\n".join(lines)
