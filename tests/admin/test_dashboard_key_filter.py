"""The cost dashboard's API-key filter: every figure is the sum over the invocations that key (or no key) asked for,
equal to the raw sums of the invocation rows, by hour too where two keys asked one agent in the same hour."""

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal

import pytest

from agent_platform.services import api_key_create
from agents_app.models import Invocation
from caching import services
from caching.periods import utc_today
from pricing.costs import MONEY_FIELDS, money_figures, spend_shown
from tests.admin.conftest import page, stat_values
from tests.admin.test_dashboard import trend_bars
from tests.caching.stats_data import add_invocation, at
from tests.conftest import make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

URL = "/admin/caching/dashboard/"


@pytest.fixture
def keyed(tenant, agent):
    """Yesterday (rolled up) and today: the batch and chat keys ask `agent` in the same hour, the admin too."""
    batch, _ = api_key_create(tenant=tenant, name="batch")
    chat, _ = api_key_create(tenant=tenant, name="chat")
    second = make_agent(tenant, name="Second", prompt_caching_enabled=True)
    today = utc_today()
    yesterday = today - dt.timedelta(days=1)
    asked = [
        (batch, agent, at(yesterday, 10, 5), 1000),
        (chat, agent, at(yesterday, 10, 20), 300),
        (None, agent, at(yesterday, 10, 40), 50),
        (chat, second, at(yesterday, 10, 50), 70),
        (batch, agent, at(yesterday, 15, 0), 11),
        (batch, second, at(today, 0, 1), 9),
        (chat, agent, at(today, 0, 2), 13),
        (None, second, at(today, 0, 3), 17),
    ]
    for n, (key, who, when, tokens) in enumerate(asked):
        made = add_invocation(who, when, session=f"s{n}", input=tokens, read=tokens * 4, write=n * 10, output=100)
        Invocation.objects.filter(pk=made.pk).update(api_key=key)
    services.rollups_refresh(tenant=tenant, days=[yesterday])
    return {"batch": batch, "chat": chat, "agent": agent, "second": second}


def raw(grain="hour", **filters):
    """Spend as shown (each sum rounded once) per hour or day, per agent and in all, from the invocation rows."""
    rows = Invocation.objects.filter(status=Invocation.Status.SUCCEEDED, **filters)
    buckets, agents, total = defaultdict(Sums), defaultdict(Sums), Sums()
    for row in rows:
        label = row.queued_at.strftime("%Y-%m-%d %H:00" if grain == "hour" else "%Y-%m-%d")
        for sums in (buckets[label], agents[row.agent.name], total):
            sums.add(row)
    shown = {label: sums.shown for label, sums in buckets.items()}
    return shown, {name: sums.shown for name, sums in agents.items()}, rows.count(), total.shown


class Sums(dict):
    """The money columns summed, and their spend as every page shows it (rounded once, the rest derived)."""

    def add(self, row):
        for name in MONEY_FIELDS:
            self[name] = self.get(name, Decimal(0)) + getattr(row, name)

    @property
    def shown(self) -> Decimal:
        return Decimal(spend_shown(money_figures(self)))


def by_key_rows(html: str) -> dict[str, Decimal]:
    table = html.split('id="by-key"')[1].split("</table>")[0]
    found = re.findall(r'<tr data-key="([^"]*)">.*?<td class="num" data-value="([^"]+)"', table, flags=re.S)
    return {prefix: Decimal(value) for prefix, value in found}


def agent_rows(html: str) -> dict[str, Decimal]:
    table = html.split('id="agent-comparison"')[1].split("</table>")[0]
    found = re.findall(r'caching/\?period=\w+">([^<]+)</a>.*?class="num cost" data-value="([^"]+)"', table, re.S)
    return {name: Decimal(value) for name, value in found}


@pytest.mark.parametrize("key_name", ["batch", "chat", "none"])
def test_every_figure_of_a_two_day_period_follows_the_key(member, keyed, key_name):
    key = keyed.get(key_name)
    hours, agents, count, total = raw(api_key=key)
    assert len(hours) >= 2 and count >= 2

    html = page(member.get(f"{URL}?period=2d&key={key.prefix if key else 'none'}"))

    shown = stat_values(html)
    assert int(shown["total_invocations"]) == count
    assert Decimal(shown["cost"]) == total
    bars = {label: Decimal(value) for label, value in trend_bars(html).items()}
    assert {label: value for label, value in bars.items() if value} == hours
    assert agent_rows(html) == agents
    assert by_key_rows(html) == {(key.prefix if key else ""): total}
    assert "selected>" in html.split('id="id_key"')[1].split("</select>")[0]


def test_the_key_and_agent_filters_combine(member, keyed):
    hours, agents, count, _ = raw(api_key=keyed["chat"], agent=keyed["agent"])
    assert count == 2  # yesterday 10:00 (with the batch key's and the admin's in the same hour) and today

    html = page(member.get(f"{URL}?period=2d&key={keyed['chat'].prefix}&agent={keyed['agent'].pk}"))

    bars = {label: Decimal(value) for label, value in trend_bars(html).items() if Decimal(value)}
    assert bars == hours and agent_rows(html) == agents
    assert stat_values(html)["total_invocations"] == "2"


def test_daily_figures_follow_the_key_too(member, keyed):
    days, agents, count, total = raw("day", api_key=keyed["batch"])

    html = page(member.get(f"{URL}?period=7d&key={keyed['batch'].prefix}"))

    assert int(stat_values(html)["total_invocations"]) == count and agent_rows(html) == agents
    assert Decimal(stat_values(html)["cost"]) == total
    assert {label: Decimal(v) for label, v in trend_bars(html).items() if Decimal(v)} == days


def test_a_key_of_another_tenant_or_none_at_all_falls_back_with_a_message(member, keyed, other_tenant):
    theirs, _ = api_key_create(tenant=other_tenant, name="theirs")
    everything = stat_values(page(member.get(f"{URL}?period=2d")))

    for value in (theirs.prefix, "nokey123"):
        html = page(member.get(f"{URL}?period=2d&key={value}"))
        assert f"No API key &#x27;{value}&#x27; in this tenant." in html and "Showing every agent" in html
        assert stat_values(html) == everything
