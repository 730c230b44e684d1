"""The schedules ship in migrations as django-celery-beat rows (editable in admin), under the tasks' names."""

import importlib

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from agent_platform.celery import app

pytestmark = pytest.mark.django_db


def test_the_migration_ships_the_daily_rollup_and_the_weekly_report():
    tasks = {t.task: t for t in PeriodicTask.objects.select_related("crontab")}

    rollup = tasks["caching.tasks.rollups_refresh_all"]
    report = tasks["caching.tasks.cache_reports_create_due"]

    assert rollup.enabled and report.enabled
    # Shortly after midnight UTC, every day; Monday morning UTC.
    assert (rollup.crontab.minute, rollup.crontab.hour, rollup.crontab.day_of_week) == ("15", "0", "*")
    assert (report.crontab.minute, report.crontab.hour, report.crontab.day_of_week) == ("0", "7", "1")
    assert str(rollup.crontab.timezone) == str(report.crontab.timezone) == "UTC"


def test_the_scheduled_task_names_are_registered_with_celery():
    app.loader.import_default_modules()

    assert {"caching.tasks.rollups_refresh_all", "caching.tasks.cache_reports_create_due"} <= set(app.tasks)


def test_admins_see_the_schedule_in_admin(admin_client):
    response = admin_client.get("/admin/django_celery_beat/periodictask/")

    assert response.status_code == 200 and "caching: daily cache rollup" in response.content.decode()


def test_the_sweeper_ships_every_10_seconds_under_its_registered_task_name():
    app.loader.import_default_modules()

    sweeper = PeriodicTask.objects.select_related("interval").get(name="agents: requeue stale invocations")

    assert sweeper.task == "agents_app.tasks.invocations_requeue_stale" and sweeper.task in app.tasks
    # Often enough that a dead worker's turn resumes well within a minute (its lease lapses after 30 s).
    assert (sweeper.interval.every, sweeper.interval.period) == (10, "seconds") and sweeper.enabled


def test_the_sweeper_moves_to_10_seconds_unless_an_admin_changed_its_schedule():
    module = importlib.import_module("agents_app.migrations.0010_invocation_lost_attempts")
    sweeper = PeriodicTask.objects.get(task="agents_app.tasks.invocations_requeue_stale")

    module.backward(django_apps, None)
    assert PeriodicTask.objects.get(pk=sweeper.pk).interval.every == 30
    module.forward(django_apps, None)
    assert PeriodicTask.objects.get(pk=sweeper.pk).interval.every == 10

    PeriodicTask.objects.filter(pk=sweeper.pk).update(
        interval=IntervalSchedule.objects.create(every=2, period="minutes")
    )
    module.backward(django_apps, None)
    module.forward(django_apps, None)
    assert (PeriodicTask.objects.get(pk=sweeper.pk).interval.every, "minutes") == (2, "minutes")


@pytest.mark.parametrize(
    ("migration", "old", "new"),
    [
        (
            "caching.migrations.0005_rename_beat_tasks",
            "caching.tasks.send_cache_reports",
            "caching.tasks.cache_reports_create_due",
        ),
        (
            "agents_app.migrations.0005_rename_sweeper_task",
            "agents_app.tasks.requeue_stale_invocations",
            "agents_app.tasks.invocations_requeue_stale",
        ),
    ],
)
def test_renamed_tasks_follow_in_existing_schedules_and_back(migration, old, new):
    module = importlib.import_module(migration)
    PeriodicTask.objects.filter(task=new).update(task=old)
    every = IntervalSchedule.objects.create(every=5, period="minutes")
    added_by_hand = PeriodicTask.objects.create(name="an admin's own schedule", task=old, interval=every)

    module.forward(django_apps, None)
    added_by_hand.refresh_from_db()
    assert added_by_hand.task == new and not PeriodicTask.objects.filter(task=old).exists()

    module.backward(django_apps, None)
    added_by_hand.refresh_from_db()
    assert added_by_hand.task == old and not PeriodicTask.objects.filter(task=new).exists()
