"""The README's code blocks, with the marker comment (if any) written right above each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.support import REPO

README = REPO / "README.md"
_BLOCK = re.compile(
    r"(?:<!-- readme: (?P<marker>[^\n]*?) -->\n)?^```(?P<lang>\w*)\n(?P<body>.*?)^```$",
    re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    marker: str | None  # why the README test does not run it here, and where it is run


def blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [Block(m["lang"], m["body"], m["marker"]) for m in _BLOCK.finditer(text)]


def quick_start() -> str:
    """The README's first command, the demo, exactly as written."""
    return next(b.body.strip() for b in blocks() if b.marker and b.marker.startswith("quick start"))
