"""The shipped alert schedule in a real Celery beat and worker on Redis: a rule fires once, however often beat
checks it, and its webhook, failing twice before it answers, gets exactly one delivery through the task's real
retries; the admins' email goes out alike.

As in tests/caching/test_beat_integration.py: a file SQLite database shared with the subprocesses, the schedule
shortened to every two seconds, and a bounded wait. The webhook receiver is a thread of this test.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.alerts.conftest import Receiver
from tests.caching.test_beat_integration import BIN, ROOT, redis_url, stop, tail  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

WAIT_SECONDS = 120

SEED = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from agent_platform.models import Membership, Role, Tenant
from agents_app.models import Agent, AgentSession, FoundationModel, Invocation
from alerts.models import AlertRule, Webhook

tenant = Tenant.objects.create(slug="acme", name="Acme")
user = get_user_model().objects.create_user("boss", email="boss@acme.test", password="x", is_staff=True)
Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
agent = Agent.objects.create(
    tenant=tenant, name="Support", system_prompt="Be helpful.", prompt_caching_enabled=True,
    model=FoundationModel.objects.get(model_id="us.anthropic.claude-sonnet-4-6"),
)
session = AgentSession.objects.create(tenant=tenant, agent=agent, session_id="s1")
Invocation.objects.create(
    tenant=tenant, agent=agent, session=session, prompt="hi", status="succeeded", cost_with_cache=Decimal("0.02"),
)
rule = AlertRule.objects.create(tenant=tenant, name="Daily spend", kind="spend_above_budget", budget_period="day",
                                threshold=Decimal("0.01"))
rule.webhooks.add(Webhook.objects.create(tenant=tenant, name="ops", kind="json", url="URL"))

every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
for task in PeriodicTask.objects.filter(task="alerts.tasks.alert_rules_evaluate"):
    task.crontab = None
    task.interval = every_two_seconds
    task.save()
PeriodicTasks.update_changed()
print("seeded", PeriodicTask.objects.filter(task="alerts.tasks.alert_rules_evaluate").count())
"""


def test_beat_fires_once_and_the_webhook_gets_one_delivery_after_two_failures(tmp_path, redis_url):  # noqa: F811
    receiver = Receiver()
    receiver.answers = [500, 502]
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
        "ALERT_DELIVERY_RETRY_BACKOFF": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
    seed = SEED.replace("URL", f"{receiver.base}/hooks/secret-path-123456")
    seeded = subprocess.run(
        [*manage, "shell", "-c", seed], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0 and "seeded 1" in seeded.stdout, seeded.stderr

    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    celery = [str(BIN / "celery"), "-A", "agent_platform"]
    worker = subprocess.Popen(
        [*celery, "worker", "--loglevel=INFO", "--without-gossip", "--without-mingle"],
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
        sent = evaluations = 0
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            assert worker.poll() is None, f"worker exited:\n{tail(worker_log)}"
            assert beat.poll() is None, f"beat exited:\n{tail(beat_log)}"
            with sqlite3.connect(db_path, timeout=20) as db:
                sent = db.execute("SELECT COUNT(*) FROM alerts_alertdelivery WHERE status = 'sent'").fetchone()[0]
            evaluations = worker_log.read_text(errors="replace").count("alerts.tasks.alert_rules_evaluate[")
            if sent == 2 and evaluations >= 6:  # the webhook and the email, and beat kept checking
                break
            time.sleep(1)
        logs = f"worker:\n{tail(worker_log)}\nbeat:\n{tail(beat_log)}"
        assert sent == 2, logs
        with sqlite3.connect(db_path, timeout=20) as db:
            alerts = db.execute("SELECT status FROM alerts_alert").fetchall()
            webhook = db.execute(
                "SELECT attempts, last_error FROM alerts_alertdelivery WHERE channel = 'json'"
            ).fetchone()
        assert alerts == [("firing",)], logs
        assert webhook[0] == 3 and "502" in webhook[1], webhook
        assert [r["status"] for r in receiver.received] == [500, 502, 200]
        assert len(receiver.delivered) == 1 and receiver.delivered[0]["title"] == "[FIRING] Daily spend: tenant Acme"
    finally:
        stop(beat)
        stop(worker)
        receiver.stop()
    worker_output = worker_log.read_text(errors="replace")
    assert "Subject: [FIRING] Daily spend: tenant Acme" in worker_output and "boss@acme.test" in worker_output
    assert "secret-path-123456" not in worker_output
