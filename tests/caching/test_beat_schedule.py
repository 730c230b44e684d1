"""The cache schedule ships in a migration as django-celery-beat rows (editable in admin)."""

import pytest
from django_celery_beat.models import PeriodicTask

from agent_platform.celery import app

pytestmark = pytest.mark.django_db


def test_the_migration_ships_the_daily_rollup_and_the_weekly_report():
    tasks = {t.task: t for t in PeriodicTask.objects.select_related("crontab")}

    rollup = tasks["caching.tasks.rollup_cache_stats"]
    report = tasks["caching.tasks.send_cache_reports"]

    assert rollup.enabled and report.enabled
    # Shortly after midnight UTC, every day; Monday morning UTC.
    assert (rollup.crontab.minute, rollup.crontab.hour, rollup.crontab.day_of_week) == ("15", "0", "*")
    assert (report.crontab.minute, report.crontab.hour, report.crontab.day_of_week) == ("0", "7", "1")
    assert str(rollup.crontab.timezone) == str(report.crontab.timezone) == "UTC"


def test_the_scheduled_task_names_are_registered_with_celery():
    app.loader.import_default_modules()

    assert {"caching.tasks.rollup_cache_stats", "caching.tasks.send_cache_reports"} <= set(app.tasks)


def test_admins_see_the_schedule_in_admin(admin_client):
    response = admin_client.get("/admin/django_celery_beat/periodictask/")

    assert response.status_code == 200 and "caching: daily cache rollup" in response.content.decode()
