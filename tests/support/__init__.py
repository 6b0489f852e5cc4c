"""Helpers and fixture plugins shared by the tests (no test module imports another)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
