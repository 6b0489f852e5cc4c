"""The packaged ACL model compiled to dictionaries: Casbin's answer without its interpreter.

For the model in ``policies/acl_model.conf`` (RBAC with domains, a binding in domain "*"
holding in every domain) Casbin decides ``(sub, dom, obj, act)`` as: some ``p`` rule
``(role, obj, act)`` whose role ``sub`` reaches in ``dom`` or in "*". "Reaches" is Casbin's
domain role manager: ``sub`` itself, then ``g`` links of that domain followed breadth first
for at most ``MAX_HIERARCHY_LEVEL - 1`` steps. This module holds no Casbin: ``acl`` builds it
from the enforcer's loaded rules and checks that the model is the one compiled here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

PLATFORM_DOMAIN = "*"
# Casbin's default (``RoleManager(max_hierarchy_level=10)``): names 0..9 links away.
MAX_HIERARCHY_LEVEL = 10


class AclIndex:
    """Roles by (subject, domain) and the roles that grant each (object, action)."""

    def __init__(
        self, permissions: Iterable[Sequence[str]], bindings: Iterable[Sequence[str]]
    ) -> None:
        """``permissions``: ``p`` rules (role, obj, act); ``bindings``: ``g`` rules
        (name, role, domain), both exactly as the enforcer holds them.

        Raises: ValueError when a rule is not of that shape (the caller falls back to Casbin).
        """
        grants: dict[tuple[str, str], set[str]] = defaultdict(set)
        for rule in permissions:
            if len(rule) != 3:
                raise ValueError(f"p rule {list(rule)!r} is not (sub, obj, act)")
            grants[(rule[1], rule[2])].add(rule[0])
        links: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for rule in bindings:
            if len(rule) != 3:
                raise ValueError(f"g rule {list(rule)!r} is not (name, role, domain)")
            links[rule[2]][rule[0]].add(rule[1])
        self._grants = {key: frozenset(roles) for key, roles in grants.items()}
        self._links = {
            domain: {n: frozenset(r) for n, r in by.items()} for domain, by in links.items()
        }

    def _reaches(self, subject: str, domain: str, wanted: frozenset[str]) -> bool:
        """Whether ``subject`` reaches a name in ``wanted`` through ``domain``'s links."""
        links = self._links.get(domain, {})
        level: set[str] = {subject}
        seen: set[str] = set()
        for _ in range(MAX_HIERARCHY_LEVEL):
            if not level.isdisjoint(wanted):
                return True
            seen |= level
            level = {role for name in level for role in links.get(name, ())} - seen
            if not level:
                return False
        return False

    def allowed(self, subject: str, domain: str, obj: str, act: str) -> bool:
        """Casbin's ``enforce(subject, domain, obj, act)`` for the packaged model."""
        wanted = self._grants.get((obj, act))
        if not wanted:
            return False
        return self._reaches(subject, domain, wanted) or self._reaches(
            subject, PLATFORM_DOMAIN, wanted
        )
