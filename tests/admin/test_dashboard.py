"""The per-tenant cost dashboard: the same figures as GET /api/cache-stats/, tenant choice, access."""

import re

import pytest
from django.contrib.auth import get_user_model

from agent_platform.models import Role
from caching.models import CacheReport
from tests.admin.conftest import login, page, stat_values
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import NOVA, admin_login, make_agent

pytestmark = pytest.mark.django_db

URL = "/admin/caching/dashboard/"


@pytest.mark.parametrize("period", ["7d", "30d"])
def test_figures_are_the_tenant_cache_stats_apis(member, api, tenant, agent, period):
    seeded = seed_support_agent(agent)
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(seeded.today, 0, 1), input=500, output=20, caching=False)

    html = page(member.get(f"{URL}?period={period}"))
    data = api.get(f"/api/cache-stats/?period={period}").json()

    shown = stat_values(html)
    for name in (
        "total_invocations",
        "cost_with_cache",
        "cost_without_cache",
        "output_cost",
        "net_savings",
        "gross_savings",
        "write_premium",
        "hit_rate",
        "cache_read_tokens",
        "efficiency_ratio",
    ):
        assert shown[name] == str(data[name]), name
    top = html.split('id="top-agents"')[1].split("</table>")[0]
    assert [row["agent"]["name"] for row in data["top_agents"]] == re.findall(r'/caching/">([^<]+)</a>', top)
    families = html.split('id="by-family"')[1].split("</table>")[0]
    # Claude (the support agent) and Nova (the helper): the loop below checks both.
    assert {row["family"] for row in data["by_family"]} == {"anthropic-claude", "amazon-nova"}
    for row in data["by_family"]:
        assert f'data-family="{row["family"]}"' in families and f'data-value="{row["net_savings"]}"' in families
    assert html.count('<rect class="bar"') >= len(data["by_day"])  # the daily chart (and the bar lists)


def test_links_to_the_scheduled_reports(member, tenant, other_tenant):
    mine = CacheReport.objects.create(tenant=tenant, period_start="2026-01-01", period_end="2026-01-07", stats={})
    theirs = CacheReport.objects.create(
        tenant=other_tenant, period_start="2026-01-01", period_end="2026-01-07", stats={}
    )

    reports = page(member.get(URL)).split('id="reports"')[1]

    assert f"/admin/caching/cachereport/{mine.pk}/change/" in reports
    assert f"/admin/caching/cachereport/{theirs.pk}/change/" not in reports
    assert f"/admin/caching/cachereport/?tenant__id__exact={tenant.pk}" in reports


def test_a_user_of_several_tenants_picks_one(client, tenant, other_tenant, agent, other_agent):
    login(client, tenant, Role.VIEWER, "multi")
    login(client, other_tenant, Role.MEMBER, "multi")
    add_invocation(other_agent, at(seed_support_agent(agent).today, 1, 0), read=100, input=1)

    acme = page(client.get(URL))  # the first by name
    globex = page(client.get(f"{URL}?tenant={other_tenant.slug}"))

    assert "Cost dashboard: Acme" in acme and 'data-stat="total_invocations" data-value="5"' in acme
    assert "Cost dashboard: Globex" in globex and 'data-stat="total_invocations" data-value="1"' in globex
    assert f'<option value="{other_tenant.slug}"' in acme  # the tenant picker


def test_another_tenants_dashboard_is_not_found(member, other_tenant):
    assert member.get(f"{URL}?tenant={other_tenant.slug}").status_code == 404


def test_staff_without_a_tenant_is_refused_and_anonymous_is_sent_to_login(client, tenant):
    assert client.get(URL).status_code == 302
    get_user_model().objects.create_user("nobody", password="pw-123-secret", is_staff=True)
    admin_login(client, "nobody", "pw-123-secret")
    assert client.get(URL).status_code == 403


def test_viewer_sees_the_dashboard_and_the_index_links_it(viewer):
    page(viewer.get(URL))
    assert 'href="/admin/caching/dashboard/"' in page(viewer.get("/admin/"))
    assert 'href="/admin/caching/dashboard/"' in page(viewer.get("/admin/caching/"))


def test_a_bad_period_falls_back_with_a_message(member):
    html = page(member.get(f"{URL}?period=century"))
    assert "Unknown period" in html and "Showing the last 30 days" in html


def test_the_forms_empty_fields_are_left_out(member):
    html = page(member.get(f"{URL}?period=&from=&to="))
    assert 'class="error"' not in html and "Last 30 days" in html


def test_days_past_the_calendars_end_fall_back_with_a_message(member):
    html = page(member.get(f"{URL}?from=9999-12-30&to=9999-12-31"))
    assert "must be a day no later than 9999-12-30" in html and "Showing the last 30 days" in html


def test_dashboard_queries_do_not_grow_with_agents(member, tenant, django_assert_max_num_queries):
    for index in range(40):
        agent = make_agent(tenant, name=f"agent {index:02}", prompt_caching_enabled=True)
        seed_support_agent(agent)

    with django_assert_max_num_queries(16):
        html = page(member.get(URL))

    assert 'data-stat="total_invocations" data-value="200"' in html
