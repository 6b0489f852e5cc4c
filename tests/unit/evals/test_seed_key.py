"""Replays share a seeded store only between transcripts whose seeds make the same store."""

from __future__ import annotations

from paybill.evals.seed import seed_key
from paybill.evals.transcript import Header

BASE = {
    "scenario": "one",
    "principal": "ops",
    "role": "operator",
    "tenant": "acme",
    "seed": {"tenants": [{"slug": "acme", "name": "Acme", "plan": "free"}]},
}


def test_what_the_seed_does_not_read_does_not_matter() -> None:
    other = {**BASE, "scenario": "two", "description": "else", "settings": {"bulk_threshold": 5}}
    assert seed_key(Header.model_validate(BASE)) == seed_key(Header.model_validate(other))


def test_backend_seed_and_principals_make_the_key() -> None:
    key = seed_key(Header.model_validate(BASE))
    variants = [
        {**BASE, "backend": "postgresql"},
        {**BASE, "seed": {"tenants": [{"slug": "acme", "name": "Acme", "plan": "pro"}]}},
        {**BASE, "seed": {**BASE["seed"], "clock": "2026-01-01T00:00:00Z"}},
        {**BASE, "principal": "boss", "role": "approver"},  # the header's principal is seeded
        {**BASE, "seed": {**BASE["seed"], "principals": [{"name": "b", "role": "approver"}]}},
    ]
    assert all(seed_key(Header.model_validate(v)) != key for v in variants)
