"""Settings from the environment: production passes `check --deploy`, bad values fail loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("DJANGO_ENV", "DEBUG", "DATABASE_URL") and not k.startswith("DJANGO_ALLOW")
        }
        | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "agents.example.com",
}


def test_production_settings_pass_check_deploy(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", DATA_DIR=str(tmp_path), **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = PRODUCTION | {"SECRET_KEY": "", "DATA_DIR": str(tmp_path)}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"), [("DEBUG", "maybe"), ("DEPLOY_BACKEND", "kubernetes"), ("API_PAGE_SIZE", "lots")]
)
def test_bad_values_fail_loudly(tmp_path, name, value):
    result = manage("check", DATA_DIR=str(tmp_path), **{name: value})

    assert result.returncode != 0
    assert name in result.stderr


def test_a_lease_heartbeat_must_come_before_the_lease_lapses(tmp_path):
    result = manage("check", DATA_DIR=str(tmp_path), INVOCATION_LEASE_SECONDS="10", INVOCATION_LEASE_HEARTBEAT="10")

    assert result.returncode != 0
    assert "INVOCATION_LEASE_HEARTBEAT must be above 0 and below INVOCATION_LEASE_SECONDS" in result.stderr


def test_the_embedded_default_can_sign_requests_to_the_local_emulator_only(tmp_path, monkeypatch):
    """boto3 refuses to send an unsigned request; the emulator checks no signature, real Bedrock does."""
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    script = "import os; print(os.environ.get('AWS_ACCESS_KEY_ID'), os.environ.get('AWS_ENDPOINT_URL_BEDROCK_RUNTIME'))"

    embedded = manage("shell", "--no-imports", "-c", script, DATA_DIR=str(tmp_path)).stdout.split()
    production = manage("shell", "--no-imports", "-c", script, DATA_DIR=str(tmp_path), **PRODUCTION).stdout.split()

    assert embedded == ["local-emulator", "http://127.0.0.1:8765"]
    assert production == ["None", "None"]


def test_the_cache_is_shared_by_every_process(tmp_path):
    """Rate limits count in the cache: Redis when REDIS_URL is set, else a table of the database (made by migrate)."""
    script = "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])"

    embedded = manage("shell", "--no-imports", "-c", script, DATA_DIR=str(tmp_path), REDIS_URL="").stdout.split()
    redis = manage("shell", "--no-imports", "-c", script, DATA_DIR=str(tmp_path), REDIS_URL="redis://r:6379/1")
    migrated = manage("migrate", "--noinput", DATA_DIR=str(tmp_path), REDIS_URL="")
    tables = manage("createcachetable", "--dry-run", DATA_DIR=str(tmp_path), REDIS_URL="")

    assert embedded == ["django.core.cache.backends.db.DatabaseCache", "django_cache"]
    assert redis.stdout.split() == ["django.core.cache.backends.redis.RedisCache", "redis://r:6379/1"]
    assert migrated.returncode == 0, migrated.stderr
    assert tables.returncode == 0 and "CREATE TABLE" not in tables.stdout  # migrate made it already
