"""Pages queue an agent's cache advice once per period while it is pending, not on every view."""

import datetime as dt
from collections import Counter

import pytest

from caching import tasks
from caching.models import CacheAdvice
from caching.periods import utc_today
from tests.admin.conftest import page
from tests.caching.stats_data import add_invocation, at
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """The advice tasks sent, by (agent, first day, last day): no worker runs them."""
    sent = Counter()
    monkeypatch.setattr(tasks.cache_advice_refresh, "delay", lambda *args: sent.update([args]))
    return sent


@pytest.fixture
def busy_agents(tenant, agent):
    second = make_agent(tenant, name="Second", prompt_caching_enabled=True)
    for n, who in enumerate((agent, second, agent)):
        add_invocation(who, at(utc_today(), 1, n), session=f"s{n}", input=100, read=400, output=10)
    return [agent, second]


def views(client, url, times, capture):
    for _ in range(times):
        with capture(execute=True):
            page(client.get(url))


def test_two_dashboard_views_queue_each_agents_advice_once(
    member, busy_agents, queued, django_capture_on_commit_callbacks
):
    views(member, "/admin/caching/dashboard/?period=30d", 2, django_capture_on_commit_callbacks)

    assert sorted(args[0] for args in queued) == sorted(a.pk for a in busy_agents)
    assert set(queued.values()) == {1}
    assert CacheAdvice.objects.filter(status="pending").count() == 2


def test_the_caching_page_queues_once_and_a_stale_advice_once_more(
    member, busy_agents, queued, django_capture_on_commit_callbacks
):
    agent = busy_agents[0]
    url = f"/admin/agents_app/agent/{agent.pk}/caching/?period=7d"
    views(member, url, 2, django_capture_on_commit_callbacks)
    assert list(queued.values()) == [1]

    # Computed, then a newer invocation arrives: stale, queued once more however often the page is viewed.
    CacheAdvice.objects.filter(agent=agent).update(status="ready", computed_at=at(utc_today(), 1, 30))
    add_invocation(agent, at(utc_today(), 2), session="late", input=100, output=10)
    views(member, url, 3, django_capture_on_commit_callbacks)

    assert list(queued.values()) == [2]
    assert CacheAdvice.objects.get(agent=agent).status == "pending"


def test_a_refresh_lost_for_longer_than_the_requeue_delay_is_sent_again(
    member, busy_agents, queued, django_capture_on_commit_callbacks
):
    url = "/admin/caching/dashboard/?period=30d"
    views(member, url, 1, django_capture_on_commit_callbacks)
    CacheAdvice.objects.update(requested_at=at(utc_today()) - dt.timedelta(hours=1))

    views(member, url, 2, django_capture_on_commit_callbacks)

    assert set(queued.values()) == {2}
