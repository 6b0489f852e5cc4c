"""Per-key concurrency slots: refused at once when full, released on every exit."""

from __future__ import annotations

import pytest

from paybill.server.core.errors import QuotaExceeded
from paybill.server.core.slots import Slots


def test_a_full_key_is_refused_and_others_are_not() -> None:
    slots = Slots(2)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(QuotaExceeded) as refused, slots.hold("a"):
            pass
        assert refused.value.details == {"limit": 2, "retry_after_seconds": 1}
        assert "retry" in refused.value.message
        with slots.hold("b"):
            assert slots.held("b") == 1
        assert slots.held("a") == 2
    assert slots.held("a") == 0


def test_a_slot_comes_back_when_the_block_raises() -> None:
    slots = Slots(1)
    with pytest.raises(RuntimeError), slots.hold("a"):
        raise RuntimeError("statement failed")
    assert slots.held("a") == 0
    with slots.hold("a"):
        assert slots.held("a") == 1
