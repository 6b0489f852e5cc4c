"""What an approver reads of a Terraform plan, and which plan files the sweep removes."""

from __future__ import annotations

from pathlib import Path

from paybill.server.executors.terraform.cli import sweep_plan_files
from paybill.server.executors.terraform.saved_plans import summarise_plan

PLAN = {
    "resource_changes": [
        {
            "address": "aws_db_instance.main",
            "type": "aws_db_instance",
            "change": {
                "actions": ["update"],
                "before": {"instance_class": "db.t3.micro", "password": "old", "tags": {"a": "1"}},
                "after": {"instance_class": "db.m5.large", "password": "new", "tags": {"a": "1"}},
                "before_sensitive": {"password": True},
                "after_sensitive": {"password": True},
                "after_unknown": {},
            },
        },
        {
            "address": "null_resource.this",
            "type": "null_resource",
            "change": {
                "actions": ["delete", "create"],
                "before": {"id": "123", "triggers": {"isolation": "pooled", "slug": "acme"}},
                "after": {"triggers": {"isolation": "bridge", "slug": "acme"}},
                "before_sensitive": {},
                "after_sensitive": {},
                "after_unknown": {"id": True},
            },
        },
        {
            "address": "null_resource.same",
            "type": "null_resource",
            "change": {"actions": ["no-op"], "before": {}, "after": {}},
        },
    ]
}


def test_counts_and_changed_attributes_with_secrets_masked() -> None:
    summary = summarise_plan(PLAN)
    assert summary["counts"] == {"add": 1, "change": 1, "destroy": 1}
    database, resource = summary["resources"]
    assert (database["address"], database["actions"]) == ("aws_db_instance.main", ["update"])
    # A sensitive value is masked on both sides; it still shows that it is part of the change.
    assert database["changed"] == [
        {"attribute": "instance_class", "before": "db.t3.micro", "after": "db.m5.large"},
        {"attribute": "password", "before": "(sensitive)", "after": "(sensitive)"},
    ]
    assert resource["changed"] == [
        {"attribute": "id", "before": "123", "after": "(known after apply)"},
        {"attribute": "triggers.isolation", "before": "pooled", "after": "bridge"},
    ]
    assert "old" not in str(summary) and "new" not in str(summary)


def test_a_changed_secret_shows_masked() -> None:
    plan = {
        "resource_changes": [
            {
                "address": "x.y",
                "type": "x",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"secret": "s3cr3t", "name": "n"},
                    "after_sensitive": {"secret": True},
                    "after_unknown": {},
                },
            }
        ]
    }
    (resource,) = summarise_plan(plan)["resources"]
    assert resource["changed"] == [
        {"attribute": "name", "before": None, "after": "n"},
        {"attribute": "secret", "before": None, "after": "(sensitive)"},
    ]


def test_the_sweep_keeps_approved_plans_still_needed(tmp_path: Path) -> None:
    workspace = tmp_path / "tenant-1" / "local"
    workspace.mkdir(parents=True)
    names = [
        "tenant-abc.tfplan",
        "approved-0123456789abcdef.tfplan",
        "approved-fedcba9876543210.tfplan",
    ]
    for name in names:
        (workspace / name).write_bytes(b"plan")
    removed = sweep_plan_files(tmp_path, tenant_id="tenant-1", keep_approved=frozenset({names[1]}))
    assert sorted(p.name for p in removed) == sorted([names[0], names[2]])
    assert [p.name for p in workspace.iterdir()] == [names[1]]
