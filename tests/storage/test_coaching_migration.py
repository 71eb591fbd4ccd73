"""Migration 0005 keys coaching examples and reviews by (mention, stage) and keeps existing rows, on both dialects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from journeypulse.record import Mention
from storage import CoachingReviewRow, Store
from storage.migrate import alembic_config

NOW = datetime(2026, 11, 5, tzinfo=UTC)


def _alembic(url: str, action: Callable[..., None], revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            action(alembic_config(conn), revision)
    finally:
        engine.dispose()


def test_existing_examples_and_reviews_keep_their_stage_through_the_upgrade(
    empty_store_url: str, make_mention: Callable[..., Mention]
) -> None:
    mention = make_mention("1")
    with Store.open(empty_store_url) as store:
        store.store_batch("sample", "q", [mention], [], None)
    _alembic(empty_store_url, command.downgrade, "0004")
    engine = sa.create_engine(empty_store_url)
    with engine.begin() as conn:  # a library as revision 0004 left it: one row per mention, reviews without stage
        conn.execute(sa.text(
            "INSERT INTO coaching_example (mention_id, text, language, stage, pain_point, channel, sentiment, "
            "confidence, source, content_hash, redactions, selected_at) VALUES (:m, '[NAME] waited', 'en', 'support', "
            "'long_wait', 'chat', 'negative', 0.9, 'sample', :h, 1, :t)"), {"m": mention.id, "h": "0" * 32, "t": NOW.replace(tzinfo=None)})
        conn.execute(sa.text(
            "INSERT INTO coaching_review (mention_id, action, new_label, reviewer, note, decided_at) "
            "VALUES (:m, 'approve', NULL, 'lan', 'ok', :t)"), {"m": mention.id, "t": NOW.replace(tzinfo=None)})
    engine.dispose()
    with Store.open(empty_store_url) as store:  # migrates to head
        store.check_schema()
        [example] = store.coaching_examples()
        assert (example.mention_id, example.stage, example.reason, example.score) == (mention.id, "support", "", 0.0)
        assert [(r.mention_id, r.stage, r.action, r.note) for r in store.coaching_reviews()] == [
            (mention.id, "support", "approve", "ok")]
        store.add_coaching_review(CoachingReviewRow(mention.id, "reject", "som", NOW))  # new reviews still append
        assert len(store.coaching_reviews()) == 2
