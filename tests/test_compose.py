"""The production shape in docker-compose.yml and the Dockerfile, checked without a Docker engine."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose["services"]


def command_words(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, str):
        return shlex.split(command)
    # ["sh", "-c", "a && b"]: the words of the script too.
    return [word for part in command for word in shlex.split(part)]


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def test_the_five_services_exist(services):
    assert {"db", "redis", "web", "worker", "beat"} <= set(services)


def test_db_is_postgres_16_with_a_volume_and_a_health_check(services):
    db = services["db"]
    assert db["image"].startswith("postgres:16")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_redis_is_redis_7_with_a_health_check(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert "ping" in redis["healthcheck"]["test"]


def test_web_migrates_then_runs_gunicorn_on_the_wsgi_app(services):
    words = command_words(services["web"])
    assert "gunicorn" in words
    assert "agent_platform.wsgi:application" in words
    assert words.index("migrate") < words.index("gunicorn")
    assert "0.0.0.0:8000" in words


def test_web_is_built_from_the_dockerfile_and_health_checked_on_healthz(services):
    web = services["web"]
    assert web["build"] in (".", {"context": "."})
    assert "/healthz/" in " ".join(web["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["worker", "beat"])
def test_worker_and_beat_run_celery_on_the_project_app(services, name):
    words = command_words(services[name])
    assert words[0] == "celery"
    assert words[words.index("-A") + 1] == "agent_platform"
    assert name in words


def test_the_worker_keeps_many_model_calls_in_flight_on_a_pool_of_threads(services):
    env = environment(services["worker"])
    assert env["WORKER_POOL"] == "threads"
    assert int(re.fullmatch(r"\$\{WORKER_CONCURRENCY:-(\d+)\}", env["WORKER_CONCURRENCY"]).group(1)) >= 100
    assert not {"--pool", "-P", "--concurrency", "-c"} & set(command_words(services["worker"]))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_the_production_environment(services, name):
    env = environment(services[name])
    assert env["DJANGO_ENV"] == "production"
    assert re.fullmatch(r"postgres://[^@]+@db(:5432)?/\w+", env["DATABASE_URL"])
    assert re.fullmatch(r"redis://redis(:6379)?/\d+", env["REDIS_URL"])
    assert env["SECRET_KEY"].startswith("${SECRET_KEY")
    for name in ("ALLOWED_HOSTS", "DEPLOY_BACKEND", "AWS_REGION"):
        assert env[name]
    # Production talks to real Bedrock: no emulator endpoint.
    assert "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" not in env


def test_app_services_agree_on_database_and_broker(services):
    for key in ("DATABASE_URL", "REDIS_URL"):
        assert len({environment(services[name])[key] for name in APP_SERVICES}) == 1


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_dependencies(services, name):
    depends_on = services[name]["depends_on"]
    for dependency in ("db", "redis"):
        assert depends_on[dependency]["condition"] == "service_healthy"


def test_no_endpoint_override_anywhere():
    for name in ("docker-compose.yml", "Dockerfile"):
        lines = (ROOT / name).read_text().splitlines()
        assert not [line for line in lines if "AWS_ENDPOINT_URL" in line and not line.lstrip().startswith("#")]


def test_dockerfile_builds_a_non_root_python_311_image():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:3.11-slim")
    users = [line.split(None, 1)[1].strip() for line in instructions if line.upper().startswith("USER ")]
    assert users, "the Dockerfile never switches away from root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert "EXPOSE 8000" in instructions
    assert any("collectstatic" in line for line in instructions)
