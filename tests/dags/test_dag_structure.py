"""The DAG files parse cleanly, wire the expected tasks, and stay light at parse time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from listeners.registry import LISTENER_KINDS

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

EXPECTED_DAGS = {"listening", "enrichment", "cx_daily", "reprocess", "escalations"}


def _edges(dag: object) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}  # type: ignore[attr-defined]


def test_dagbag_loads_every_dag_file_without_import_errors(dagbag: object) -> None:
    assert dagbag.import_errors == {}  # type: ignore[attr-defined]
    assert set(dagbag.dag_ids) == EXPECTED_DAGS  # type: ignore[attr-defined]


def test_each_dag_id_is_its_file_name(dagbag: object) -> None:
    for dag_id in EXPECTED_DAGS:
        assert dagbag.dags[dag_id].fileloc == str(DAGS / f"{dag_id}.py")  # type: ignore[attr-defined]


def test_listening_has_a_plan_and_a_mapped_pull_per_listener_kind_in_its_own_pool(dagbag: object) -> None:
    dag = dagbag.dags["listening"]  # type: ignore[attr-defined]
    kinds = sorted(LISTENER_KINDS)
    assert set(dag.task_dict) == {"announce"} | {f"plan_{k}" for k in kinds} | {f"pull_{k}" for k in kinds}
    expected = {(f"plan_{k}", f"pull_{k}") for k in kinds} | {(f"pull_{k}", "announce") for k in kinds}
    assert _edges(dag) == expected
    for kind in kinds:
        pull = dag.get_task(f"pull_{kind}")
        assert type(pull).__name__.endswith("MappedOperator")
        assert pull.pool == f"journeypulse_{kind}"


def test_listening_retries_with_capped_exponential_backoff_and_never_overlaps(dagbag: object) -> None:
    dag = dagbag.dags["listening"]  # type: ignore[attr-defined]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.timetable.expression == "0 * * * *"
    pull = dag.get_task("pull_x")
    assert pull.retries >= 1 and pull.retry_exponential_backoff
    assert pull.max_retry_delay == timedelta(minutes=30)


def test_listening_announces_the_mentions_asset_that_schedules_enrichment(dagbag: object) -> None:
    listening, enrichment = dagbag.dags["listening"], dagbag.dags["enrichment"]  # type: ignore[attr-defined]
    announce = listening.get_task("announce")
    assert [a.uri for a in announce.outlets] == ["journeypulse://mentions/"]
    assert announce.trigger_rule == "none_failed_min_one_success"
    assert "journeypulse://mentions" in repr(enrichment.timetable.asset_condition)


def test_enrichment_runs_languages_then_a_plan_then_one_mapped_enrich_per_shard_in_the_classify_pool(
    dagbag: object,
) -> None:
    dag = dagbag.dags["enrichment"]  # type: ignore[attr-defined]
    assert _edges(dag) == {("identify_languages", "plan"), ("plan", "enrich"), ("enrich", "announce")}
    enrich = dag.get_task("enrich")  # sentiment model and journey heads, one encoder pass, one task per shard
    assert type(enrich).__name__.endswith("MappedOperator")
    assert enrich.queue == "classify" and enrich.pool == "journeypulse_classify"
    assert enrich.map_index_template == "{{ shard_label }}"
    assert dag.get_task("plan").queue == "classify"  # it loads the model to know what is missing
    assert dag.get_task("identify_languages").queue == "default"
    assert dag.max_active_runs == 1 and dag.catchup is False


def test_cx_daily_refreshes_summaries_then_writes_the_map_then_selects_coaching(dagbag: object) -> None:
    dag = dagbag.dags["cx_daily"]  # type: ignore[attr-defined]
    assert _edges(dag) == {
        ("refresh_summaries", "write_cx_map"),
        ("write_cx_map", "select_coaching_candidates"),
        ("refresh_summaries", "check_alerts"),
        ("wait_for_enrichment", "refresh_summaries"),
    }
    wait = dag.get_task("wait_for_enrichment")
    assert wait.mode == "reschedule" and wait.timeout == 3600
    assert dag.timetable.expression == "0 0 * * *"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


def test_escalations_runs_the_escalate_step_on_the_enriched_asset_one_run_at_a_time(dagbag: object) -> None:
    enrichment, escalation = dagbag.dags["enrichment"], dagbag.dags["escalations"]  # type: ignore[attr-defined]
    assert set(escalation.task_dict) == {"escalate"}
    assert [a.uri.rstrip("/") for a in enrichment.get_task("announce").outlets] == ["journeypulse://mentions-enriched"]
    assert "journeypulse://mentions-enriched" in repr(escalation.timetable.asset_condition)
    assert escalation.max_active_runs == 1 and escalation.catchup is False
    assert escalation.get_task("escalate").retries >= 1


def test_reprocess_is_manual_with_model_window_brand_and_what_params(dagbag: object) -> None:
    dag = dagbag.dags["reprocess"]  # type: ignore[attr-defined]
    assert type(dag.timetable).__name__ == "NullTimetable"
    assert _edges(dag) == {("reclassify", "relink")}
    assert set(dag.params) == {"what", "model", "brand", "since", "until"}
    assert dag.params["what"] == "both"
    assert dag.get_task("relink").trigger_rule == "none_failed"
    assert dag.get_task("reclassify").queue == dag.get_task("relink").queue == "classify"


def test_parsing_imports_no_model_code_and_looks_up_no_connections_or_variables() -> None:
    # A fresh interpreter, so modules other tests imported cannot hide a parse-time import.
    probe = textwrap.dedent(
        f"""
        import sys
        from airflow.sdk import BaseHook, Variable
        def refuse(*args, **kwargs):
            raise AssertionError("connection or variable looked up at parse time")
        BaseHook.get_connection = classmethod(refuse)
        Variable.get = staticmethod(refuse)
        from airflow.dag_processing.dagbag import BundleDagBag
        bag = BundleDagBag(dag_folder={str(DAGS)!r}, bundle_path={str(DAGS)!r}, bundle_name="dags-folder")
        assert not bag.import_errors, bag.import_errors
        assert len(bag.dag_ids) == 5, bag.dag_ids
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {{"torch", "transformers", "storage", "sentiment"}})
        print("HEAVY=" + ",".join(heavy))
        """
    )
    proc = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY=\n" in proc.stdout, proc.stdout[-500:]


def test_dag_files_hold_no_sql_no_model_code_and_no_secrets() -> None:
    import re

    secret = re.compile(r"\b(password|token|secret|api_key)\s*[=:]\s*[\"'][^\"']+[\"']")
    for path in DAGS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("select ", "insert into", "sqlalchemy", "import torch", "import transformers"):
            assert forbidden not in text.casefold(), f"{path.name} contains {forbidden!r}"
        assert not secret.search(text), f"{path.name} holds what looks like a secret: {secret.search(text)}"


def test_every_pool_and_queue_the_dags_use_exists_in_the_deployment(dagbag: object) -> None:
    import json
    import re

    import yaml

    pools = set(json.loads((REPO / "docker" / "pools.json").read_text(encoding="utf-8")))
    compose = yaml.safe_load((REPO / "docker" / "docker-compose.yaml").read_text(encoding="utf-8"))
    served = {
        queue
        for service in compose["services"].values()
        if str(service.get("command", "")).startswith("celery worker")
        for queue in re.search(r"--queues\s+(\S+)", service["command"]).group(1).split(",")  # type: ignore[union-attr]
    }
    for dag in dagbag.dags.values():  # type: ignore[attr-defined]
        for task in dag.tasks:
            assert task.queue in served, f"{dag.dag_id}.{task.task_id} uses queue {task.queue!r} no worker serves"
            assert task.pool == "default_pool" or task.pool in pools, f"{dag.dag_id}.{task.task_id}: {task.pool}"


def test_every_dag_shows_its_docs_and_has_a_run_timeout_and_every_task_an_execution_timeout(dagbag: object) -> None:
    for dag in dagbag.dags.values():  # type: ignore[attr-defined]
        assert dag.doc_md and dag.doc_md.strip() == (DAGS / f"{dag.dag_id}.py").read_text().split('"""')[1].strip()
        assert isinstance(dag.dagrun_timeout, timedelta) and dag.dagrun_timeout > timedelta(0), dag.dag_id
        for task in dag.tasks:
            timeout = task.execution_timeout
            assert isinstance(timeout, timedelta) and timedelta(0) < timeout <= dag.dagrun_timeout, task.task_id


def test_no_task_unrolls_its_report_into_one_xcom_per_key(dagbag: object) -> None:
    for dag in dagbag.dags.values():  # type: ignore[attr-defined]
        for task in dag.tasks:
            assert getattr(task, "multiple_outputs", False) is False, f"{dag.dag_id}.{task.task_id}"


def test_mapped_pulls_are_labelled_with_their_source_and_query(dagbag: object) -> None:
    dag = dagbag.dags["listening"]  # type: ignore[attr-defined]
    for kind in LISTENER_KINDS:
        assert dag.get_task(f"pull_{kind}").map_index_template == "{{ pull_label }}"


def test_reprocess_window_params_are_typed_date_times(dagbag: object) -> None:
    params = dagbag.dags["reprocess"].params  # type: ignore[attr-defined]
    for name in ("since", "until"):
        schema = params.get_param(name).schema
        assert schema["format"] == "date-time" and schema["type"] == ["null", "string"]


def test_enrichment_announces_the_enriched_asset_and_cx_daily_stays_on_its_daily_timetable(dagbag: object) -> None:
    enrichment, cx_daily = dagbag.dags["enrichment"], dagbag.dags["cx_daily"]  # type: ignore[attr-defined]
    assert [a.uri for a in enrichment.get_task("announce").outlets] == ["journeypulse://mentions-enriched/"]
    assert type(cx_daily.timetable).__name__ == "CronDataIntervalTimetable"
