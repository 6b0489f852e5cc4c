"""The packaged ACL model compiled to dictionaries: Casbin's answer without its interpreter.

For the model in ``policies/acl_model.conf`` (RBAC with domains, a binding in domain "*"
holding in every domain) Casbin decides ``(sub, dom, obj, act)`` as: some ``p`` rule
``(role, obj, act)`` whose role ``sub`` reaches in ``dom`` or in "*". "Reaches" is Casbin's
domain role manager: ``sub`` itself, then ``g`` links of that domain followed breadth first
for at most ``MAX_HIERARCHY_LEVEL - 1`` steps. This module holds no Casbin: ``acl`` builds it
from the enforcer's loaded rules and checks that the model is the one compiled here.

Every (subject, domain) with links is resolved at build time to the set of (obj, act) it is
granted, so a decision is one lookup of a (name, domain) pair and one set membership, the
same few objects whatever the number of tenants; equal sets are shared (a fleet of tenants
has a handful of distinct ones).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

PLATFORM_DOMAIN = "*"
# Casbin's default (``RoleManager(max_hierarchy_level=10)``): names 0..9 links away.
MAX_HIERARCHY_LEVEL = 10
Grant = tuple[str, str]  # (obj, act)
Grants = frozenset[Grant]
NOTHING: Grants = frozenset()


def reached(name: str, links: Mapping[str, Iterable[str]]) -> set[str]:
    """``name`` and every name its links reach within ``MAX_HIERARCHY_LEVEL - 1`` steps."""
    level, seen = {name}, {name}
    for _ in range(MAX_HIERARCHY_LEVEL - 1):
        level = {role for each in level for role in links.get(each, ())} - seen
        if not level:
            break
        seen |= level
    return seen


class _Resolver:
    """The (obj, act) each name is granted in a domain, equal sets shared."""

    def __init__(self, direct: Mapping[str, set[Grant]]) -> None:
        self._direct = direct
        self._shared: dict[Grants, Grants] = {NOTHING: NOTHING}
        self._by_roles: dict[frozenset[str], Grants] = {}

    def share(self, found: Grants) -> Grants:
        return self._shared.setdefault(found, found)

    def grants(self, name: str, links: Mapping[str, set[str]]) -> Grants:
        """What ``name`` is granted through ``links`` (one domain's), itself included."""
        direct, roles = self._direct, links.get(name, set())
        if not links.keys().isdisjoint(roles):  # a hierarchy: follow it as Casbin does
            reach = reached(name, links)
            return self.share(frozenset(g for each in reach for g in direct.get(each, ())))
        # The common case, names bound straight to roles: computed once for all tenants.
        key = frozenset(roles)
        if (found := self._by_roles.get(key)) is None:
            found = frozenset(g for role in key for g in direct.get(role, ()))
            self._by_roles[key] = found
        return self.share(found | direct[name] if name in direct else found)


class AclIndex:
    """What each (subject, domain) is granted, resolved from the rules at build time."""

    def __init__(
        self,
        permissions: Iterable[Sequence[str]],
        bindings: Iterable[Sequence[str]],
        principal_prefix: str = "",
    ) -> None:
        """``permissions``: ``p`` rules (role, obj, act); ``bindings``: ``g`` rules
        (name, role, domain), both exactly as the enforcer holds them. Subjects starting
        with ``principal_prefix`` are kept by the rest of their name, for
        ``principal_allowed`` (no subject string built per decision).

        Raises: ValueError when a rule is not of that shape (the caller falls back to Casbin).
        """
        direct: dict[str, set[Grant]] = defaultdict(set)
        for rule in permissions:
            if len(rule) != 3:
                raise ValueError(f"p rule {list(rule)!r} is not (sub, obj, act)")
            direct[rule[0]].add((rule[1], rule[2]))
        links: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for rule in bindings:
            if len(rule) != 3:
                raise ValueError(f"g rule {list(rule)!r} is not (name, role, domain)")
            links[rule[2]][rule[0]].add(rule[1])
        resolver = _Resolver(direct)
        # Where ``sub`` has no links of the domain asked, it reaches only itself there: it
        # holds its own permissions and what it reaches in "*" (also the answer for "*").
        platform = links.get(PLATFORM_DOMAIN, {})
        anywhere = {n: resolver.grants(n, platform) for n in {*direct, *platform}}
        self._prefix, cut = principal_prefix, len(principal_prefix)
        self._anywhere: dict[str, Grants] = {}
        self._principal_anywhere: dict[str, Grants] = {}
        for name, found in anywhere.items():
            if found and name.startswith(principal_prefix):
                self._principal_anywhere[name[cut:]] = found
            elif found:
                self._anywhere[name] = found
        self._pairs: dict[tuple[str, str], Grants] = {}
        self._principal_pairs: dict[tuple[str, str], Grants] = {}
        for domain, by_name in links.items():
            if domain == PLATFORM_DOMAIN:
                continue
            for name in by_name:
                elsewhere = anywhere.get(name, NOTHING)
                found = resolver.share(resolver.grants(name, by_name) | elsewhere)
                if found == elsewhere:  # nothing more than anywhere: no entry needed
                    continue
                if name.startswith(principal_prefix):
                    self._principal_pairs[(name[cut:], domain)] = found
                else:
                    self._pairs[(name, domain)] = found

    def allowed(self, subject: str, domain: str, obj: str, act: str) -> bool:
        """Casbin's ``enforce(subject, domain, obj, act)`` for the packaged model."""
        if subject.startswith(self._prefix):
            return self.principal_allowed(subject[len(self._prefix) :], domain, obj, act)
        granted = self._pairs.get((subject, domain))
        if granted is None:
            granted = self._anywhere.get(subject, NOTHING)
        return (obj, act) in granted

    def principal_allowed(self, name: str, domain: str, obj: str, act: str) -> bool:
        """``allowed`` for the subject ``principal_prefix + name``."""
        granted = self._principal_pairs.get((name, domain))
        if granted is None:
            granted = self._principal_anywhere.get(name, NOTHING)
        return (obj, act) in granted
