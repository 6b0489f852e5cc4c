"""Authorisation with Casbin: the only module that imports ``casbin`` or its adapter.

Permissions (``p``) come from ``policies/acl_policy.csv`` and are read-only data; role bindings
(``g``) are rows in ``casbin_rules`` read through ``sqlalchemy-adapter``. Deny by default.
"""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path

import casbin
import sqlalchemy_adapter
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from paybill.server.core.errors import InvalidInput
from paybill.server.core.policy_files import read_policy_text
from paybill.server.core.vocabulary import Role
from paybill.server.store import CasbinRule

PLATFORM_DOMAIN = "*"
SUBJECT_PREFIX = "user:"


def subject(principal: str) -> str:
    """Principals live in their own namespace: a principal named like a role (casbin treats
    equal names as linked) can never pick up that role's permissions."""
    return f"{SUBJECT_PREFIX}{principal}"


def role_binding(principal: str, role: Role, tenant_id: str | None) -> CasbinRule:
    """The ``g`` rule that grants ``role`` to ``principal`` in a tenant or platform-wide."""
    return CasbinRule(
        ptype="g", v0=subject(principal), v1=role.value, v2=tenant_id or PLATFORM_DOMAIN
    )


def load_permissions(directory: Path | None = None) -> list[tuple[str, str, str]]:
    """Parse and validate ``acl_policy.csv``.

    Raises:
        InvalidInput: the file is missing, a line is malformed or names an unknown role.
    """
    rules: list[tuple[str, str, str]] = []
    text = read_policy_text("acl_policy.csv", directory)
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        if len(cells) != 4 or cells[0] != "p":
            raise InvalidInput(
                f"acl_policy.csv line {number}: expected 'p, role, tool, action'.",
                file="acl_policy.csv",
                line=number,
            )
        if cells[1] not in {role.value for role in Role}:
            raise InvalidInput(
                f"acl_policy.csv line {number}: unknown role {cells[1]!r}; roles are "
                f"{', '.join(role.value for role in Role)}.",
                file="acl_policy.csv",
                line=number,
            )
        rules.append((cells[1], cells[2], cells[3]))
    return rules


def load_model(directory: Path | None = None) -> casbin.model.Model:
    """Parse ``acl_model.conf``. Raises: InvalidInput (missing, or Casbin cannot parse it)."""
    model = casbin.model.Model()
    try:
        model.load_model_from_text(read_policy_text("acl_model.conf", directory))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise InvalidInput(
            f"acl_model.conf is not a Casbin model Paybill can load ({str(exc)[:200]}).",
            file="acl_model.conf",
        ) from None
    return model


class Acl:
    """A Casbin enforcer over the store's role bindings and the packaged permissions."""

    def __init__(self, engine: Engine, policies_dir: Path | None = None) -> None:
        model = load_model(policies_dir)
        adapter = sqlalchemy_adapter.Adapter(engine, db_class=CasbinRule, create_table=False)
        self._enforcer = casbin.Enforcer(model, adapter)
        self._enforcer.enable_auto_save(False)  # permissions never flow back into the store
        self._permissions = load_permissions(policies_dir)
        self._lock = threading.Lock()
        self._version: tuple[int | None, int] | None = None
        self.reload()

    @property
    def permissions(self) -> list[tuple[str, str, str]]:
        return list(self._permissions)

    def reload(self) -> None:
        """Re-read role bindings from the store (a principal may have been added)."""
        with self._lock:
            self._enforcer.load_policy()
            self._enforcer.add_policies([list(rule) for rule in self._permissions])

    def refresh(self, session: Session) -> None:
        """Reload bindings when the store's rules changed since the last load (cheap check)."""
        row = session.execute(select(func.max(CasbinRule.id), func.count(CasbinRule.id))).one()
        version = (row[0], row[1])
        if version != self._version:
            self.reload()
            self._version = version

    def allowed(self, principal: str, domain: str, tool: str) -> bool:
        """One Casbin enforcement: may ``principal`` call ``tool`` in ``domain``?"""
        with self._lock:
            return bool(self._enforcer.enforce(subject(principal), domain, tool, "call"))
