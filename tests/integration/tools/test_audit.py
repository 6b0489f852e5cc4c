"""The audit chain: every decision recorded, tampering detected and located."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from paybill.server.domain import audit
from paybill.server.domain.audit_checkpoint import read_checkpoint
from paybill.server.store import AuditEvent
from paybill.server.workflows.engine.worker import Worker
from tests.support.served import Served

PAYBILL = str(Path(sys.executable).parent / "paybill")


def _events(served: Served) -> list[AuditEvent]:
    with served.services.db.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _tamper(served: Served, event_id: int, outcome: str) -> None:
    """What an attacker with database superuser rights could do: bypass the triggers."""
    engine = served.services.db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(
            text("UPDATE audit_events SET outcome = :o WHERE id = :i"),
            {"o": outcome, "i": event_id},
        )


def test_denied_and_allowed_calls_are_chained(served: Served) -> None:
    served.error("acme-bot", "suspend_tenant", tenant="acme", reason="let me in")
    served.ok("ops", "get_tenant", tenant="acme")
    events = _events(served)
    denied, allowed = events[-2], events[-1]
    assert (denied.principal, denied.decision.value, denied.error_code) == (
        "acme-bot",
        "denied",
        "DENIED",
    )
    assert denied.tenant_id is not None
    assert (allowed.principal, allowed.decision.value, allowed.outcome) == ("ops", "allowed", "ok")
    assert allowed.prev_hash == denied.hash
    with served.services.db.session() as session:
        assert served.services.audit.verify(session).ok


def test_tampered_row_is_named(served: Served) -> None:
    for _ in range(3):
        served.ok("ops", "list_plans")
    victim = _events(served)[2]
    _tamper(served, victim.id, "forged")
    with served.services.db.session() as session:
        report = served.services.audit.verify(session)
    assert (report.ok, report.first_broken_id) == (False, victim.id)
    assert report.checked == 2


def test_audit_verify_cli(served: Served) -> None:
    env = served.env()
    ok = subprocess.run([PAYBILL, "audit", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "intact" in ok.stdout
    victim = _events(served)[1]
    _tamper(served, victim.id, "forged")
    bad = subprocess.run([PAYBILL, "audit", "verify"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"BROKEN at event {victim.id}" in bad.stderr


def _paybill_verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PAYBILL, "audit", "verify"], env=env, capture_output=True, text=True)


def test_audit_verify_cli_reports_the_key_and_the_checkpoint(served: Served) -> None:
    env = served.env()
    served.ok("ops", "list_plans")
    first = _paybill_verify(env)  # writes a checkpoint at the tip it verified
    assert first.returncode == 0, first.stderr
    assert f"keyed with {served.services.audit.key.key_id}" in first.stdout
    assert "checkpoint matched" in first.stdout
    count = len(_events(served))
    second = _paybill_verify(env)
    assert f"checkpoint matched ({count} events)" in second.stdout
    # Deleting the newest events now leaves a valid chain that no longer reaches it.
    newest = _events(served)[-1]
    engine = served.services.db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": newest.id})
    broken = _paybill_verify(env)
    assert broken.returncode == 1
    assert "BROKEN at its end" in broken.stderr and "events were deleted" in broken.stderr
    assert "checkpoint NOT matched" in broken.stderr


@pytest.mark.postgres_only
def test_audit_verify_cli_seals_what_calls_left_and_names_a_tampered_one(served: Served):
    """Calls that committed while another sealer held the lock left their events unsealed;
    `paybill audit verify` seals them, and names one that was changed before it was sealed."""
    engine = served.services.db.engine
    with Session(engine) as busy, busy.begin():
        busy.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK})
        for _ in range(3):
            served.ok("ops", "list_plans")
    unsealed = [e for e in _events(served) if e.hash is None]
    assert len(unsealed) == 3
    victim = unsealed[1]
    _tamper(served, victim.id, "forged")
    bad = _paybill_verify(served.env())
    assert bad.returncode == 1
    assert f"BROKEN at event {victim.id}: unsealed, and its content does not match" in bad.stderr
    after = {e.id: e for e in _events(served)}
    assert after[unsealed[0].id].seq is not None and after[unsealed[2].id].seq is not None
    assert after[victim.id].hash is None  # never sealed: its forged content is not chained


@pytest.mark.postgres_only
def test_the_worker_loop_seals_events_calls_left_unsealed(served: Served) -> None:
    engine = served.services.db.engine
    with Session(engine) as busy, busy.begin():
        busy.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": audit.SEAL_LOCK})
        served.ok("ops", "list_plans")
    assert [e.id for e in _events(served) if e.hash is None] != []
    stop = threading.Event()
    worker = threading.Thread(target=Worker(served.services).serve, args=(stop, 0.05))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while any(e.hash is None for e in _events(served)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(30)
    assert all(e.hash is not None for e in _events(served))
    with served.services.db.session() as session:
        assert audit.verify(session, served.services.audit.key).ok


def test_audit_verify_cli_needs_the_key(served: Served) -> None:
    env = {
        **served.env(),
        "PAYBILL_AUDIT_KEY_FILE": str(Path(served.env()["PAYBILL_DATA_DIR"]) / "none"),
    }
    missing = _paybill_verify(env)
    assert missing.returncode == 1
    assert "No audit key at" in missing.stderr and "Traceback" not in missing.stderr
    key = served.services.settings.audit_key_path.read_text()
    assert key.strip() not in missing.stderr + missing.stdout


def test_get_audit_log_reports_the_verification(served: Served) -> None:
    plain = served.ok("ops", "get_audit_log", limit=1)
    assert plain["verification"] is None
    event = plain["events"][0]
    assert event["key_id"] == served.services.audit.key.key_id and event["seq"] > 1
    checked = served.ok("admin", "get_audit_log", limit=1, verify=True)["verification"]
    assert checked["ok"] and checked["checked"] == checked["keyed"] > 0
    assert (checked["unkeyed"], checked["first_broken_id"], checked["reason"]) == (0, None, None)
    victim = _events(served)[1]
    _tamper(served, victim.id, "forged")
    broken = served.ok("admin", "get_audit_log", limit=1, verify=True)["verification"]
    assert (broken["ok"], broken["first_broken_id"], broken["checked"]) == (False, victim.id, 1)
    assert broken["reason"] == "content does not match its hash"


def test_a_worker_checkpoints_the_tip_when_it_stops(served: Served) -> None:
    served.ok("ops", "create_tenant", slug="hooli", name="Hooli", plan="free")
    done = subprocess.run(
        [PAYBILL, "worker", "--once"], env=served.env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    audit_log = served.services.audit
    checkpoint = read_checkpoint(audit_log.checkpoint_path, audit_log.key)
    events = _events(served)
    assert checkpoint is not None
    assert (checkpoint.count, checkpoint.last_id) == (len(events), events[-1].id)
    assert events[-1].tool == "workflow.provision"  # the worker's own event is included


def test_secrets_are_redacted_from_audit_arguments() -> None:
    redacted = audit.redact({"api_key": "pb_x", "nested": [{"password": "p", "slug": "acme"}]})
    assert redacted == {
        "api_key": "[redacted]",
        "nested": [{"password": "[redacted]", "slug": "acme"}],
    }
