"""`GET /api/agents/{id}/cache-advice/` and `GET /api/cache-advice/`: stored, refreshed, queued, tenant-scoped."""

import pytest

from caching.models import CacheAdvice
from tests.caching.advice_support import LONG_PROMPT, session
from tests.conftest import CLAUDE, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:cache_tools is deprecated")]


@pytest.fixture
def busy_agent(bedrock_emulator_env, tenant):
    agent = make_agent(tenant, CLAUDE, name="Busy", system_prompt=LONG_PROMPT, prompt_caching_enabled=True)
    session(agent, ["Hello there", "And the refund policy?"])
    return agent


def advice_url(agent) -> str:
    return f"/api/agents/{agent.pk}/cache-advice/?period=30d"


def test_the_agents_advice_is_computed_stored_and_reused(api, busy_agent):
    first = api.get(advice_url(busy_agent))

    assert first.status_code == 200, first.data
    body = first.data
    assert body["status"] == "ready" and body["progress"] == 1
    assert body["computed_from"] == {"invocations": 2, "through_invocation_id": body["through_invocation_id"]}
    assert {s["name"] for s in body["setups"]} >= {"none", "explicit-5m", "combined-1h", "automatic-1h"}
    assert body["advice"]["current"] == "combined-5m"
    assert body["actual"]["self_check"]["exact_invocations"] == 2
    assert set(body["advice"]) >= {"cheapest", "saving_30d", "one_hour_ttl", "left_on_table", "left_on_table_30d"}

    again = api.get(advice_url(busy_agent))
    assert again.data["computed_at"] == body["computed_at"]  # nothing new: the stored advice

    session(busy_agent, ["A new customer"])
    newer = api.get(advice_url(busy_agent))
    assert newer.data["computed_from"]["invocations"] == 3
    assert newer.data["computed_at"] > body["computed_at"]
    assert api.get(advice_url(busy_agent) + "&refresh=1").data["computed_at"] > newer.data["computed_at"]


def test_a_large_period_is_queued_and_reports_progress(api, busy_agent, commit, settings):
    settings.CACHE_ADVICE_SYNC_INVOCATIONS = 1

    with commit():
        queued = api.get(advice_url(busy_agent))

    assert queued.status_code == 202
    assert queued.data["status"] == "pending" and queued.data["computed_at"] is None
    done = api.get(advice_url(busy_agent))
    assert done.status_code == 200 and done.data["status"] == "ready" and done.data["progress"] == 1
    assert done.data["computed_from"]["invocations"] == 2


def test_another_tenants_agent_is_not_found(other_api, busy_agent):
    response = other_api.get(advice_url(busy_agent))

    assert response.status_code == 404
    assert not CacheAdvice.objects.exists()


def test_the_tenants_agents_are_ranked_by_money_left_on_the_table(api, other_api, busy_agent, tenant):
    quiet = make_agent(tenant, CLAUDE, name="Quiet", system_prompt=LONG_PROMPT, prompt_caching_enabled=False)
    session(quiet, ["One question", "Another question", "A third question"])

    body = api.get("/api/cache-advice/?period=30d").data

    rows = body["agents"]
    assert [row["agent"]["name"] for row in rows] == ["Quiet", "Busy"]
    assert [row["status"] for row in rows] == ["ready", "ready"]
    left = [float(row["left_on_table"]) for row in rows]
    assert left == sorted(left, reverse=True) and left[0] > 0
    assert rows[0]["current"] == "none" and rows[0]["cheapest"] != "none"
    assert body["pending"] == 0
    # Another tenant sees none of them.
    assert other_api.get("/api/cache-advice/?period=30d").data["agents"] == []


def test_a_bad_period_is_a_400(api, busy_agent):
    response = api.get(f"/api/agents/{busy_agent.pk}/cache-advice/?period=12d")

    assert response.status_code == 400
