"""scripts/airflow-local: argument handling and the stop/status contract without a running Airflow.

A real start/stop cycle takes about a minute here, so it runs only when asked
(JOURNEYPULSE_TEST_STANDALONE=1); its result is recorded in docs/airflow.md.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow-local"


def _run(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "JOURNEYPULSE_AIRFLOW_HOME": str(home), **env}
    return subprocess.run([str(SCRIPT), *args], check=False, capture_output=True, text=True, timeout=300, env=full_env)


def test_script_is_valid_bash_and_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False, capture_output=True, timeout=10).returncode == 0


def test_unknown_command_prints_usage_and_exits_2(tmp_path: Path) -> None:
    proc = _run("restart", home=tmp_path)
    assert proc.returncode == 2 and "usage: scripts/airflow-local start|stop|status" in proc.stderr


def test_status_and_stop_report_not_running_when_nothing_was_started(tmp_path: Path) -> None:
    status = _run("status", home=tmp_path)
    assert status.returncode == 3 and status.stdout.strip() == "stopped"
    stop = _run("stop", home=tmp_path)
    assert stop.returncode == 0 and stop.stdout.strip() == "not running"


def test_a_stale_pid_file_is_not_taken_for_a_running_airflow(tmp_path: Path) -> None:
    # A process group id that cannot exist: the script must not signal anything for it.
    (tmp_path / "standalone.pid").write_text("999999999\n")
    assert _run("status", home=tmp_path).returncode == 3
    stop = _run("stop", home=tmp_path)
    assert stop.returncode == 0 and not (tmp_path / "standalone.pid").exists()


def test_bad_parallelism_is_rejected_with_the_fix(tmp_path: Path) -> None:
    proc = _run("status", home=tmp_path, AIRFLOW_LOCAL_PARALLELISM="many")
    assert proc.returncode == 1 and "AIRFLOW_LOCAL_PARALLELISM=many" in proc.stderr and "2 to 4" in proc.stderr


@pytest.mark.airflow
@pytest.mark.skipif(os.environ.get("JOURNEYPULSE_TEST_STANDALONE") != "1",
                    reason="starts a real Airflow for ~1 min; set JOURNEYPULSE_TEST_STANDALONE=1")
def test_start_serves_on_localhost_and_stop_leaves_no_process(tmp_path: Path) -> None:
    port = "18080"
    start = _run("start", home=tmp_path, AIRFLOW_LOCAL_PORT=port)
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        assert _run("status", home=tmp_path, AIRFLOW_LOCAL_PORT=port).returncode == 0
        pgid = (tmp_path / "standalone.pid").read_text().strip()
    finally:
        stop = _run("stop", home=tmp_path, AIRFLOW_LOCAL_PORT=port)
    assert stop.returncode == 0 and "no process left" in stop.stdout
    leftover = subprocess.run(["ps", "-e", "-o", "pgid="], check=False, capture_output=True, text=True).stdout.split()
    assert pgid not in leftover
