"""Enrichment shards on SQLite and PostgreSQL: a stored key partitions the work queues exactly, the plan
names the shards with work, migration 0010 fills the key of existing mentions, and shard locks let
different shards run together while one shard (or a whole-step run) excludes its double."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command

from journeypulse.errors import ConfigError
from journeypulse.record import Mention
from storage import LanguageResult, SentimentResult, Shard, Store
from storage.ingest import shard_key
from storage.migrate import alembic_config

MakeMention = Callable[..., Mention]
AT = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)
MENTIONS = 60


@pytest.fixture
def stored(store: Store, make_mention: MakeMention) -> list[Mention]:
    mentions = [make_mention(str(i), f"text {i}", minutes=i) for i in range(MENTIONS)]
    store.store_batch("sample", "q", mentions, [], None)
    store.save_languages([LanguageResult(m.id, "vi", 0.9, "py3langid") for m in mentions])
    return mentions


def _queue(store: Store, shard: Shard | None, limit: int = 7) -> list[str]:
    """Every mention id the enrich work queue hands out for ``shard``, paging by id in small pages."""
    ids: list[str] = []
    after = None
    while page := store.mentions_to_enrich("m", "r1", "tax-1", limit, after_id=after, shard=shard):
        ids.extend(item.mention.id for item in page)
        after = page[-1].mention.id
    return ids


@pytest.mark.parametrize("count", [2, 3, 7])
def test_the_shards_of_one_count_cover_every_pending_mention_exactly_once(
    store: Store, stored: list[Mention], count: int
) -> None:
    everything = _queue(store, None)
    parts = [_queue(store, Shard(index, count)) for index in range(count)]
    flat = [mention_id for part in parts for mention_id in part]
    assert sorted(flat) == sorted(everything) == sorted(m.id for m in stored)
    assert len(flat) == len(set(flat))  # no mention in two shards
    assert sum(1 for part in parts if part) >= 2  # the hash spreads 60 mentions over several shards
    for index, part in enumerate(parts):
        assert all(shard_key(mention_id) % count == index for mention_id in part)


def test_sentiment_and_link_queues_take_the_same_shards(store: Store, stored: list[Mention]) -> None:
    count = 3
    for index in range(count):
        shard = Shard(index, count)
        expected = sorted(m.id for m in stored if shard_key(m.id) % count == index)
        unscored = store.mentions_without_sentiment("m", "r1", 1000, shard=shard)
        unlinked = store.mentions_without_links("tax-1", 1000, shard=shard)
        assert [r.id for r in unscored] == [r.id for r in unlinked] == expected


def test_the_plan_names_only_the_shards_that_still_hold_work(store: Store, stored: list[Mention]) -> None:
    count = 4
    assert store.shards_to_enrich("m", "r1", "tax-1", count) == sorted({shard_key(m.id) % count for m in stored})
    done = [m for m in stored if shard_key(m.id) % count != 2]
    store.save_sentiments([SentimentResult(m.id, "m", "r1", "torch", "neutral", 0.2, 0.6, 0.2, 0.6, False, AT)
                           for m in done])
    store.save_journey_links("tax-1", {m.id: [] for m in done})
    assert store.shards_to_enrich("m", "r1", "tax-1", count) == [2]
    # a language routed to another model keeps its shard in the plan (the shard's classify checks it)
    assert 2 in store.shards_to_enrich("m", "r1", "tax-1", count, skip_languages=["vi"], also_languages=["vi"])


def test_a_shard_outside_its_count_is_refused_with_the_valid_range() -> None:
    with pytest.raises(ConfigError, match="shard 3 of 3 does not exist: shards are numbered 0 to 2"):
        Shard(3, 3)
    with pytest.raises(ConfigError, match="between 1 and 1024"):
        Shard(0, 0)


def test_ingest_stores_the_shard_key_of_each_mention(store_url: str, store: Store, stored: list[Mention]) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            keys = {row[0]: row[1] for row in conn.execute(sa.text("SELECT id, shard_key FROM mention"))}
    finally:
        engine.dispose()
    assert keys == {m.id: shard_key(m.id) for m in stored}
    assert all(0 <= key < 2**31 for key in keys.values())


def test_migration_0010_fills_the_shard_key_of_existing_mentions_and_keeps_their_annotations(
    empty_store_url: str, make_mention: MakeMention
) -> None:
    mentions = [make_mention(str(i), f"text {i}") for i in range(5)]
    with Store.open(empty_store_url) as store:
        store.store_batch("sample", "q", mentions, [], None)
        store.save_languages([LanguageResult(m.id, "vi", 0.9, "py3langid") for m in mentions])
        store.save_sentiments([SentimentResult(mentions[0].id, "m", "r1", "torch", "neutral", 0.2, 0.6, 0.2, 0.6,
                                               False, AT)])
    engine = sa.create_engine(empty_store_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0008")
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            keys = {row[0]: row[1] for row in conn.execute(sa.text("SELECT id, shard_key FROM mention"))}
            sentiments = conn.execute(sa.text("SELECT count(*) FROM sentiment")).scalar_one()
    finally:
        engine.dispose()
    assert keys == {m.id: shard_key(m.id) for m in mentions}
    assert sentiments == 1  # dropping and re-adding the column never rebuilt (and cascaded) the mention table


def _blocked(store: Store, outer: dict[str, object], inner: dict[str, object]) -> bool:
    """Whether taking the ``inner`` step lock waits while another run holds the ``outer`` one."""
    waited: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.step_lock("classify", **outer):  # type: ignore[arg-type]
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(30)
    done = threading.Event()

    def take() -> None:
        with store.step_lock("classify", on_wait=waited.append, **inner):  # type: ignore[arg-type]
            done.set()

    second = threading.Thread(target=take)
    second.start()
    done.wait(1.0)
    release.set()
    thread.join(30)
    second.join(30)
    assert done.is_set()
    return bool(waited)


def test_different_shards_run_together_but_one_shard_and_a_whole_step_run_wait(
    store: Store, stored: list[Mention]
) -> None:
    zero, one = {"shard": Shard(0, 2)}, {"shard": Shard(1, 2)}
    assert not _blocked(store, zero, one)
    assert _blocked(store, zero, zero)
    assert _blocked(store, zero, {})  # a whole-step run waits for the shards
    assert _blocked(store, {}, one)  # and the shards for it
