"""Cost, savings and hit-rate columns of the agents, sessions and invocations lists: the API's figures, sortable,
scoped, and a fixed number of queries for a page of 100 rows."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_app.models import AgentSession, Invocation
from caching.periods import utc_today
from tests.admin.conftest import PASSWORD, page
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import NOVA, admin_login, make_agent

# The columns are SQL (subqueries, casts, sorting by expressions): `make test` runs them on PostgreSQL too.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

AGENTS = "/admin/agents_app/agent/"
SESSIONS = "/admin/agents_app/agentsession/"
INVOCATIONS = "/admin/agents_app/invocation/"


def cells(html: str, row_text: str) -> dict[str, str]:
    """The cells of the result row containing `row_text`, by column name (`field-<name>` classes)."""
    for row in html.split('id="result_list"')[1].split("<tr")[2:]:
        if row_text in row:
            found = re.findall(r'class="field-([a-z_]+)[^"]*"[^>]*>(.*?)</t[dh]>', row, re.DOTALL)
            return {name: re.sub(r"<[^>]+>", "", value).strip() for name, value in found}
    raise AssertionError(f"no row with {row_text!r}")


def sort_link(html: str, column: str) -> str:
    """The `?o=...` that sorts the list by `column` (ascending first)."""
    header = html.split(f"column-{column}")[1].split("</th>")[0]
    return re.search(r'href="(\?o=[^"]+)"', header)[1]


def queries_for(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        html = page(client.get(url))
    return len(queries), html


# --- Agents ----------------------------------------------------------------------------------------


def test_agent_columns_are_the_cache_stats_apis_over_30_days(member, api, tenant, agent):
    seed_support_agent(agent)
    add_invocation(agent, at(utc_today() - dt.timedelta(days=30), 9), session="old", input=10**6, output=10)
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(utc_today(), 1), input=500, output=20, caching=False)

    html = page(member.get(AGENTS))

    data = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=30d").json()
    support = cells(html, ">Support<")
    assert support["agent_cost"] == "$0.030125" and data["cost"] == "0.030125"  # the day 30 days ago is out
    assert support["agent_net_savings"] == "$0.007425" == f"${Decimal(data['net_savings']).normalize()}"
    assert support["agent_hit_rate"] == "50.0%" and data["hit_rate"] == 0.5
    helper = cells(html, ">Nova helper<")
    assert helper["agent_cost"] == "$0.0018" and helper["agent_hit_rate"] == "-"  # caching off: no rate
    assert "Cost, 30 days" in html


def test_agents_sort_by_cost(member, tenant):
    for name, tokens in (("Cheap", 100), ("Dear", 10_000), ("Middling", 1_000)):
        add_invocation(make_agent(tenant, name=name), at(utc_today(), 1), input=tokens, caching=False)
    make_agent(tenant, name="Idle")

    listed = page(member.get(AGENTS))
    html = page(member.get(AGENTS + sort_link(listed, "agent_cost")))

    names = re.findall(r'class="field-name"><a href="[^"]+">([^<]+)</a>', html)
    assert names == ["Idle", "Cheap", "Middling", "Dear"]


def test_agents_sort_by_hit_rate_and_savings_across_pages_within_the_filters(member, tenant, other_tenant):
    from django.contrib import admin

    from agents_app.models import Agent

    # Hit rates: none (caching off), 0 %, 50 %, 100 %; another tenant's agent is never listed.
    for name, hits in (("Zero", [False]), ("Half", [True, False]), ("Full", [True])):
        agent = make_agent(tenant, name=name, prompt_caching_enabled=True)
        for n, hit in enumerate(hits):
            add_invocation(agent, at(utc_today(), 1, n), session=f"{name}{n}", input=10, read=1000 if hit else 0)
    add_invocation(make_agent(tenant, NOVA, name="Off"), at(utc_today(), 1), input=10, caching=False)
    add_invocation(make_agent(other_tenant, name="Theirs"), at(utc_today(), 1), input=10, read=5000)
    listed = page(member.get(AGENTS))
    link = sort_link(listed, "agent_hit_rate")

    def names(url):
        return re.findall(r'class="field-name"><a href="[^"]+">([^<]+)</a>', page(member.get(url)))

    assert names(AGENTS + link) == ["Off", "Zero", "Half", "Full"]  # no rate ("-") below 0 %
    assert names(AGENTS + link.replace("o=", "o=-")) == ["Full", "Half", "Zero", "Off"]
    savings_desc = sort_link(listed, "agent_net_savings").replace("o=", "o=-")
    model_admin = admin.site._registry[Agent]
    model_admin.list_per_page, per_page = 2, model_admin.list_per_page
    try:
        first, second = names(AGENTS + savings_desc), names(AGENTS + savings_desc + "&p=2")
        caching_only = names(AGENTS + savings_desc + "&caching=on")
    finally:
        model_admin.list_per_page = per_page
    assert first + second == ["Full", "Half", "Off", "Zero"]  # Full and Half each read 1,000 tokens; ties by name
    assert "Theirs" not in first + second and "Off" not in caching_only


@pytest.mark.parametrize("order", ["", "&o=8.1"])  # as first shown, and sorted by cost
def test_a_searched_list_counts_the_whole_list_apart(member, tenant, agent, order):
    make_agent(tenant, name="Billing")

    html = page(member.get(f"{AGENTS}?q=Support{order}"))

    assert re.search(r"1 result\s*\(<a[^>]*>2 total</a>\)", html), html.split('id="changelist-search"')[1][:800]


def test_a_superuser_tells_same_named_agents_of_two_tenants_apart(client, tenant, other_tenant):
    make_agent(tenant, name="Support")
    make_agent(other_tenant, name="Support")
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    admin_login(client, "root", PASSWORD)

    html = page(client.get(AGENTS))
    assert "column-tenant" in html and f"tenant__id__exact={other_tenant.pk}" in html  # the column and filter
    rows = [cells(html, ">Acme<"), cells(html, ">Globex<")]
    assert [row["name"] for row in rows] == ["Support", "Support"]

    only_globex = page(client.get(f"{AGENTS}?tenant__id__exact={other_tenant.pk}"))
    results = only_globex.split('id="result_list"')[1].split("</table>")[0]
    assert ">Acme<" not in results and ">Globex<" in results


def test_one_tenants_staff_get_neither_tenant_column_nor_filter(member, tenant, other_tenant, agent):
    html = page(member.get(AGENTS))
    assert "column-tenant" not in html and "tenant__id__exact" not in html


def test_agents_list_of_100_costs_a_fixed_number_of_queries(member, tenant):
    def grow(count):
        for n in range(AgentCount.n, count):
            agent = make_agent(tenant, name=f"agent {n:03}", prompt_caching_enabled=True)
            add_invocation(agent, at(utc_today(), 1), session=f"s{n}", input=100, read=2000, output=10)
        AgentCount.n = count

    class AgentCount:
        n = 0

    grow(10)
    few, _ = queries_for(member, AGENTS)
    grow(100)
    many, html = queries_for(member, AGENTS)

    assert many == few <= 15  # the list's own (one count), plus one read of the cache-stats engine for the page
    assert html.count('class="field-agent_cost"') == 100 and cells(html, ">agent 042<")["agent_cost"] == "$0.00105"


# --- Sessions --------------------------------------------------------------------------------------


def test_session_columns_are_the_sessions_apis(member, api, agent):
    seed_support_agent(agent)

    html = page(member.get(SESSIONS))

    api_rows = {row["session_id"]: row for row in api.get(f"/api/agents/{agent.pk}/sessions/").json()["results"]}
    s1 = cells(html, ">s1<")
    # s1: first, hit and expired succeeded (the failed turn counts nowhere): input with cache 0.0165, output 0.00675.
    assert s1["session_turns"] == "3" == str(api_rows["s1"]["invocations"])
    assert s1["session_cost"] == "$0.02325" and Decimal(api_rows["s1"]["cost"]) == Decimal("0.02325")
    assert s1["session_net_savings"] == "$0.0024"
    assert s1["session_cached_ratio"] == "31.7%" and api_rows["s1"]["efficiency_ratio"] == 0.31746
    assert s1["session_hit_rate"] == "33.3%"  # one hit of three turns with caching on
    assert cells(html, ">s3<")["session_hit_rate"] == "-"  # caching off
    total_input = sum(api_rows["s1"][k] for k in ("input_tokens", "cache_read_tokens", "cache_write_tokens"))
    assert s1["session_tokens"] == f"{total_input:,} / {api_rows['s1']['output_tokens']:,}" == "6,300 / 450"
    assert cells(html, ">s3<")["session_cached_ratio"] == "0.0%"


def test_sessions_list_of_100_costs_a_fixed_number_of_queries_and_sorts_by_cost(member, agent, other_agent):
    for n in range(100):
        add_invocation(agent, at(utc_today(), 1, n % 60), session=f"s{n:03}", input=100 + n, read=2000, output=10)
    add_invocation(other_agent, at(utc_today(), 2), session="theirs", input=5)
    AgentSession.objects.create(tenant=agent.tenant, agent=agent, session_id="no turns yet")

    count, html = queries_for(member, SESSIONS)
    dearest = page(member.get(SESSIONS + sort_link(html, "session_cost").replace("o=", "o=-")))

    assert count <= 10 and html.count('class="field-session_cost"') == 100  # one count: nothing filters the list
    assert "theirs" not in html
    assert cells(html, ">no turns yet<")["session_cost"] == "$0.00"
    first = dearest.split('id="result_list"')[1].split("<tr")[2]
    assert ">s099<" in first
    with CaptureQueriesContext(connection) as ten:
        page(member.get(SESSIONS + "?p=2"))  # the last page: 1 row, same queries
    assert len(ten) == count


# --- Invocations -----------------------------------------------------------------------------------


def test_invocation_columns_show_each_rows_cost_and_saving(member, agent):
    seeded = seed_support_agent(agent)
    hit = seeded.invocations["hit"]

    html = page(member.get(INVOCATIONS))

    row = cells(html, f">{hit.pk}<")
    assert row["invocation_cost"] == "$0.00315"  # input with cache 0.0009 + output 0.00225
    assert row["invocation_net_savings"] == "$0.0054"
    uncached = cells(html, f">{seeded.invocations['uncached'].pk}<")
    assert uncached["invocation_cost"] == "$0.00275" and uncached["invocation_net_savings"] == "$0.00"


def test_invocations_list_of_100_costs_a_fixed_number_of_queries(member, agent):
    for n in range(100):
        add_invocation(agent, at(utc_today(), 1, n % 60), session=f"s{n % 7}", input=100, read=n, output=10)
    count, html = queries_for(member, INVOCATIONS)
    by_cost = page(member.get(INVOCATIONS + sort_link(html, "invocation_cost")))

    assert count <= 10 and html.count('class="field-invocation_cost"') == 100
    assert Invocation.objects.count() == 100
    first = by_cost.split('id="result_list"')[1].split("<tr")[2]
    cheapest = Invocation.objects.order_by("cost_with_cache", "pk").first()
    assert f">{cheapest.pk}<" in first


def test_agents_figures_from_rollups_equal_the_rows_own_sums(tenant, agent):
    from agents_app import admin_spend
    from caching import services, trends

    seeded = seed_support_agent(agent)
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(seeded.yesterday, 3), input=500, output=20, caching=False)
    services.rollup_day(tenant=tenant, day=seeded.yesterday)  # yesterday from rollups, today live
    day_to = utc_today()
    day_from = day_to - dt.timedelta(days=admin_spend.SPEND_DAYS - 1)

    agent_tenants = {agent.pk: agent.tenant_id, nova.pk: nova.tenant_id}
    from_rollups = trends.agents_spend(agent_tenants, day_from, day_to)
    from_rows = admin_spend.agent_spend_from_rows(agent_tenants, day_from, day_to)

    assert from_rollups == from_rows
    assert from_rows[agent.pk].hit_rate == 0.5 and from_rows[nova.pk].hit_rate is None
