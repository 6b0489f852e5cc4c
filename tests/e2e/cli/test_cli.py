"""The `paybill` console script, run for real in a subprocess on both backends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from paybill.server.domain.billing_policy import load_billing_policy
from paybill.server.domain.plans import load_catalogue
from paybill.server.store import migrate
from paybill.server.store.database import make_engine
from tests.support import REPO

PAYBILL = str(Path(sys.executable).parent / "paybill")


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYBILL_DATABASE_URL": url}
    return subprocess.run(
        [PAYBILL, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_init_is_idempotent_then_principals_and_listing(empty_url: str) -> None:
    first = run(empty_url, "init")
    assert first.returncode == 0, first.stderr
    assert "Plans loaded: free, pro, enterprise." in first.stdout
    second = run(empty_url, "init")
    assert second.returncode == 0
    assert "nothing changed" in second.stdout

    added = run(empty_url, "principal", "add", "alice", "--role", "platform_admin")
    assert added.returncode == 0, added.stderr
    key_line = next(line for line in added.stdout.splitlines() if "API key" in line)
    key = key_line.rsplit(" ", 1)[1]
    assert key.startswith("pb_")

    listed = run(empty_url, "principal", "list")
    assert "alice" in listed.stdout
    assert key not in listed.stdout
    assert "platform_admin" in listed.stdout
    assert run(empty_url, "tenant", "list").stdout.strip() == "No tenants yet."
    plans = run(empty_url, "plan", "list", "--json")
    assert '"isolation": "silo"' in plans.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("principal", "add", "bob", "--role", "wizard"), "Unknown role 'wizard'"),
        (("principal", "add", "alice", "--role", "operator"), "already exists"),
        (("principal", "add", "bot", "--role", "tenant_agent"), "pass --tenant"),
        (("principal", "add", "bot", "--role", "tenant_agent", "--tenant", "x"), "No tenant"),
        (("principal", "add", "Bad Name", "--role", "operator"), "is invalid"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(store_url: str, args: tuple, message: str) -> None:
    assert run(store_url, "principal", "add", "alice", "--role", "operator").returncode == 0
    result = run(store_url, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "unsupported database driver"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "store unavailable"),
    ],
)
def test_bad_database_url_is_one_line(url: str, message: str) -> None:
    result = run(url, "init")
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("tenant", "list"),
        ("principal", "list"),
        ("plan", "list"),
        ("serve", "--transport", "streamable-http", "--port", "1"),
    ],
)
def test_commands_refuse_a_missing_store_and_create_nothing(tmp_path: Path, args: tuple) -> None:
    result = run(f"sqlite:///{tmp_path / 'nowhere' / 'new.db'}", *args)
    assert result.returncode == 1
    assert "No Paybill store at" in result.stderr
    assert "run `paybill init`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()


def test_an_unmigrated_store_suggests_init_only(empty_url: str) -> None:
    result = run(empty_url, "tenant", "list")
    assert result.returncode == 1
    assert "run `paybill init`" in result.stderr
    assert "paybill migrate" not in result.stderr  # migrate alone loads no plans


def test_init_says_where_the_store_is(empty_url: str) -> None:
    result = run(empty_url, "init")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("Store: ")
    assert "password" not in result.stdout


def test_serve_on_a_taken_port_is_one_plain_line(store_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(store_url, "serve", "--transport", "streamable-http", "--port", str(port))
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Paybill MCP server on" not in result.stderr  # no banner before the failure
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_lists_every_command() -> None:
    result = run("sqlite://", "--help")
    assert result.returncode == 0
    for command in ("init", "migrate", "principal", "tenant", "plan"):
        assert command in result.stdout
    assert "--role" in run("sqlite://", "principal", "add", "--help").stdout


def test_migrate_reports_pending_then_nothing(empty_url: str) -> None:
    engine = make_engine(empty_url)
    head = migrate.head_revision(engine)
    engine.dispose()
    assert f"empty -> {head}." in run(empty_url, "migrate").stdout
    assert "no migrations pending" in run(empty_url, "migrate").stdout


def test_worker_once_is_quiet_unless_verbose(store_url: str) -> None:
    quiet = run(store_url, "worker", "--once")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "Executed 0 run(s); applied 0 billing change(s)."
    assert quiet.stderr.strip() == ""  # no alembic context lines, no Casbin policy dump
    loud = run(store_url, "--verbose", "worker", "--once")
    assert loud.returncode == 0, loud.stderr
    assert "alembic" in loud.stderr


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no folder", "is not a folder"),
        ("a YAML syntax error", "billing.yaml is not valid YAML at line"),
        ("a bad CSV line", "acl_policy.csv line"),
        ("an unknown role", "unknown role 'wizard'"),
        ("a model Casbin cannot read", "acl_model.conf is not a Casbin model"),
        ("a plan without a tier", "plans.yaml line 2: plans.0.tier: Field required"),
        ("a negative grace period", "billing.yaml line 1: past_due_grace_days:"),
        ("a bad Terraform policy", "terraform_policy.yaml line"),
    ],
)
def test_init_refuses_a_broken_policy_file_in_one_line(
    tmp_path: Path, breakage: str, message: str
) -> None:
    policies = tmp_path / "policies"
    if breakage != "no folder":
        policies.mkdir()  # only the broken file: the others fall back to the packaged ones
    appended = {
        "a YAML syntax error": ("billing.yaml", "grace: [\n"),
        "a bad CSV line": ("acl_policy.csv", "p, operator\n"),
        "an unknown role": ("acl_policy.csv", "p, wizard, list_plans, call\n"),
        "a model Casbin cannot read": ("acl_model.conf", "garbage here\n"),
    }
    written = {
        "a plan without a tier": ("plans.yaml", "plans:\n  - id: free\n    name: Free\n"),
        "a negative grace period": ("billing.yaml", "past_due_grace_days: -1\n"),
        "a bad Terraform policy": ("terraform_policy.yaml", "tiers: 7\n"),
    }
    if breakage in appended:
        name, line = appended[breakage]
        (policies / name).write_text((REPO / "policies" / name).read_text() + line)
    if breakage in written:
        name, text = written[breakage]
        (policies / name).write_text(text)
    store = tmp_path / "store.db"
    result = _init(store, policies)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not store.exists()  # checked before the store is touched


def _init(store: Path, policies: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAYBILL_DATABASE_URL": f"sqlite:///{store}"}
    env["PAYBILL_POLICIES_DIR"] = str(policies)
    return subprocess.run(
        [PAYBILL, "init"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_policies_folder_holds_only_the_files_it_overrides(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    packaged = (REPO / "policies" / "billing.yaml").read_text()
    (policies / "billing.yaml").write_text(packaged.replace("trial_days: 0", "trial_days: 14"))
    result = _init(tmp_path / "store.db", policies)
    assert result.returncode == 0, result.stderr
    assert f"Policies: billing.yaml from {policies}; the others packaged" in result.stdout
    assert load_billing_policy(policies).trial_days == 14  # the override is what loads
    assert load_catalogue(policies) == load_catalogue(None)  # the rest is packaged
