"""Content retention: prompts, responses and idle conversations go after INVOCATION_CONTENT_RETENTION_DAYS;
every figure stays, so reporting answers the same."""

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from agent_platform.celery import app
from agents_app.models import AgentSession, Invocation
from agents_app.services import retention
from caching.periods import Period, utc_today
from caching.serializers import agent_cache_stats_json
from caching.stats import agent_cache_stats
from tests.agent_platform.test_settings import manage
from tests.caching.stats_data import add_invocation

pytestmark = pytest.mark.django_db

UTC = dt.UTC


@pytest.fixture
def history(agent, clock_at_noon):
    now = timezone.now()
    old = now - dt.timedelta(days=33)  # past the 30 days, within the daily look-back
    made = {
        "old": add_invocation(agent, old, session="old", input=10, read=2000, output=5),
        "old_failed": add_invocation(agent, old, session="old", status=Invocation.Status.FAILED, input=3),
        "old_running": add_invocation(agent, old, session="stuck", status=Invocation.Status.RUNNING, input=4),
        "recent": add_invocation(agent, now - dt.timedelta(days=2), session="recent", input=20, write=2000),
    }
    Invocation.objects.update(response="the answer")
    AgentSession.objects.update(messages=[{"role": "user", "content": [{"text": "hello"}]}])
    AgentSession.objects.filter(session_id__in=["old", "stuck"]).update(last_invoked_at=old)
    AgentSession.objects.filter(session_id="recent").update(last_invoked_at=now - dt.timedelta(days=2))
    return made


def content(invocation):
    invocation.refresh_from_db()
    return invocation.prompt, invocation.response


def test_content_past_the_retention_period_goes_and_the_figures_stay(settings, agent, history):
    settings.INVOCATION_CONTENT_RETENTION_DAYS = 30
    period = Period(utc_today() - dt.timedelta(days=60), utc_today())
    stats = agent_cache_stats_json(agent_cache_stats(tenant=agent.tenant, agent=agent, period=period))
    figures = list(Invocation.objects.order_by("pk").values_list("input_tokens", "net_savings", "status", "queued_at"))

    done = retention.invocation_contents_purge()

    assert done == {"invocations": 2, "sessions": 2}
    assert content(history["old"]) == content(history["old_failed"]) == ("", "")
    assert content(history["old_running"]) == ("hello", "the answer")  # still needs its prompt to run
    assert content(history["recent"]) == ("hello", "the answer")
    assert dict(AgentSession.objects.values_list("session_id", "messages")) == {
        "old": [],
        "stuck": [],
        "recent": [{"role": "user", "content": [{"text": "hello"}]}],
    }
    assert (
        list(Invocation.objects.order_by("pk").values_list("input_tokens", "net_savings", "status", "queued_at"))
        == figures
    )
    assert agent_cache_stats_json(agent_cache_stats(tenant=agent.tenant, agent=agent, period=period)) == stats
    assert retention.invocation_contents_purge() == {"invocations": 0, "sessions": 0}  # nothing left to do


def test_the_daily_run_looks_back_a_few_days_and_the_whole_history_on_request(settings, agent, history):
    settings.INVOCATION_CONTENT_RETENTION_DAYS = 30
    ancient = add_invocation(agent, timezone.now() - dt.timedelta(days=400), session="ancient", input=1)

    retention.invocation_contents_purge()
    assert content(ancient) == ("hello", "")

    retention.invocation_contents_purge(whole_history=True)
    assert content(ancient) == ("", "")


def test_retention_off_keeps_everything(settings, history):
    settings.INVOCATION_CONTENT_RETENTION_DAYS = 0

    assert retention.invocation_contents_purge(whole_history=True) == {"invocations": 0, "sessions": 0}
    assert content(history["old"]) == ("hello", "the answer")


def test_the_beat_task_purges_on_the_housekeeping_queue(settings, history):
    settings.INVOCATION_CONTENT_RETENTION_DAYS = 30
    app.loader.import_default_modules()
    from agents_app.tasks import invocation_contents_purge

    scheduled = PeriodicTask.objects.select_related("crontab").get(name="agents: invocation content retention")

    assert scheduled.task == "agents_app.tasks.invocation_contents_purge" and scheduled.task in app.tasks
    assert (scheduled.crontab.minute, scheduled.crontab.hour) == ("45", "1") and scheduled.enabled
    assert app.amqp.router.route({}, scheduled.task)["queue"].name == "maintenance"
    assert invocation_contents_purge.apply().get() == {"invocations": 2, "sessions": 2}
    assert content(history["old"]) == ("", "")


def test_the_partition_upkeep_ships_daily_on_the_housekeeping_queue():
    app.loader.import_default_modules()

    scheduled = PeriodicTask.objects.get(name="agents: invocation partitions")

    assert scheduled.task == "agents_app.tasks.invocation_partitions_ensure" and scheduled.task in app.tasks
    assert app.amqp.router.route({}, scheduled.task)["queue"].name == "maintenance"


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_bad_retention_setting_stops_start_up(tmp_path, value):
    result = manage("check", DATA_DIR=str(tmp_path), INVOCATION_CONTENT_RETENTION_DAYS=value)

    assert result.returncode != 0 and "INVOCATION_CONTENT_RETENTION_DAYS" in result.stderr
