"""Read policy data files: the packaged ``paybill.policies`` or an override directory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml


def read_policy_text(name: str, directory: Path | None = None) -> str:
    """``name`` from ``directory`` (if given) or from the packaged policies."""
    if directory is not None:
        return (directory / name).read_text(encoding="utf-8")
    return files("paybill.policies").joinpath(name).read_text(encoding="utf-8")


def read_policy_yaml(name: str, directory: Path | None = None) -> Any:
    """Parse ``name`` from ``directory`` (if given) or from the packaged policies."""
    return yaml.safe_load(read_policy_text(name, directory))
