"""Deliver queued approval notifications (``store.notifications``) to the webhook, signed.

    claim   an atomic ``UPDATE ... WHERE claimed_at IS NULL`` (or a claim older than the claim
            lease: its deliverer died) that also counts the attempt, committed before the
            request; of concurrent deliverers exactly one gets the row
    send    one POST, no redirects followed, short timeouts, no store transaction open
    settle  2xx: delivered. Otherwise the next try waits an exponential backoff; after the
            last attempt the row is failed and logged once

Delivery is at least once: a deliverer that dies after the receiver accepted and before it
recorded so leaves the row to be sent again once its claim expires (receivers deduplicate on
``approval_id``). This module alone speaks HTTP for notifications.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import httpx2
from sqlalchemy import ColumnElement, or_, select, update

from paybill.server import __version__
from paybill.server.core.settings import Settings
from paybill.server.domain.notifications import (
    SIGNATURE_HEADER,
    WebhookTarget,
    body_bytes,
    signature,
    webhook_target,
)
from paybill.server.store import ApprovalNotification, NotificationStatus
from paybill.server.store.base import utcnow
from paybill.server.store.database import Database, updated_rows

log = logging.getLogger("paybill.webhooks")
BATCH = 20
_Row = ApprovalNotification


def backoff_seconds(settings: Settings, attempts: int) -> float:
    """The wait after the ``attempts``-th failed try: doubling from the base, capped."""
    base = settings.approval_webhook_backoff_seconds
    return float(min(base * 2 ** (attempts - 1), settings.approval_webhook_backoff_max_seconds))


class Deliverer:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        target: WebhookTarget,
        *,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
    ) -> None:
        self.db, self.settings, self.target, self.clock = db, settings, target, clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        timeout = settings.approval_webhook_timeout_seconds
        # A claim outlives any one send: only a dead deliverer's claim is taken over.
        self.claim_lease = timedelta(seconds=max(60.0, 4 * timeout))
        self.http = httpx2.Client(timeout=httpx2.Timeout(timeout), follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def deliver_due(self) -> int:
        """Send every notification due now; the number delivered."""
        now = self.clock()
        with self.db.session() as session:
            query = select(_Row.id).where(*self._due(now)).order_by(_Row.next_attempt_at)
            due = list(session.scalars(query.limit(BATCH)))
        return sum(self._deliver(row_id) for row_id in due if self._claim(row_id))

    def _due(self, now: datetime) -> tuple[ColumnElement[bool], ...]:
        """Pending, due, and claimed by no live deliverer."""
        return (
            _Row.status == NotificationStatus.PENDING,
            _Row.next_attempt_at <= now,
            or_(_Row.claimed_at.is_(None), _Row.claimed_at < now - self.claim_lease),
        )

    def _claim(self, row_id: str) -> bool:
        now = self.clock()
        with self.db.session() as session:
            claimed = session.execute(
                update(_Row)
                .where(_Row.id == row_id, *self._due(now))
                .values(claimed_at=now, claimed_by=self.owner, attempts=_Row.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            return updated_rows(claimed) == 1

    def _deliver(self, row_id: str) -> bool:
        with self.db.session() as session:
            row = session.get_one(_Row, row_id)
            body, attempts = body_bytes(row.body), row.attempts
        error = self._post(row_id, body)
        now = self.clock()
        values: dict[str, object] = {"claimed_at": None, "claimed_by": None}
        if error is None:
            values.update(status=NotificationStatus.DELIVERED, delivered_at=now, last_error=None)
        elif attempts >= self.settings.approval_webhook_attempts:
            values.update(status=NotificationStatus.FAILED, last_error=error)
        else:
            wait = timedelta(seconds=backoff_seconds(self.settings, attempts))
            values.update(next_attempt_at=now + wait, last_error=error)
        with self.db.session() as session:
            settled = session.execute(
                update(_Row)
                .where(_Row.id == row_id, _Row.claimed_by == self.owner)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            mine = updated_rows(settled) == 1
        if mine and values.get("status") is NotificationStatus.FAILED:
            log.warning(
                "approval notification %s failed after %d attempts (last: %s); not retried",
                row_id,
                attempts,
                error,
            )
        return error is None and mine

    def _post(self, row_id: str, body: bytes) -> str | None:
        """Send once; None when the receiver accepted, else why not (no URL: it may hold a
        token)."""
        stamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"paybill/{__version__}",
            "Paybill-Notification-Id": row_id,
            SIGNATURE_HEADER: signature(self.target.secret, stamp, body),
        }
        try:
            response = self.http.post(self.target.url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            return f"{type(exc).__name__}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def serve(deliverer: Deliverer, stop: threading.Event, poll_seconds: float) -> None:
    """Deliver until ``stop`` is set; a failing pass (the store down) is logged and retried."""
    while not stop.is_set():
        try:
            deliverer.deliver_due()
        except Exception:
            log.exception("delivering approval notifications failed; retrying")
        stop.wait(poll_seconds)


@contextmanager
def notification_thread(
    db: Database, settings: Settings, poll_seconds: float
) -> Iterator[Deliverer | None]:
    """A daemon thread delivering notifications for the life of a process (``paybill serve``,
    ``paybill worker``, the console); nothing when notifications are off.

    Raises:
        InvalidInput: the webhook URL is set without a usable secret.
    """
    target = webhook_target(settings)
    if target is None:
        yield None
        return
    deliverer = Deliverer(db, settings, target)
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(deliverer, stop, poll_seconds), name="paybill-webhooks", daemon=True
    )
    thread.start()
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(timeout=2 * settings.approval_webhook_timeout_seconds + 5)
        deliverer.close()
