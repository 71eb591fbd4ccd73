"""scripts/airflow-local: argument handling and the stop/status contract without a running Airflow.

A real start/stop cycle takes about a minute here, so it runs only when asked
(JOURNEYPULSE_TEST_STANDALONE=1); its result is recorded in docs/airflow.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow-local"


def _run(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # The script parses the health JSON with the Python next to `airflow`: this interpreter's.
    full_env = {**os.environ, "JOURNEYPULSE_AIRFLOW_HOME": str(home),
                "AIRFLOW_BIN": str(Path(sys.executable).parent / "airflow"), **env}
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


HEALTHY = {"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"},
           "triggerer": {"status": "healthy"}, "dag_processor": {"status": "healthy"}}


class _FakeApi:
    """An api-server stand-in on 127.0.0.1 serving a chosen health body and execution API state."""

    def __init__(self) -> None:
        self.health: dict[str, object] = HEALTHY
        self.execution_up = True
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path == "/api/v2/monitor/health":
                    self._send(200, api.health)
                elif self.path == "/execution/health" and api.execution_up:
                    self._send(200, {"status": "healthy"})
                else:
                    self._send(404, {"detail": "Not Found"})

            def _send(self, code: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = str(self.server.server_address[1])


@pytest.fixture
def fake_api() -> Iterator[_FakeApi]:
    api = _FakeApi()
    thread = threading.Thread(target=api.server.serve_forever, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie: the test has not reaped its own child yet) process is in the group."""
    rows = subprocess.run(["ps", "-e", "-o", "pgid=", "-o", "stat="], check=True, capture_output=True, text=True).stdout
    return any(row.split()[0] == str(pgid) and not row.split()[1].startswith("Z") for row in rows.splitlines())


@pytest.fixture
def fake_standalone(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A process group standing in for standalone, with a child in a process group of its own
    (as Airflow 3 starts each task); yields (standalone's group, file holding the task's group)."""
    task_pgid_file = tmp_path / "task.pgid"
    script = f"setsid bash -c 'echo $$ > {task_pgid_file}; exec sleep 300' & sleep 300"
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    for _ in range(100):
        if task_pgid_file.exists() and task_pgid_file.read_text().strip():
            break
        time.sleep(0.05)
    (tmp_path / "standalone.pid").write_text(f"{proc.pid}\n")
    yield proc.pid, task_pgid_file
    for pgid in (proc.pid, int(task_pgid_file.read_text().strip() or 0)):
        if pgid and _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)  # only the groups this fixture started
    proc.wait(timeout=10)


def test_status_is_healthy_only_when_every_component_says_so_in_the_body(
    tmp_path: Path, fake_api: _FakeApi, fake_standalone: tuple[int, Path]
) -> None:
    status = _run("status", home=tmp_path, AIRFLOW_LOCAL_PORT=fake_api.port)
    assert status.returncode == 0 and status.stdout.strip().endswith(": healthy"), status.stdout + status.stderr
    fake_api.health = {**HEALTHY, "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None}}
    status = _run("status", home=tmp_path, AIRFLOW_LOCAL_PORT=fake_api.port)
    assert status.returncode == 1 and "unhealthy: scheduler: unhealthy" in status.stdout
    fake_api.health = {**HEALTHY, "dag_processor": None, "triggerer": {"status": "unhealthy"}}
    status = _run("status", home=tmp_path, AIRFLOW_LOCAL_PORT=fake_api.port)
    assert status.returncode == 1 and "dag-processor: not reported" in status.stdout and "triggerer" in status.stdout


def test_status_is_not_healthy_while_the_execution_api_does_not_answer(
    tmp_path: Path, fake_api: _FakeApi, fake_standalone: tuple[int, Path]
) -> None:
    fake_api.execution_up = False
    status = _run("status", home=tmp_path, AIRFLOW_LOCAL_PORT=fake_api.port)
    assert status.returncode == 1 and "execution API: not answering" in status.stdout


def test_stop_also_stops_the_process_groups_of_running_tasks(
    tmp_path: Path, fake_standalone: tuple[int, Path]
) -> None:
    pgid, task_pgid_file = fake_standalone
    task_pgid = int(task_pgid_file.read_text().strip())
    assert task_pgid != pgid and _group_alive(task_pgid)
    stop = _run("stop", home=tmp_path)
    assert stop.returncode == 0 and "no process left" in stop.stdout, stop.stdout + stop.stderr
    assert str(task_pgid) in stop.stdout
    assert not _group_alive(pgid) and not _group_alive(task_pgid)


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

    def live_in_group() -> list[str]:
        table = subprocess.run(["ps", "-e", "-o", "pgid=,stat=,args="], check=False, capture_output=True,
                               text=True).stdout
        # Live processes only: an exited child waiting to be reaped (state Z) runs nothing and holds no port.
        return [line for line in table.splitlines()
                if line.split()[:1] == [pgid] and not line.split()[1].startswith("Z")]

    deadline = time.monotonic() + 10  # a process may still be between its exit and the kernel's bookkeeping
    while live_in_group() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not live_in_group(), live_in_group()
