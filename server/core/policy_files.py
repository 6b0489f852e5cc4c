"""Read policy data files: the packaged ``paybill.policies`` or an override directory.

Every way a policy file can be unusable (no such folder, a missing file, unreadable bytes,
YAML that does not parse) is an ``InvalidInput`` naming the file and what to do, never a
traceback: these files are written by operators, often by hand.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from paybill.server.core.errors import InvalidInput

# Every file a policies folder (PAYBILL_POLICIES_DIR) must hold.
POLICY_FILES = (
    "plans.yaml",
    "lifecycle.yaml",
    "acl_model.conf",
    "acl_policy.csv",
    "billing.yaml",
    "terraform_policy.yaml",
)
_FIX = (
    "Copy the packaged files (the paybill.policies package folder) and edit them, or unset "
    "PAYBILL_POLICIES_DIR to use them as they are."
)


def read_policy_text(name: str, directory: Path | None = None) -> str:
    """``name`` from ``directory`` (if given) or from the packaged policies.

    Raises: InvalidInput (no such folder or file, or it cannot be read as UTF-8 text).
    """
    if directory is None:
        return files("paybill.policies").joinpath(name).read_text(encoding="utf-8")
    if not directory.is_dir():
        raise InvalidInput(
            f"PAYBILL_POLICIES_DIR {directory} is not a folder. It must hold "
            f"{', '.join(POLICY_FILES)}. {_FIX}",
            file=name,
        )
    path = directory / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(
            f"The policies folder {directory} has no {name}; it must hold every one of "
            f"{', '.join(POLICY_FILES)}. {_FIX}",
            file=name,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise InvalidInput(f"Cannot read the policy file {path}: {reason}.", file=name) from None


def read_policy_yaml(name: str, directory: Path | None = None) -> Any:
    """Parse ``name`` from ``directory`` (if given) or from the packaged policies.

    Raises: InvalidInput (see ``read_policy_text``, or the YAML does not parse).
    """
    text = read_policy_text(name, directory)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise InvalidInput(
            f"The policy file {name} is not valid YAML{where}: {problem}. Fix it; nothing "
            "was loaded from it.",
            file=name,
        ) from None
