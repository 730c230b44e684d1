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
