"""Journey corrections (migration 0008) on both dialects: append-only, validated, deleted with the mention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from journeypulse.errors import StorageError
from journeypulse.record import Mention
from storage import JourneyCorrectionRow, Store

MakeMention = Callable[..., Mention]
NOW = datetime(2026, 12, 7, tzinfo=UTC)
STAGES = ("awareness", "consideration", "purchase", "delivery", "usage", "support", "loyalty", "exit")


def test_corrections_are_kept_in_order_with_their_fields(store: Store, make_mention: MakeMention) -> None:
    mention = make_mention("1")
    store.store_batch("sample", "q", [mention], [], None)
    first = JourneyCorrectionRow(mention.id, "exit", True, "cancellation", "manual", "lan", NOW)
    second = JourneyCorrectionRow(mention.id, None, False, None, "coach_review", "mai", NOW)
    store.add_journey_correction(first, STAGES)
    store.add_journey_correction(second, STAGES)
    assert store.journey_corrections() == [first, second]


@pytest.mark.parametrize(("row", "message"), [
    (JourneyCorrectionRow("X", None, None, None, "manual", "lan", NOW), "nothing corrected"),
    (JourneyCorrectionRow("X", "onboarding", None, None, "manual", "lan", NOW), "stage 'onboarding' is not one of"),
    (JourneyCorrectionRow("X", None, False, "uninstall", "manual", "lan", NOW), "needs exit signal true"),
    (JourneyCorrectionRow("X", "exit", None, None, "manual", " ", NOW), "reviewer is empty"),
    (JourneyCorrectionRow("e" * 32, "exit", None, None, "manual", "lan", NOW), "is not stored"),
])
def test_a_bad_correction_is_refused_with_the_reason(store: Store, make_mention: MakeMention,
                                                     row: JourneyCorrectionRow, message: str) -> None:
    mention = make_mention("1")
    store.store_batch("sample", "q", [mention], [], None)
    if row.mention_id == "X":
        row = JourneyCorrectionRow(mention.id, row.stage, row.exit_signal, row.exit_type, row.source, row.reviewer,
                                   row.created_at)
    with pytest.raises(StorageError, match=message):
        store.add_journey_correction(row, STAGES)
    assert store.journey_corrections() == []


def test_forgetting_the_author_deletes_the_journey_corrections(store: Store, make_mention: MakeMention) -> None:
    mention = make_mention("1", author="a_gone")
    store.store_batch("sample", "q", [mention], [], None)
    store.add_journey_correction(JourneyCorrectionRow(mention.id, "exit", None, None, "manual", "lan", NOW), STAGES)
    store.forget_author("a_gone")
    assert store.journey_corrections() == []
