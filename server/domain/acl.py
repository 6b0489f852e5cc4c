"""Authorisation with Casbin: the only module that imports ``casbin`` or its adapter.

Permissions (``p``) come from ``policies/acl_policy.csv`` and are read-only data; role bindings
(``g``) are rows in ``casbin_rules`` read through ``sqlalchemy-adapter``. Deny by default.

Casbin stays the definition: it parses the model, and its adapter's reading of the rules is
the one the index follows. Decisions come from an ``AclIndex`` compiled from the rules when
the model is the packaged one (Casbin's interpreter costs a millisecond or more per decision,
growing with the rules); a customised model (another matcher, effect or definitions) is
enforced by Casbin itself.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from pathlib import Path

import casbin
import sqlalchemy_adapter
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from paybill.server.core.errors import InvalidInput
from paybill.server.core.policy_files import read_policy_text
from paybill.server.core.vocabulary import Role
from paybill.server.domain.acl_index import AclIndex
from paybill.server.domain.control_versions import read_versions
from paybill.server.store import CasbinRule

PLATFORM_DOMAIN = "*"
SUBJECT_PREFIX = "user:"
CASBIN_LOGGERS = ("casbin", "casbin.enforcer", "casbin.role", "casbin.policy")
# A value Casbin's adapter loads unchanged: its line tokenizer splits on top-level commas,
# nests on brackets and strips blanks; a value with none of these reads the same both ways.
_PLAIN = re.compile(r"[^,\[\]()\s](?:[^,\[\]()]*[^,\[\]()\s])?")
Rule = tuple[str, str, str]


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


def plain_rules(engine: Engine) -> tuple[list[Rule], list[Rule]] | None:
    """The store's ``p`` and ``g`` rules, read with one SELECT, exactly as Casbin's adapter
    would load them; None when a row is not plainly that (another ptype, a value with commas,
    brackets or outer blanks, more or fewer fields): then Casbin's own load decides.

    Casbin's load goes through the ORM and copies its whole model: seconds at 60,000 rules.
    """
    columns = (CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1, CasbinRule.v2)
    extra = (CasbinRule.v3, CasbinRule.v4, CasbinRule.v5)
    with engine.connect() as conn:
        rows = conn.execute(select(*columns, *extra).order_by(CasbinRule.id)).all()
    found: dict[str, list[Rule]] = {"p": [], "g": []}
    for ptype, v0, v1, v2, *rest in rows:
        plain = [v for v in (v0, v1, v2) if isinstance(v, str) and _PLAIN.fullmatch(v)]
        if ptype not in found or len(plain) != 3 or any(v is not None for v in rest):
            return None
        found[ptype].append((plain[0], plain[1], plain[2]))
    return found["p"], found["g"]


def compilable(model: casbin.model.Model) -> bool:
    """Whether ``model`` is the packaged one, whose decisions ``AclIndex`` reproduces: the
    same sections, each with one assertion of the same (Casbin-normalised) text."""
    packaged = load_model()
    sections = ("r", "p", "g", "e", "m")
    try:
        return set(model.keys()) == set(sections) and all(
            set(model[s]) == {s} and model[s][s].value == packaged[s][s].value for s in sections
        )
    except KeyError:
        return False


class Acl:
    """A Casbin enforcer over the store's role bindings and the packaged permissions.

    Decisions come from an ``AclIndex`` built at each load from the rules (read plainly when
    every row reads the same to Casbin's adapter, else from the enforcer's own load); with a
    customised ``acl_model.conf`` (not the packaged matcher, effect or definitions) every
    decision is ``casbin.Enforcer.enforce`` instead. Bindings are reloaded when the store's
    ACL version (``control_versions``, bumped by triggers on ``casbin_rules``) moved.
    """

    def __init__(self, engine: Engine, policies_dir: Path | None = None) -> None:
        # Casbin logs every denied request as a WARNING (and each role link at INFO) once
        # a logging setup re-enables its loggers (uvicorn's does); refusals are on the
        # audit record, and internal checks (writer status) deny often.
        for name in CASBIN_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        model = load_model(policies_dir)
        adapter = sqlalchemy_adapter.Adapter(engine, db_class=CasbinRule, create_table=False)
        self._enforcer = casbin.Enforcer(model, adapter)
        self._enforcer.enable_auto_save(False)  # permissions never flow back into the store
        self._enforcer_loaded = False
        self._engine = engine
        self._permissions = load_permissions(policies_dir)
        self._compiled = compilable(model)
        self._index: AclIndex | None = None
        self._lock = threading.Lock()  # the enforcer: reloads and Casbin's own decisions
        self._sync_lock = threading.Lock()  # one reload per version change
        self._version: int | None = None
        with Session(engine) as session:  # read first: the load below is at least as new
            version = read_versions(session).acl
        self.reload()
        self._version = version  # the first call does not load every binding again

    @property
    def permissions(self) -> list[tuple[str, str, str]]:
        return list(self._permissions)

    @property
    def compiled(self) -> bool:
        """Whether decisions come from the compiled index (False: Casbin enforces each)."""
        return self._index is not None

    def reload(self) -> None:
        """Re-read role bindings from the store (a principal may have been added)."""
        with self._lock:
            rules = plain_rules(self._engine) if self._compiled else None
            if rules is not None and (self._permissions or rules[0]):
                stored, bindings = rules
                self._index = AclIndex([*self._permissions, *stored], bindings, SUBJECT_PREFIX)
                self._enforcer_loaded = False  # loaded when Casbin itself is asked
                return
            self._load_enforcer()
            self._index = self._build_index()

    def _load_enforcer(self) -> None:
        self._enforcer.load_policy()
        # _ex: a permission also stored as a row must not make Casbin drop the file's others.
        self._enforcer.add_policies_ex([list(rule) for rule in self._permissions])
        self._enforcer_loaded = True

    def _build_index(self) -> AclIndex | None:
        if not self._compiled:
            return None
        permissions = self._enforcer.get_policy()
        if not permissions:  # Casbin matches an empty policy against "" values: its own way
            return None
        try:
            return AclIndex(permissions, self._enforcer.get_grouping_policy(), SUBJECT_PREFIX)
        except ValueError:  # rules of another shape (extra fields): Casbin decides
            return None

    def sync(self, version: int) -> None:
        """Reload bindings unless they were loaded at ``version`` of the store's ACL.

        A load started after ``version`` was read holds at least that version's rules, so
        a decision never uses rules older than the version its call saw. Calls that see a
        new version together wait for one reload (it reads every binding) instead of each
        running their own.
        """
        if version == self._version:
            return
        with self._sync_lock:
            if version != self._version:
                self.reload()
                self._version = version

    def refresh(self, session: Session) -> None:
        """Reload bindings when the store's ACL version moved (one primary-key read)."""
        self.sync(read_versions(session).acl)

    def allowed(self, principal: str, domain: str, tool: str) -> bool:
        """May ``principal`` call ``tool`` in ``domain``? Casbin's answer, compiled."""
        index = self._index
        if index is not None:
            return index.principal_allowed(principal, domain, tool, "call")
        return self.enforce(subject(principal), domain, tool, "call")

    def enforce(self, sub: str, domain: str, obj: str, act: str) -> bool:
        """Casbin's own decision, bypassing the index (the equivalence tests compare them)."""
        with self._lock:
            if not self._enforcer_loaded:
                self._load_enforcer()
            return bool(self._enforcer.enforce(sub, domain, obj, act))

    def decide(self, sub: str, domain: str, obj: str, act: str) -> bool:
        """The decision ``allowed`` makes, for any subject and action."""
        index = self._index
        if index is not None:
            return index.allowed(sub, domain, obj, act)
        return self.enforce(sub, domain, obj, act)
