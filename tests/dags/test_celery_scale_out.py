"""Scale-out on a real CeleryExecutor topology: listening and sharded enrichment across two workers.

Started here, on 127.0.0.1 and in temporary folders: PostgreSQL (Airflow's metadata database and the
journeypulse store, the suite's throwaway server), Redis (the Celery broker, from Debian's redis-server),
one scheduler, one dag-processor, one api-server and two Celery workers, each a process group of its
own. Both workers serve the `default` and `classify` queues with concurrency 1 (on two cores), so the
`journeypulse_classify` pool gets 2 x 1 = 2 slots and the two enrichment shards run one per worker.
Workers run with --skip-serve-logs: no log server listens anywhere. Each worker's name reaches the
metadata DB as the task instance's hostname (``[core] hostname_callable``).

Round 1: listening (two file sources) then enrichment (2 shards); the tasks ran on both workers, the
shards ran at the same time on different workers, and the store holds what `journeypulse run` stores
for the same input. Round 2, on a fresh store: a worker is killed (SIGKILL of its process group and of
the process groups of its tasks, as when its host dies) while it runs a shard; the scheduler notices the
missing heartbeats, the retry runs on the other worker, and the counts are again those of the run.
Takes a few minutes; every wait has a generous limit and a failure prints the processes' log tails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from helpers.celery_worker import WORKER_NAME_ENV

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample_mentions.jsonl"
AIRFLOW = Path(sys.executable).parent / "airflow"
WORKERS = ("worker-a", "worker-b")
CONCURRENCY = 1
SHARDS = 2
WAIT_S = 420  # per DAG run: generous for a loaded two-core machine (a run takes about a minute)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(sql)


class Topology:
    """The processes of the deployment; each in its own session, its output in ``<root>/<name>.log``."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.killed: set[str] = set()

    def start(self, name: str, args: list[str], **extra: str) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([str(AIRFLOW), *args], env={**self.env, **extra}, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, cwd=self.root)
        log.close()

    def airflow(self, *args: str, timeout: int = 300) -> str:
        proc = subprocess.run([str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.root)
        assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    def tails(self, lines: int = 40) -> str:
        parts = []
        for name in self.procs:
            text = (self.root / f"{name}.log").read_text(encoding="utf-8", errors="replace").splitlines()
            state = "running" if self.procs[name].poll() is None else f"exited {self.procs[name].returncode}"
            parts.append(f"----- {name} ({state}), last {lines} lines -----\n" + "\n".join(text[-lines:]))
        for log in sorted((self.root / "home" / "logs").rglob("*.log"))[-6:]:  # the latest task logs
            parts.append(f"----- task log {log.relative_to(self.root)} -----\n"
                         + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    def kill(self, name: str) -> list[int]:
        """SIGKILL the process group of ``name`` and those of its descendants (tasks run in groups of their own)."""
        groups = _tree_groups(self.procs[name].pid)
        self.killed.add(name)
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs[name].wait(timeout=30)
        return groups

    def stop(self) -> None:
        groups = [g for name, proc in self.procs.items() if proc.poll() is None for g in _tree_groups(proc.pid)]
        for group in groups:
            try:
                os.killpg(group, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(p.poll() is None for p in self.procs.values()):
            time.sleep(0.5)
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs.values():
            proc.wait(timeout=30)


def _tree_groups(pid: int) -> list[int]:
    """The process group of ``pid`` first, then the other groups among its descendants."""
    rows = [line.split() for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid=,pgid="], capture_output=True,
                                                    text=True, check=True).stdout.splitlines()]
    children: dict[int, list[tuple[int, int]]] = {}
    for child, parent, group in ((int(a), int(b), int(c)) for a, b, c in rows):
        children.setdefault(parent, []).append((child, group))
    own = os.getpgid(pid)
    found, todo = [own], [pid]
    while todo:
        for child, group in children.get(todo.pop(), []):
            todo.append(child)
            if group not in found:
                found.append(group)
    return found


class MetaDB:
    """Reads Airflow's metadata database (task instances, runs) the way an operator would, with SQL."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg2://", "postgresql://", 1)

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]

    def tis(self, dag_id: str, run_id: str) -> list[tuple[Any, ...]]:
        """(task_id, map_index, state, hostname, start_date, end_date, try_number) of one run."""
        return self.rows("SELECT task_id, map_index, state, hostname, start_date, end_date, try_number "
                         "FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
                         dag_id, run_id)

    def runs(self, dag_id: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.rows("SELECT run_id, state FROM dag_run WHERE dag_id = %s ORDER BY id",
                                                dag_id)]


def _wait(what: str, check: Callable[[], object], topology: Topology, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        dead = [name for name, proc in topology.procs.items() if proc.poll() is not None and name not in topology.killed]
        if dead:
            pytest.fail(f"{', '.join(dead)} exited while waiting for {what}\n{topology.tails()}")
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{topology.tails()}")


def _finished_run(meta: MetaDB, dag_id: str, topology: Topology, after: int = 0) -> str:
    """Wait for the (after+1)-th run of ``dag_id`` to end; fail with the task states unless it succeeded."""
    def ended() -> tuple[str, str] | None:
        runs = meta.runs(dag_id)
        return runs[after] if len(runs) > after and runs[after][1] in ("success", "failed") else None

    run_id, state = _wait(f"run {after + 1} of {dag_id} to end", ended, topology)
    if state != "success":
        pytest.fail(f"{dag_id} run {run_id} {state}: {meta.tis(dag_id, run_id)}\n{topology.tails()}")
    return str(run_id)


def _results(config: Path) -> dict[str, object]:
    """Counts, labels and links of a store, in one comparable form (floats rounded, timestamps dropped)."""
    from pipeline import steps

    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:
        found: dict[str, object] = {"counts": store.counts()}
        for view, keep in (("v_mention_sentiment", ("mention_id", "label", "model")),
                           ("v_current_journey_link", ("mention_id", "stage", "pain_point", "exit_signal", "method"))):
            columns, rows = store.query_view(view, filters={}, limit=None)
            index = [columns.index(name) for name in keep]
            found[view] = sorted((tuple(row[i] for i in index) for row in rows), key=repr)
    return found


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = shutil.which("redis-server")
    if server is None:
        message = "redis-server is not installed (scripts/install-system-deps installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " and CI=true")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "",
                             "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=(root / "redis.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"redis-server did not answer on 127.0.0.1:{port}: {(root / 'redis.log').read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this fixture started
        proc.wait(timeout=10)


def _write_config(path: Path, data_dir: Path, tiny_model: Path, url: str, files: list[Path]) -> Path:
    config = yaml.safe_load((REPO / "examples" / "config.example.yaml").read_text(encoding="utf-8"))
    config["data_dir"] = str(data_dir)
    config["sources"] = [{"name": f"sample-{i}", "kind": "file", "params": {"path": str(f), "format": "jsonl"}}
                         for i, f in enumerate(files)]
    config["model"]["name"] = str(tiny_model)
    config.setdefault("journeys", {})["method"] = "rules"  # the hybrid linker builds the real encoder (minutes)
    config["storage"] = {"url": url}
    config["pipeline"] = {"enrich_shards": SHARDS}
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, pg_server: str, redis_port: int,
               tiny_model: Path) -> Iterator[tuple[Topology, MetaDB, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("celery")
    meta_name = f"jp_airflow_{uuid.uuid4().hex[:8]}"
    _admin(pg_server, f'CREATE DATABASE "{meta_name}"')
    meta_url = pg_server.replace("postgresql+psycopg://", "postgresql+psycopg2://", 1).rsplit("/", 1)[0] + f"/{meta_name}"
    second = root / "second.jsonl"  # a second source: part of the sample under another source name
    second.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:150]), encoding="utf-8")
    files = [SAMPLE, second]
    api_port = _free_port()
    config = root / "journeypulse.yaml"
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(root)), "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        "AIRFLOW_HOME": str(root / "home"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta_url.replace("+psycopg2", ""),
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
        # A killed worker's task stops heartbeating: notice it in seconds, not the default 5 minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "JOURNEYPULSE_CONFIG": str(config),
        "JOURNEYPULSE_PSEUDONYM_KEY": "test-key-0123456789abcdef",
        "JOURNEYPULSE_CACHE": str(root / "cache"),
        "JOURNEYPULSE_LISTENING_SCHEDULE": "@once",  # one listening run when it is unpaused
        "JOURNEYPULSE_ENRICH_RETRY_DELAY_S": "5",
        "JOURNEYPULSE_TORCH_THREADS": "1",
    }
    topology = Topology(root, env)
    patch = pytest.MonkeyPatch()
    patch.setenv("JOURNEYPULSE_PSEUDONYM_KEY", env["JOURNEYPULSE_PSEUDONYM_KEY"])  # this process reads the stores too
    pools = json.loads((REPO / "docker" / "pools.json").read_text(encoding="utf-8"))
    pools["journeypulse_classify"]["slots"] = len(WORKERS) * CONCURRENCY  # classify workers x per-worker concurrency
    (root / "pools.json").write_text(json.dumps(pools), encoding="utf-8")
    try:
        topology.airflow("db", "migrate", timeout=600)
        topology.airflow("pools", "import", str(root / "pools.json"))
        topology.start("api-server", ["api-server"])
        topology.start("scheduler", ["scheduler"])
        topology.start("dag-processor", ["dag-processor"])
        for name in WORKERS:
            topology.start(name, ["celery", "worker", "--queues", "default,classify", "--concurrency", str(CONCURRENCY),
                                  "--celery-hostname", f"{name}@%h", "--skip-serve-logs"],
                           **{WORKER_NAME_ENV: name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": "helpers.celery_worker.worker_name"})
        meta = MetaDB(meta_url)
        _wait("the dag-processor to store the DAGs",
              lambda: {"listening", "enrichment"} <= {r[0] for r in meta.rows("SELECT dag_id FROM dag")}, topology)
        topology.airflow("dags", "unpause", "enrichment")  # runs on the mentions Asset, or when triggered
        yield topology, meta, {"root": root, "config": config, "files": files, "tiny_model": tiny_model,
                               "pg_server": pg_server}
    finally:
        topology.stop()
        patch.undo()
        _admin(pg_server, f'DROP DATABASE IF EXISTS "{meta_name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def run_results(deployment: tuple[Topology, MetaDB, dict[str, Any]]) -> dict[str, object]:
    """What `journeypulse run` stores for the same input (SQLite, in-process, the same settings)."""
    from pipeline.cli import app

    ctx = deployment[2]
    folder = ctx["root"] / "baseline"
    folder.mkdir()
    config = _write_config(folder / "journeypulse.yaml", folder / "data", ctx["tiny_model"],
                           f"sqlite:///{folder / 'journeypulse.db'}", ctx["files"])
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    found = _results(config)
    assert found["counts"]["mentions"] > 300  # type: ignore[index]
    return found


def _overlap(first: tuple[datetime, datetime], second: tuple[datetime, datetime]) -> bool:
    return max(first[0], second[0]) < min(first[1], second[1])


def test_listening_and_sharded_enrichment_run_on_both_workers_in_parallel_and_store_what_run_stores(
    deployment: tuple[Topology, MetaDB, dict[str, Any]], run_results: dict[str, object], postgres_url: str
) -> None:
    topology, meta, ctx = deployment
    _write_config(ctx["config"], ctx["root"] / "data", ctx["tiny_model"], postgres_url, ctx["files"])
    topology.airflow("dags", "unpause", "listening")  # @once: one run now; its Asset event starts enrichment

    listening = _finished_run(meta, "listening", topology)
    enrichment = _finished_run(meta, "enrichment", topology)
    tis = meta.tis("listening", listening) + meta.tis("enrichment", enrichment)
    ran = [ti for ti in tis if ti[2] == "success"]
    hosts = {ti[3] for ti in ran}
    assert hosts == set(WORKERS), f"task instances ran on {hosts}, expected both of {WORKERS}: {tis}"

    shards = [ti for ti in meta.tis("enrichment", enrichment) if ti[0] == "enrich"]
    assert [ti[1] for ti in shards] == list(range(SHARDS)) and all(ti[2] == "success" for ti in shards), shards
    assert {ti[3] for ti in shards} == set(WORKERS), f"the shards did not run one per worker: {shards}"
    assert _overlap((shards[0][4], shards[0][5]), (shards[1][4], shards[1][5])), (
        f"the shards did not run at the same time: {[(ti[3], ti[4], ti[5]) for ti in shards]}")

    assert _results(ctx["config"]) == run_results


def test_killing_a_worker_mid_shard_ends_with_the_same_results_after_the_retry_on_the_other_worker(
    deployment: tuple[Topology, MetaDB, dict[str, Any]], run_results: dict[str, object], empty_postgres_url: str
) -> None:
    from pipeline import steps

    topology, meta, ctx = deployment
    config = _write_config(ctx["config"], ctx["root"] / "data", ctx["tiny_model"], empty_postgres_url, ctx["files"])
    settings = steps.load_run_settings(config)
    with steps.open_store(settings) as store:  # a fresh store with the same input, not yet enriched
        assert not steps.pull(settings, store).failed
    runs_before = len(meta.runs("enrichment"))
    topology.airflow("dags", "trigger", "enrichment")

    def running_shard() -> tuple[Any, ...] | None:
        runs = meta.runs("enrichment")
        if len(runs) <= runs_before:
            return None
        running = [ti for ti in meta.tis("enrichment", runs[runs_before][0])
                   if ti[0] == "enrich" and ti[2] == "running" and ti[3] in WORKERS]
        return running[0] if running else None

    victim = _wait("an enrich shard to start running", running_shard, topology)
    killed_worker = victim[3]
    groups = topology.kill(killed_worker)
    survivor = next(name for name in WORKERS if name != killed_worker)

    run_id = _finished_run(meta, "enrichment", topology, after=runs_before)
    shard = next(ti for ti in meta.tis("enrichment", run_id) if ti[0] == "enrich" and ti[1] == victim[1])
    assert shard[2] == "success" and shard[6] >= 2, f"shard {victim[1]} was not retried: {shard} (killed {groups})"
    assert shard[3] == survivor, f"the retry of shard {victim[1]} ran on {shard[3]}, not on {survivor}"
    assert _results(config) == run_results
