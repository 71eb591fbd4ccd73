"""Each DAG runs end to end in-process (``dag.test()``) on the bundled sample with a tiny model.

Re-running must not duplicate or drop data: a second listening run adds nothing, and a failure in
the middle of classification followed by Airflow's retry leaves no duplicates and no gaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("airflow_db")


def _counts() -> dict[str, int]:
    from pipeline.steps import load_run_settings, open_store

    store = open_store(load_run_settings())
    try:
        return store.counts()
    finally:
        store.close()


def _states(run: object) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}  # type: ignore[attr-defined]


def _reports(run: object, task_id: str) -> list[dict[str, object]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        return [XComModel.deserialize_value(row) for row in session.scalars(query)]


def _asset_events(run: object, uri: str) -> list[dict[str, object]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                 .where(AssetModel.uri == uri, AssetEvent.source_run_id == run.run_id))  # type: ignore[attr-defined]
        return [dict(extra) for extra in session.scalars(query)]


def _succeeded(run: object) -> None:
    failed = {key: state for key, state in _states(run).items() if state not in {"success", "skipped"}}
    assert str(run.state) == "success" and not failed, failed  # type: ignore[attr-defined]


@pytest.fixture
def listened(dagbag: object, pipeline_config: Path) -> Iterator[dict[str, int]]:
    run = dagbag.dags["listening"].test()  # type: ignore[attr-defined]
    _succeeded(run)
    yield _counts()


def test_listening_stores_the_sample_once_and_a_second_run_adds_nothing(dagbag: object, pipeline_config: Path) -> None:
    first = dagbag.dags["listening"].test()  # type: ignore[attr-defined]
    _succeeded(first)
    (report,) = _reports(first, "pull_file")
    after_first = _counts()
    assert report["read"] == report["stored"] + report["duplicates"] + report["quarantined"]
    assert after_first["mentions"] == report["stored"] > 0
    assert _states(first)[("announce", -1)] == "success"
    labels = [ti.rendered_map_index for ti in first.get_task_instances() if ti.task_id == "pull_file"]
    assert labels and all(label and label.startswith("sample / ") for label in labels), labels
    (event,) = _asset_events(first, "journeypulse://mentions/")
    assert event["stored"] == report["stored"] and event["read"] == report["read"]
    assert _states(first)[("pull_x", -1)] == "skipped"  # no X source enabled: zero mapped pulls

    second = dagbag.dags["listening"].test()  # type: ignore[attr-defined]
    _succeeded(second)
    (again,) = _reports(second, "pull_file")
    assert again["stored"] == 0 and again["quarantined"] == 0
    assert _states(second)[("announce", -1)] == "skipped"  # nothing new stored: no Asset event
    assert _asset_events(second, "journeypulse://mentions/") == []
    assert _counts() == after_first


def test_enrichment_gives_every_mention_a_language_a_sentiment_and_journey_links(
    dagbag: object, listened: dict[str, int]
) -> None:
    run = dagbag.dags["enrichment"].test()  # type: ignore[attr-defined]
    _succeeded(run)
    counts = _counts()
    mentions = listened["mentions"]
    assert counts["with_language"] == counts["with_sentiment"] == counts["linked"] == mentions
    (report,) = _reports(run, "enrich")
    assert (report["processed"], report["classified"], report["linked"]) == (mentions, mentions, mentions)
    assert _reports(run, "plan") == [[{"index": 0, "count": 1}]]  # pipeline.enrich_shards defaults to 1
    assert _asset_events(run, "journeypulse://mentions-enriched/") == [{"processed": mentions}]
    again = dagbag.dags["enrichment"].test()  # type: ignore[attr-defined]
    _succeeded(again)
    assert _reports(again, "plan") == [[]]  # no shard holds work: enrich expands to no task
    assert _states(again)[("announce", -1)] == "skipped"  # no work found: cx_daily's Asset not updated


def test_enrichment_maps_one_labelled_enrich_task_per_shard_and_their_sum_is_every_mention(
    dagbag: object, listened: dict[str, int], pipeline_config: Path
) -> None:
    import yaml

    config = yaml.safe_load(pipeline_config.read_text(encoding="utf-8"))
    config["pipeline"] = {"enrich_shards": 3}
    pipeline_config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    run = dagbag.dags["enrichment"].test()  # type: ignore[attr-defined]
    _succeeded(run)
    shards = sorted((ti.map_index, ti.rendered_map_index) for ti in run.get_task_instances() if ti.task_id == "enrich")
    assert shards == [(0, "shard 0 of 3"), (1, "shard 1 of 3"), (2, "shard 2 of 3")]
    reports = _reports(run, "enrich")
    mentions = listened["mentions"]
    assert sum(int(r["processed"]) for r in reports) == mentions and all(r["processed"] for r in reports)
    counts = _counts()
    assert counts["with_sentiment"] == counts["linked"] == mentions
    assert _asset_events(run, "journeypulse://mentions-enriched/") == [{"processed": mentions}]


def test_a_failure_mid_classification_then_the_retry_leaves_no_duplicates_and_no_gaps(
    fresh_dagbag: object, listened: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sentiment

    mentions = listened["mentions"]
    assert mentions > 256, "the sample must span two classify batches for this test to mean anything"
    real_load = sentiment.load_sentiment_model
    scored: list[int] = []
    loads: list[int] = []

    def load_then_fail_on_second_batch(*args: object, **kwargs: object) -> object:
        model = real_load(*args, **kwargs)
        loads.append(1)  # the plan's load (scores nothing), then one per try of the shard
        real_score = model.score

        def score(texts: list[str]) -> list[object]:
            if len(loads) == 2 and len(scored) == 1:
                raise RuntimeError("injected failure after the first batch was saved")
            scored.append(len(texts))
            return real_score(texts)

        monkeypatch.setattr(model, "score", score)
        return model

    monkeypatch.setattr(sentiment, "load_sentiment_model", load_then_fail_on_second_batch)
    dag = fresh_dagbag.dags["enrichment"]  # type: ignore[attr-defined]
    classify = dag.get_task("enrich")
    classify.retries, classify.retry_delay, classify.retry_exponential_backoff = 1, timedelta(0), 0

    run = dag.test()
    _succeeded(run)
    (classify_ti,) = [ti for ti in run.get_task_instances() if ti.task_id == "enrich"]
    assert classify_ti.try_number == 2  # the first try failed, Airflow retried it
    assert len(loads) == 3 and sum(scored) == mentions  # the retry scored only what was missing
    counts = _counts()
    assert counts["with_sentiment"] == counts["linked"] == mentions  # one current result each, none missing


def test_reprocess_reclassifies_with_another_model_and_relinks_without_touching_mentions(
    dagbag: object, listened: dict[str, int], tmp_path: Path
) -> None:
    from helpers.tiny_models import build_tiny_classifier

    _succeeded(dagbag.dags["enrichment"].test())  # type: ignore[attr-defined]
    before = _counts()
    other = build_tiny_classifier(tmp_path, name="other-classifier", seed=1)
    dag = dagbag.dags["reprocess"]  # type: ignore[attr-defined]

    sentiment_only = dag.test(run_conf={"what": "sentiment", "model": str(other), "brand": "Sorami"})
    _succeeded(sentiment_only)
    assert _states(sentiment_only) == {("reclassify", -1): "success", ("relink", -1): "skipped"}
    assert _reports(sentiment_only, "reclassify")[0]["processed"] == before["mentions"]

    links_only = dag.test(run_conf={"what": "links", "since": "2020-01-01T00:00:00+00:00"})
    _succeeded(links_only)
    assert _states(links_only) == {("reclassify", -1): "skipped", ("relink", -1): "success"}
    assert _reports(links_only, "relink")[0]["processed"] == before["mentions"]
    assert _counts() == before  # same mentions, still one current sentiment and one link run each


def test_reprocess_rejects_a_window_without_timezone(dagbag: object, listened: dict[str, int]) -> None:
    run = dagbag.dags["reprocess"].test(run_conf={"what": "links", "since": "2026-10-01"})  # type: ignore[attr-defined]
    assert str(run.state) == "failed"
    assert _states(run)[("relink", -1)] == "failed"


def test_cx_daily_refreshes_summaries_writes_the_map_and_selects_coaching(
    dagbag: object, listened: dict[str, int], pipeline_config: Path
) -> None:
    from pipeline import steps

    assert all(hasattr(steps, name) for name in ("write_cx_map", "select_coaching_candidates", "check_alerts"))
    _succeeded(dagbag.dags["enrichment"].test())  # type: ignore[attr-defined]
    run = dagbag.dags["cx_daily"].test(logical_date=datetime(2026, 11, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    _succeeded(run)
    for task_id in ("refresh_summaries", "write_cx_map", "select_coaching_candidates", "check_alerts"):
        (report,) = _reports(run, task_id)
        assert report["step"] == task_id
    (cx_map,) = _reports(run, "write_cx_map")
    assert cx_map["processed"] == 1  # one map per configured brand
    written = Path(str(cx_map["detail"]))
    assert written.is_file() and written.parent == pipeline_config.parent / "data" / "reports"
    assert "2026-10-04" in written.name  # the 28-day window ending at the logical date, not wall-clock now
    (alerts,) = _reports(run, "check_alerts")
    assert "day=2026-10-31" in str(alerts["detail"])  # the run covers the day before its midnight


def test_escalations_sends_newly_enriched_matches_once_after_enrichment(
    dagbag: object, listened: dict[str, int], pipeline_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from escalation.messages import DeliveryReceipt, EscalationMessage
    from journeypulse.config import DestinationConfig
    from pipeline import escalate

    sent: list[EscalationMessage] = []

    class Recording:  # stands in for the webhook service's client; the step, storage and claims are real
        def __init__(self, name: str, config: DestinationConfig) -> None:
            self.name, self.kind, self.supports_idempotency_key = name, config.kind, True

        def send(self, message: EscalationMessage) -> DeliveryReceipt:
            sent.append(message)
            return DeliveryReceipt(200)

    config = yaml.safe_load(pipeline_config.read_text(encoding="utf-8"))
    config["escalation"]["enabled"] = True
    pipeline_config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(escalate, "build_destination", Recording)
    _succeeded(dagbag.dags["enrichment"].test())  # type: ignore[attr-defined]
    run = dagbag.dags["escalations"].test()  # type: ignore[attr-defined]
    _succeeded(run)
    (report,) = _reports(run, "escalate")
    assert report["sent"] == len(sent) > 0 and report["failed"] == report["dead"] == 0
    again = dagbag.dags["escalations"].test()  # type: ignore[attr-defined]
    _succeeded(again)
    (second,) = _reports(again, "escalate")
    assert (second["claimed"], second["sent"]) == (0, 0) and len(sent) == report["sent"]
