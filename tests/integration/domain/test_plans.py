"""The plan catalogue is data, validated on load and synced idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from paybill.server.core.errors import InvalidInput
from paybill.server.core.vocabulary import Isolation
from paybill.server.domain.plans import load_catalogue, sync_plans
from paybill.server.store import Plan
from paybill.server.store.database import Database


def test_packaged_catalogue_maps_tiers_to_isolation_models() -> None:
    plans = {p.id: p for p in load_catalogue().plans}
    assert plans["free"].isolation is Isolation.POOLED
    assert plans["pro"].isolation is Isolation.BRIDGE
    assert plans["enterprise"].isolation is Isolation.SILO
    assert plans["free"].limits.rows < plans["pro"].limits.rows < plans["enterprise"].limits.rows


def _write(tmp_path: Path, plans: list[dict]) -> Path:
    (tmp_path / "plans.yaml").write_text(yaml.safe_dump({"plans": plans}))
    return tmp_path


GOOD = {
    "id": "basic",
    "name": "Basic",
    "tier": 0,
    "price_cents": 100,
    "currency": "EUR",
    "billing_period_days": 30,
    "isolation": "pooled",
    "limits": {"seats": 1, "rows": 10, "queries_per_minute": 1, "storage_mb": 1},
    "features": ["data.read"],
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"isolation": "shared"}, "isolation"),
        ({"limits": {**GOOD["limits"], "rows": -5}}, "rows"),
        ({"currency": "euro"}, "currency"),
        ({"id": "Bad Id"}, "id"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_plan_is_refused(tmp_path: Path, change: dict, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        load_catalogue(_write(tmp_path, [{**GOOD, **change}]))


def test_duplicate_plan_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unique"):
        load_catalogue(_write(tmp_path, [GOOD, {**GOOD, "tier": 1}]))


def test_sync_is_idempotent_and_applies_changes(db: Database, tmp_path: Path) -> None:
    catalogue = load_catalogue()
    with db.session() as session:
        assert sync_plans(session, catalogue) == []  # the store fixture already loaded it
    edited = [p.model_dump(mode="json") for p in catalogue.plans]
    edited[0]["price_cents"] = 12345
    with db.session() as session:
        assert sync_plans(session, load_catalogue(_write(tmp_path, edited))) == [edited[0]["id"]]
    with db.session() as session:
        assert session.scalar(select(Plan.price_cents).where(Plan.id == edited[0]["id"])) == 12345
