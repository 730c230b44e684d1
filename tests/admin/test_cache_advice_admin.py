"""The cache advice in admin: the agent page's section and the dashboard's ranking, as the advice API has them."""

import pytest

from caching.models import CacheAdvice
from tests.admin.conftest import page, stat_values
from tests.caching.advice_support import LONG_PROMPT, session
from tests.conftest import CLAUDE, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:cache_tools is deprecated")]


@pytest.fixture
def agents(bedrock_emulator_env, tenant):
    busy = make_agent(tenant, CLAUDE, name="Busy", system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    session(busy, ["Hello there", "And the refund policy?"])
    plain = make_agent(
        tenant, CLAUDE, name="Plain", system_prompt=LONG_PROMPT + " Plain.", prompt_caching_enabled=False
    )
    session(plain, ["One question", "Another question", "A third question"])
    return busy, plain


def test_the_agent_page_queues_the_advice_then_shows_the_apis_figures(member, api, agents, commit):
    busy, _ = agents
    url = f"/admin/agents_app/agent/{busy.pk}/caching/?period=30d"

    with commit():
        first = page(member.get(url))
    assert 'data-status="pending"' in first.split('id="cache-advice"')[1]

    html = page(member.get(url))
    data = api.get(f"/api/agents/{busy.pk}/cache-advice/?period=30d").json()
    section = html.split('id="cache-advice"')[1].split('id="invoke-panel"')[0]
    shown = stat_values(section)
    for name in ("current_cost", "cheapest_cost", "oracle_cost", "left_on_table"):
        assert shown[name] == data["advice"][name], name
    assert shown["projected_saving"] == data["advice"]["saving_30d"]
    assert data["advice"]["summary"] in section
    for setup in data["setups"]:
        assert f'data-setup="{setup["name"]}"' in section
    assert "2 of 2 invocations exactly" in section


def test_the_dashboard_ranks_agents_by_money_left_on_the_table(member, agents, commit):
    with commit():
        page(member.get("/admin/caching/dashboard/?period=30d"))

    ranking = page(member.get("/admin/caching/dashboard/?period=30d")).split('id="advice-agents"')[1]

    busy, plain = agents
    assert ranking.index(f'data-agent-id="{plain.pk}"') < ranking.index(f'data-agent-id="{busy.pk}"')
    assert f"/admin/agents_app/agent/{plain.pk}/caching/?period=30d" in ranking
    assert CacheAdvice.objects.filter(status="ready").count() == 2


def test_another_tenants_staff_see_none_of_it(outsider, agents, commit):
    busy, _ = agents

    assert outsider.get(f"/admin/agents_app/agent/{busy.pk}/caching/").status_code == 404
    with commit():
        html = page(outsider.get("/admin/caching/dashboard/?period=30d"))
    assert "Busy" not in html and "Plain" not in html
    assert 'id="empty-state"' in html  # their tenant has no invocation: no ranking to show either
    assert not CacheAdvice.objects.exists()
