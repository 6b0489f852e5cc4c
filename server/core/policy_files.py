"""Read policy data files: the packaged ``paybill.policies`` or an override directory.

Every way a policy file can be unusable (no such folder, a missing file, unreadable bytes,
YAML that does not parse) is an ``InvalidInput`` naming the file and what to do, never a
traceback: these files are written by operators, often by hand.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from paybill.server.core.errors import InvalidInput

# Every policy file; a policies folder (PAYBILL_POLICIES_DIR) holds those it overrides.
POLICY_FILES = (
    "plans.yaml",
    "lifecycle.yaml",
    "acl_model.conf",
    "acl_policy.csv",
    "billing.yaml",
    "terraform_policy.yaml",
)
_FIX = (
    "Create it with the policy files to override (any of "
    f"{', '.join(POLICY_FILES)}; the others come from the package), or unset "
    "PAYBILL_POLICIES_DIR to use the packaged ones."
)


def read_policy_text(name: str, directory: Path | None = None) -> str:
    """``name`` from ``directory`` when it holds one, else the packaged file: an operator
    overrides the files they change and keeps the rest as shipped.

    Raises: InvalidInput (``directory`` is not a folder, or the file cannot be read as UTF-8).
    """
    if directory is None:
        return _packaged(name)
    if not directory.is_dir():
        raise InvalidInput(f"PAYBILL_POLICIES_DIR {directory} is not a folder. {_FIX}", file=name)
    path = directory / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _packaged(name)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise InvalidInput(f"Cannot read the policy file {path}: {reason}.", file=name) from None


def _packaged(name: str) -> str:
    return files("paybill.policies").joinpath(name).read_text(encoding="utf-8")


def overridden(directory: Path | None) -> list[str]:
    """The policy files ``directory`` overrides, in ``POLICY_FILES`` order."""
    if directory is None or not directory.is_dir():
        return []
    return [name for name in POLICY_FILES if (directory / name).is_file()]


Policy = TypeVar("Policy", bound=BaseModel)


def load_policy(name: str, model: type[Policy], directory: Path | None = None) -> Policy:
    """Parse and validate the YAML policy file ``name`` as ``model``.

    Raises: InvalidInput naming the file, the line and the problem: it cannot be read
    (``read_policy_text``), is not YAML, or does not validate.
    """
    text = read_policy_text(name, directory)
    try:
        return model.model_validate(_parse(name, text))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        line = _line_of(text, first["loc"])
        at = f" line {line}" if line is not None else ""
        more = len(exc.errors()) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise InvalidInput(
            f"The policy file {name}{at}: {where}: {first['msg']}{extra}. Fix it; nothing "
            "was loaded from it.",
            file=name,
            line=line,
        ) from None


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _parse(name: str, text: str) -> Any:
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
