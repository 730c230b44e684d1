"""The per-tenant cost dashboard: the same figures as GET /api/cache-stats/, tenant choice, access."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from agent_platform.models import Role
from caching.models import CacheReport
from caching.periods import utc_today
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
    assert shown["cost"] == str(Decimal(data["cost_with_cache"]) + Decimal(data["output_cost"])) == data["cost"]
    compared = html.split('id="agent-comparison"')[1].split("</table>")[0]
    by_cost = sorted(data["top_agents"], key=lambda row: -Decimal(row["cost"]))
    assert re.findall(r'/caching/\?period=[a-z0-9]+">([^<]+)</a>', compared) == [r["agent"]["name"] for r in by_cost]
    families = html.split('id="by-family"')[1].split("</table>")[0]
    # Claude (the support agent) and Nova (the helper): the loop below checks both.
    assert {row["family"] for row in data["by_family"]} == {"anthropic-claude", "amazon-nova"}
    for row in data["by_family"]:
        assert f'data-family="{row["family"]}"' in families and f'data-value="{row["net_savings"]}"' in families
    assert html.count('class="bar spend"') == len(data["by_day"])  # the trend chart, a bar per day
    assert html.count("No invocations") == 0


def trend_bars(html: str) -> dict[str, str]:
    """The trend chart's spend per bucket (hour or day), by its label."""
    return dict(re.findall(r'class="bar spend"[^>]*data-bucket="([^"]+)" data-cost="([^"]+)"', html))


@pytest.mark.postgres
def test_two_days_or_fewer_are_shown_by_the_hour(member, tenant, agent):
    seeded = seed_support_agent(agent)  # the clock: today at noon
    y, t = seeded.yesterday.isoformat(), seeded.today.isoformat()

    html = page(member.get(f"{URL}?period=2d"))

    bars = trend_bars(html)
    assert len(bars) == 24 + 13  # every hour of yesterday, and today's up to this one
    # 10:00 yesterday: first, hit and expired (spend = input with cache + output of each).
    assert Decimal(bars[f"{y} 10:00"]) == Decimal("0.0078") + Decimal("0.0015") + Decimal("0.0009") + Decimal(
        "0.00225"
    ) + Decimal("0.0078") + Decimal("0.003")
    assert Decimal(bars[f"{y} 11:00"]) == 0  # only a failed turn: it counts nowhere
    assert Decimal(bars[f"{y} 12:00"]) == Decimal("0.00275")
    assert Decimal(bars[f"{t} 00:00"]) == Decimal("0.004125")
    assert sum(Decimal(v) for v in bars.values()) == Decimal(stat_values(html)["cost"])
    assert "chart-hour" in html and "by hour" in html

    daily = trend_bars(page(member.get(f"{URL}?period=7d")))
    assert len(daily) == 7 and Decimal(daily[t]) == Decimal("0.004125")


@pytest.mark.postgres
def test_filters_narrow_every_figure_to_the_chosen_agents(member, api, tenant, agent):
    seeded = seed_support_agent(agent)
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(seeded.today, 0, 1), input=500, output=20, caching=False)

    by_agent = page(member.get(f"{URL}?period=7d&agent={agent.pk}"))
    by_family = page(member.get(f"{URL}?period=7d&family=amazon-nova"))
    by_model = page(member.get(f"{URL}?period=7d&model={NOVA}"))

    mine = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=7d").json()
    for name in ("total_invocations", "cost", "net_savings", "hit_rate", "cache_read_tokens"):
        assert stat_values(by_agent)[name] == str(mine[name]), name
    for html in (by_family, by_model):
        shown = stat_values(html)
        assert shown["total_invocations"] == "1" and shown["cost"] == "0.001800"  # 500 × 3 + 20 × 15, per million
        compared = html.split('id="agent-comparison"')[1].split("</table>")[0]
        assert "Nova helper" in compared and "Support" not in compared
    assert "caching off" in by_family  # a model that cannot cache: no hit rate of 0 %


def test_a_filter_naming_nothing_of_the_tenant_falls_back_with_a_message(member, tenant, agent, other_agent):
    html = page(member.get(f"{URL}?agent={other_agent.pk}"))
    assert f"No agent &#x27;{other_agent.pk}&#x27; in this tenant." in html and "Showing every agent" in html
    html = page(member.get(f"{URL}?family=nope&model=x"))
    assert "No agent of this tenant runs a model of family" in html


def test_an_empty_period_says_so_once(member, tenant, agent):
    html = page(member.get(URL))
    assert html.count('id="empty-state"') == 1
    assert html.count("No invocations") == 1
    assert 'class="bar spend"' not in html and 'id="agent-comparison"' not in html


def test_links_to_the_scheduled_reports(member, tenant, other_tenant):
    mine = CacheReport.objects.create(tenant=tenant, period_start="2026-01-01", period_end="2026-01-07", stats={})
    theirs = CacheReport.objects.create(
        tenant=other_tenant, period_start="2026-01-01", period_end="2026-01-07", stats={}
    )

    reports = page(member.get(URL)).split('id="reports"')[1]

    assert f"/admin/caching/cachereport/{mine.pk}/change/" in reports
    assert f"/admin/caching/cachereport/{theirs.pk}/change/" not in reports
    assert f"/admin/caching/cachereport/?tenant__id__exact={tenant.pk}" in reports


def test_a_user_of_several_tenants_picks_one_and_the_choice_is_remembered(
    client, tenant, other_tenant, agent, other_agent
):
    login(client, tenant, Role.VIEWER, "multi")
    login(client, other_tenant, Role.MEMBER, "multi")
    add_invocation(other_agent, at(seed_support_agent(agent).today, 1, 0), read=100, input=1)

    acme = page(client.get(URL))  # both have data: the first by name
    globex = page(client.get(f"{URL}?tenant={other_tenant.slug}"))
    again = page(client.get(URL))  # no tenant asked for: the last one chosen

    assert "Cost dashboard: Acme" in acme and 'data-stat="total_invocations" data-value="5"' in acme
    assert "Cost dashboard: Globex" in globex and 'data-stat="total_invocations" data-value="1"' in globex
    assert "Cost dashboard: Globex" in again
    assert f'<option value="{other_tenant.slug}"' in acme  # the tenant picker


def test_the_first_visit_opens_on_a_tenant_with_data(client, tenant, other_tenant, other_agent):
    login(client, tenant, Role.ADMIN, "multi")  # Acme: no invocation at all
    login(client, other_tenant, Role.VIEWER, "multi")
    add_invocation(other_agent, at(utc_today(), 1, 0), read=100, input=1)

    html = page(client.get(URL))

    assert "Cost dashboard: Globex" in html and 'id="empty-state"' not in html


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

    # Login, tenants, the tenant's agents (rows and filter choices), rollups' freshness, live rows, rollup rows,
    # reports, advice...: a fixed number, however many agents. (The first visit also stores the tenant chosen.)
    page(member.get(URL))
    with django_assert_max_num_queries(17):
        html = page(member.get(URL))

    assert 'data-stat="total_invocations" data-value="200"' in html
