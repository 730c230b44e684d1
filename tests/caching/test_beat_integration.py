"""The shipped beat schedule runs the rollup and the report in a real Celery beat and worker on Redis.

The subprocesses share a file SQLite database with this test (pytest-django's
test database is invisible to other processes), migrated here with the same
environment. The schedule shipped by the migration is shortened to every two
seconds, as an admin would edit it, and the test waits (bounded) for the rollup
rows and the mailed report, then stops both processes.

Redis: `TEST_REDIS_URL` (set by `make test`), else a redis-server started here;
with neither, the test fails and says so.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT_SECONDS = 120

SEED = """
import datetime as dt
from decimal import Decimal
from django.contrib.auth import get_user_model
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from agent_platform.models import Membership, Role, Tenant
from agents_app.models import Agent, AgentSession, FoundationModel, Invocation

tenant = Tenant.objects.create(slug="acme", name="Acme")
user = get_user_model().objects.create_user("boss", email="boss@acme.test", password="x", is_staff=True)
Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
agent = Agent.objects.create(
    tenant=tenant, name="Support", system_prompt="Be helpful.", prompt_caching_enabled=True,
    model=FoundationModel.objects.get(model_id="us.anthropic.claude-sonnet-4-6"),
)
session = AgentSession.objects.create(tenant=tenant, agent=agent, session_id="s1")
yesterday = dt.datetime.now(dt.UTC).replace(hour=10, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
for n, (read, write) in enumerate([(0, 2000), (2000, 0)]):
    inv = Invocation.objects.create(
        tenant=tenant, agent=agent, session=session, prompt="hi", status="succeeded", caching_enabled=True,
        input_tokens=100, cache_read_tokens=read, cache_write_tokens=write, cache_hit=read > 0,
        gross_savings=Decimal("0.0054") if read else 0, write_premium=0 if read else Decimal("0.0015"),
        net_savings=Decimal("0.0054") if read else Decimal("-0.0015"),
    )
    Invocation.objects.filter(pk=inv.pk).update(queued_at=yesterday + dt.timedelta(minutes=n))

every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
for task in PeriodicTask.objects.filter(task__startswith="caching.tasks."):
    task.crontab = None
    task.interval = every_two_seconds
    task.save()
PeriodicTasks.update_changed()
print("seeded", PeriodicTask.objects.filter(task__startswith="caching.tasks.").count())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        # A database of our own on the shared throwaway server.
        parts = urlsplit(url)
        yield urlunsplit(parts._replace(path="/13"))
        return
    server = shutil.which("redis-server")
    if not server:
        pytest.fail(
            "This test needs Redis: set TEST_REDIS_URL (make test does) or put redis-server on PATH "
            "(apt-get install redis-server)."
        )
    port = free_port()
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def test_beat_and_worker_roll_up_and_mail_the_report(tmp_path, redis_url):
    db_path = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "agent_platform.settings",
        "DJANGO_ENV": "development",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{db_path}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
    seeded = subprocess.run(
        [*manage, "shell", "-c", SEED], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0 and "seeded 3" in seeded.stdout, seeded.stderr

    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    celery = [str(BIN / "celery"), "-A", "agent_platform"]
    worker = subprocess.Popen(
        [*celery, "worker", "--loglevel=INFO", "--pool=solo", "--without-gossip", "--without-mingle"],
        env=env,
        cwd=ROOT,
        stdout=worker_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    beat = subprocess.Popen(
        [*celery, "beat", "--loglevel=INFO", f"--pidfile={tmp_path / 'beat.pid'}", f"-s={tmp_path / 'beat-schedule'}"],
        env=env,
        cwd=ROOT,
        stdout=beat_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        rollups, report = 0, None
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            assert worker.poll() is None, f"worker exited:\n{tail(worker_log)}"
            assert beat.poll() is None, f"beat exited:\n{tail(beat_log)}"
            with sqlite3.connect(db_path, timeout=20) as db:
                rollups = db.execute(
                    "SELECT COALESCE(SUM(cache_read_tokens + cache_write_tokens), 0) FROM caching_dailycacherollup"
                ).fetchone()[0]
                report = db.execute(
                    "SELECT emailed_at, recipients, stats FROM caching_cachereport WHERE emailed_at IS NOT NULL"
                ).fetchone()
            if rollups and report:
                break
            time.sleep(1)
        logs = f"worker:\n{tail(worker_log)}\nbeat:\n{tail(beat_log)}"
        assert rollups == 4000, logs
        assert report is not None, logs
        assert '"boss@acme.test"' in report[1] and '"net_savings": "0.003900"' in report[2], report
    finally:
        stop(beat)
        stop(worker)
    worker_output = worker_log.read_text(errors="replace")
    assert "Subject: Prompt caching report for Acme" in worker_output
    assert "caching.tasks.rollups_refresh_all" in worker_output and "succeeded" in worker_output
    assert "caching.tasks.rollups_refresh_recent" in worker_output
