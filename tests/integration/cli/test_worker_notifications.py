"""`paybill worker --once` makes a delivery pass of the approval notifications."""

from __future__ import annotations

from click.testing import CliRunner
from pydantic import SecretStr

from paybill.server.cli.main import cli
from tests.support.served import Served
from tests.support.webhook_receiver import webhook_receiver

SECRET = "whsec-test-0123456789abcdef"


def test_worker_once_delivers_queued_notifications(served: Served) -> None:
    with webhook_receiver([204]) as receiver:
        served.services.settings = served.services.settings.model_copy(
            update={
                "approval_webhook_url": receiver.url,
                "approval_webhook_secret": SecretStr(SECRET),
            }
        )
        served.error("ops", "offboard_tenant", tenant="acme", confirm_slug="acme", reason="ended")
        env = {
            **served.env(),
            "PAYBILL_APPROVAL_WEBHOOK_URL": receiver.url,
            "PAYBILL_APPROVAL_WEBHOOK_SECRET": SECRET,
        }
        result = CliRunner().invoke(cli, ["worker", "--once"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "delivered 1 approval notification(s)" in result.output
        assert len(receiver.received) == 1
