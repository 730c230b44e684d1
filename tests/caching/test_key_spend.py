"""Spend and savings by the API key that asked: in /cache-stats, the dashboard and the keys' admin page, from the
per-key rollup for closed days (identical to the raw answer) and live rows for the rest."""

import datetime as dt
import re
from decimal import Decimal

import pytest

from agent_platform.models import Role
from agent_platform.services import api_key_create, member_ensure
from agents_app.models import Invocation
from caching import services
from caching.models import DailyKeyRollup
from caching.periods import Period, utc_today
from caching.stats import tenant_cache_stats
from tests.caching.stats_data import add_invocation, at
from tests.conftest import admin_login, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def keyed(tenant, agent):
    """Two keys and the admin asking, on closed days (rolled up) and today; one key's invocation arrives late."""
    batch, _ = api_key_create(tenant=tenant, name="batch")
    chat, _ = api_key_create(tenant=tenant, name="chat")
    second = make_agent(tenant, name="Second", prompt_caching_enabled=True)
    today = utc_today()
    days = [today - dt.timedelta(days=n) for n in (3, 2, 1)]
    for n, day in enumerate(days):
        for key, a, tokens in ((batch, agent, 1000), (chat, second, 300), (None, agent, 50)):
            add_invocation(a, at(day, 9, n), session=f"{day}-{key}", input=tokens, read=tokens * 4, output=100)
            Invocation.objects.filter(pk=Invocation.objects.latest("pk").pk).update(api_key=key)
    services.rollups_refresh(tenant=tenant, days=days)
    late = add_invocation(agent, at(days[0], 23), session="late", input=7, write=2000, output=5)
    Invocation.objects.filter(pk=late.pk).update(api_key=chat)
    now = add_invocation(second, at(today, 8), session="today", input=9, read=90, output=3)
    Invocation.objects.filter(pk=now.pk).update(api_key=batch)
    return {"batch": batch, "chat": chat}


def by_key(stats):
    return {(item.api_key.name if item.api_key else None): item.totals for item in stats.by_key}


def test_rollups_and_raw_rows_give_the_same_breakdown(tenant, keyed):
    period = Period(utc_today() - dt.timedelta(days=6), utc_today())

    rolled = by_key(tenant_cache_stats(tenant=tenant, period=period))
    raw = by_key(tenant_cache_stats(tenant=tenant, period=period, use_rollups=False))

    assert DailyKeyRollup.objects.filter(tenant=tenant).exists()
    assert set(rolled) == {"batch", "chat", None}
    assert rolled == raw
    assert rolled["batch"].total_invocations == 4 and rolled["chat"].total_invocations == 4
    assert rolled["chat"].cache_write_tokens == 2000  # the late arrival, read live
    total = sum((t.spend for t in rolled.values()), Decimal(0))
    assert total == tenant_cache_stats(tenant=tenant, period=period).stats.totals.spend


def test_cache_stats_api_lists_spend_by_key(api, keyed):
    body = api.get("/api/cache-stats/?period=7d").json()

    rows = {(row["api_key"] or {}).get("name"): row for row in body["by_key"]}
    assert set(rows) == {"batch", "chat", None}
    assert rows["batch"]["api_key"]["prefix"] == keyed["batch"].prefix
    spend = Decimal(rows["batch"]["cost_with_cache"]) + Decimal(rows["batch"]["output_cost"])
    assert Decimal(rows["batch"]["spend"]) == spend and rows["batch"]["total_invocations"] == 4
    # Spend first.
    assert [Decimal(r["spend"]) for r in body["by_key"]] == sorted(
        (Decimal(r["spend"]) for r in body["by_key"]), reverse=True
    )


def test_another_tenant_sees_none_of_your_keys(other_api, keyed):
    assert other_api.get("/api/cache-stats/?period=7d").json()["by_key"] == []


def test_the_dashboard_and_the_keys_admin_show_each_keys_spend(client, tenant, other_tenant, keyed):
    member_ensure(tenant=tenant, username="ada", password="pw-ada-12345", role=Role.ADMIN)
    api_key_create(tenant=other_tenant, name="theirs")
    assert admin_login(client, "ada", "pw-ada-12345")
    stats = by_key(tenant_cache_stats(tenant=tenant, period=Period(utc_today() - dt.timedelta(days=29), utc_today())))

    dashboard = client.get("/admin/caching/dashboard/").content.decode()
    assert 'id="by-key"' in dashboard and keyed["batch"].prefix in dashboard

    page = client.get("/admin/agent_platform/tenantapikey/").content.decode()
    assert f"{(stats['batch'].cost_with_cache + stats['batch'].output_cost).quantize(Decimal('0.000001'))}" in page
    assert "theirs" not in page and "Spend in the period" in page
    week = client.get("/admin/agent_platform/tenantapikey/?spend_period=month").status_code
    assert week == 200


def test_the_dashboards_by_key_table_follows_its_agent_filter(client, tenant, agent, keyed):
    """Filtered to one agent, the by-key table holds only the keys that asked that agent, with that agent's spend."""
    member_ensure(tenant=tenant, username="ada", password="pw-ada-12345", role=Role.ADMIN)
    assert admin_login(client, "ada", "pw-ada-12345")
    period = Period(utc_today() - dt.timedelta(days=6), utc_today())
    expected = by_key(tenant_cache_stats(tenant=tenant, period=period, use_rollups=False, all_agents=True))
    assert set(expected) == {"batch", "chat", None}

    html = client.get(f"/admin/caching/dashboard/?period=7d&agent={agent.pk}").content.decode()
    table = html.split('id="by-key"')[1].split("</table>")[0]
    shown = dict(re.findall(r'<tr data-key="([^"]*)">.*?<td class="num" data-value="([^"]+)"', table, flags=re.S))
    # The agent was asked by the batch key, the admin (no key) and, late, the chat key; never by chat otherwise.
    batch_only = Invocation.objects.filter(agent=agent, api_key=keyed["batch"], status="succeeded")
    spend = sum((i.cost_with_cache + i.output_cost for i in batch_only), Decimal(0))
    assert set(shown) == {keyed["batch"].prefix, keyed["chat"].prefix, ""}
    assert Decimal(shown[keyed["batch"].prefix]) == spend.quantize(Decimal("0.000001"))
