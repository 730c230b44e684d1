"""The agent's caching page: the same figures as GET /api/agents/{id}/cache-stats/, the toggle, sessions, roles."""

import re

import pytest
from django.utils import timezone

from agents_app.models import Deployment
from caching.periods import utc_today
from tests.admin.conftest import page, stat_values
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import NOVA, make_agent

pytestmark = pytest.mark.django_db


def url(agent, suffix="caching/"):
    return f"/admin/agents_app/agent/{agent.pk}/{suffix}"


@pytest.mark.parametrize("period", ["7d", "30d", "all"])
def test_figures_are_the_cache_stats_apis(member, api, agent, period):
    seed_support_agent(agent)

    html = page(member.get(url(agent) + f"?period={period}"))
    data = api.get(f"/api/agents/{agent.pk}/cache-stats/?period={period}").json()

    shown = stat_values(html)
    for name in ("hit_rate", "cache_read_tokens", "gross_savings", "net_savings", "write_premium", "total_invocations"):
        assert shown[name] == str(data[name]), name
    assert "$0.0108" in html and "$0.007425" in html and "50.0%" in html  # gross, net, hit rate as shown
    for row in data["by_period"].values():
        assert f'data-value="{row["net_savings"]}"' in html


def test_days_past_the_calendars_end_fall_back_with_a_message(member, agent):
    html = page(member.get(url(agent) + "?from=9999-12-30&to=9999-12-31"))
    assert "must be a day no later than 9999-12-30" in html and "Showing the last 30 days" in html


BAR = r'<rect class="bar spend"[^>]*data-bucket="([0-9: -]+)" data-cost="([^"]+)" data-net-savings="([^"]+)"'


def test_chart_has_a_bar_per_day_of_the_period(member, agent):
    seeded = seed_support_agent(agent)
    html = page(member.get(url(agent) + "?period=7d"))
    bars = re.findall(BAR, html)
    assert len(bars) == 7
    # Yesterday: spend = input with cache 0.0185 + output 0.0075; net savings 0.0024.
    assert (seeded.yesterday.isoformat(), "0.026000", "0.002400") in bars


def test_a_period_of_two_days_or_less_is_charted_by_the_hour(member, agent):
    seeded = seed_support_agent(agent)  # the clock: noon
    html = page(member.get(url(agent) + "?period=1d"))
    bars = re.findall(BAR, html)
    assert len(bars) == 13 and "Hourly spend" in html  # today's hours up to this one
    assert (f"{seeded.today} 00:00", "0.004125", "0.005025") in bars


def test_spend_leads_and_adds_up(member, api, agent):
    seed_support_agent(agent)
    html = page(member.get(url(agent) + "?period=7d"))
    data = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=7d").json()
    shown = stat_values(html)
    assert shown["cost"] == data["cost"] == "0.030125"  # input with cache 0.021125 + output 0.009
    assert html.index('data-stat="cost"') < html.index('data-stat="net_savings"')


def test_a_nova_agents_page_shows_spend_and_says_caching_is_unavailable(member, api, tenant):
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(utc_today(), 1, 0), input=500, output=20, caching=False)
    add_invocation(nova, at(utc_today(), 1, 5), input=700, output=40, caching=False)

    html = page(member.get(url(nova)))

    shown = stat_values(html)
    assert shown["cost"] == "0.004500"  # (1200 × 3 + 60 × 15) / 1e6 with the test prices
    assert shown["total_invocations"] == "2"
    assert "hit_rate" not in shown and "net_savings" not in shown  # no zeros that look like a failed cache
    assert 'id="caching-unavailable"' in html
    assert "Caching is unavailable: Nova Pro does not support prompt caching" in html
    assert 'id="miss-reasons"' not in html


def test_the_figures_partial_is_the_pages_stats_and_sessions(member, agent, other_agent):
    seed_support_agent(agent)
    full = page(member.get(url(agent) + "?period=7d"))
    assert f'data-refresh-url="/admin/agents_app/agent/{agent.pk}/caching/figures/?period=7d"' in full

    part = page(member.get(url(agent, "caching/figures/") + "?period=7d"))

    assert 'id="cache-stats"' in part and 'id="sessions"' in part and 'id="invoke-panel"' not in part
    assert stat_values(part) == stat_values(full)
    assert member.get(url(other_agent, "caching/figures/")).status_code == 404


def test_sessions_table_shows_cached_vs_uncached_tokens(member, agent):
    seed_support_agent(agent)
    html = page(member.get(url(agent)))
    s1 = html.split('data-session-id="s1"')[1].split("</tr>")[0]
    # s1: reads 2000; uncached = input 300 + writes 4000.
    assert 'data-stat="cached_tokens">2,000<' in s1
    assert 'data-stat="uncached_tokens">4,300<' in s1
    assert "31.7%" in s1  # 2000 / 6300
    assert "cache expired" in s1  # between two turns


def test_recent_deployments_are_listed(member, tenant, agent):
    config = {"prompt_caching_enabled": True}
    Deployment.objects.create(tenant=tenant, agent=agent, version=1, config=config, backend="local", status="deployed")
    Deployment.objects.create(
        tenant=tenant,
        agent=agent,
        version=2,
        config=config,
        backend="local",
        finished_at=timezone.now(),
        status="superseded",
    )
    Deployment.objects.create(tenant=tenant, agent=agent, version=3, config=config, backend="local")

    deployments = page(member.get(url(agent))).split('id="deployments"')[1]

    statuses = re.findall(r'data-version="(\d+)"[^>]*>.*?class="deploy-status">(\w+)<', deployments, re.S)
    assert statuses == [("3", "pending"), ("2", "superseded"), ("1", "deployed")]
    # v1 is what runs until v3 is deployed: marked current, in the admin's list too.
    assert re.findall(r'data-version="(\d+)" data-current="true"', deployments) == ["1"]
    listed = page(member.get(f"/admin/agents_app/deployment/?agent__id__exact={agent.pk}"))
    assert listed.count('class="current-badge"') == 1 and "superseded" in listed


def test_the_pages_links_open_scoped_lists(member, agent, other_agent):
    seed_support_agent(agent)
    session = agent.sessions.get(session_id="s1")
    html = page(member.get(url(agent)))
    linked = [
        f"/admin/agents_app/invocation/?session__id__exact={session.pk}",
        f"/admin/agents_app/invocation/?agent__id__exact={agent.pk}",
        f"/admin/agents_app/deployment/?agent__id__exact={agent.pk}",
    ]
    for link in linked:
        assert f'href="{link}"' in html, link
    for link in [*linked, f"/admin/agents_app/agentsession/?agent__id__exact={agent.pk}"]:
        assert member.get(link).status_code == 200, link  # the admin allows these lookups
    assert other_agent.name not in page(member.get(f"/admin/agents_app/invocation/?agent__id__exact={other_agent.pk}"))


def test_member_toggles_caching_and_a_deployment_follows(member, tenant, commit):
    quiet = make_agent(tenant, name="Quiet", prompt_caching_enabled=False)
    assert "Turn caching on" in page(member.get(url(quiet)))

    with commit():
        response = member.post(url(quiet, "caching/toggle/"), {"caching": "on"}, follow=True)

    html = page(response)
    assert "Prompt caching set to on for 1 agent (Quiet); 1 redeploy queued." in html
    quiet.refresh_from_db()
    assert quiet.prompt_caching_enabled is True
    deployment = Deployment.objects.get(agent=quiet)
    assert deployment.config["prompt_caching_enabled"] is True
    assert "Turn caching off" in html and 'data-effective="true"' in html
    assert 'title="Prompt caching enabled"' in html  # the badge


def test_turning_caching_on_for_a_model_that_cannot_cache_is_refused(member, tenant):
    nova = make_agent(tenant, NOVA, name="Nova", prompt_caching_enabled=False)
    html = page(member.get(url(nova)))
    assert "Nova Pro does not support prompt caching" in html
    button = re.search(r'<button[^>]*id="caching-toggle-button"[^>]*>', html, re.S).group(0)
    assert "disabled" in button

    response = member.post(url(nova, "caching/toggle/"), {"caching": "on"}, follow=True)

    assert "does not support prompt caching" in page(response)
    nova.refresh_from_db()
    assert nova.prompt_caching_enabled is False
    assert not Deployment.objects.filter(agent=nova).exists()


def test_toggle_needs_post_and_csrf(client, tenant, agent):
    from tests.admin.conftest import login

    login(client, tenant, "member", "mia")
    assert client.get(url(agent, "caching/toggle/")).status_code == 405
    client.handler.enforce_csrf_checks = True
    assert client.post(url(agent, "caching/toggle/"), {"caching": "off"}).status_code == 403
    agent.refresh_from_db()
    assert agent.prompt_caching_enabled is True


def test_viewer_sees_the_page_but_cannot_toggle(viewer, agent):
    html = page(viewer.get(url(agent)))
    button = re.search(r'<button[^>]*id="caching-toggle-button"[^>]*>', html, re.S).group(0)
    assert "disabled" in button and "Viewers cannot change caching" in button
    assert 'id="invoke-form"' not in html and "viewers cannot invoke" in html

    assert viewer.post(url(agent, "caching/toggle/"), {"caching": "off"}).status_code == 403
    agent.refresh_from_db()
    assert agent.prompt_caching_enabled is True


def test_staff_of_another_tenant_cannot_open_it(outsider, agent):
    assert outsider.get(url(agent)).status_code == 404
    assert outsider.post(url(agent, "caching/toggle/"), {"caching": "off"}).status_code == 404
    agent.refresh_from_db()
    assert agent.prompt_caching_enabled is True


def test_change_page_links_the_caching_page(member, agent):
    html = page(member.get(f"/admin/agents_app/agent/{agent.pk}/change/"))
    assert f'href="/admin/agents_app/agent/{agent.pk}/caching/"' in html
    assert 'id="invoke-form"' in html  # the invoke panel is on the agent page too


def test_caching_page_queries_do_not_grow_with_sessions(member, agent, django_assert_max_num_queries):
    seeded = seed_support_agent(agent)
    for index in range(60):
        add_invocation(agent, at(seeded.today, 0, index % 60), session=f"bulk-{index}", input=10, read=2000, output=5)
        Deployment.objects.create(tenant=agent.tenant, agent=agent, version=index + 1, config={}, backend="local")

    # (The first view also stores the agent's pending cache advice, the marker that its refresh is queued; the
    # figures read the rollups' version, hour markers and hourly rollups besides the daily ones, and the
    # sessions' own ids apart from their invocations.)
    with django_assert_max_num_queries(24):
        html = page(member.get(url(agent)))

    assert html.count("data-session-id=") == 20
