"""The invoke panel through the real pipeline, in Chromium.

gunicorn serves the admin, a Celery worker on Redis runs the invocations
(`invocation_services.invocation_create` -> task -> Strands -> the Bedrock emulator), and
the panel polls its admin JSON view until the result is there. The second
turn of a session reads the cache: the panel and the invocation page say
what it saved, and the agent page's figures equal the cache-stats API.
"""

from __future__ import annotations

import re

import pytest

from agent_platform.devstack import RedisServer, Stack
from agents_app.demo import DEMO_PASSWORD, DEMO_USERNAME
from bedrock.emulator.server import start
from tests.browser.conftest import admin_login, shot, shown_stats

pytestmark = pytest.mark.integration

FINISHED = '#invoke-status[data-status="succeeded"], #invoke-status[data-status="failed"]'


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    redis_server = RedisServer(tmp_path_factory.mktemp("redis"))
    emulator = start("127.0.0.1", 0)
    stack = Stack(tmp_path_factory.mktemp("stack"), redis_server.url, emulator.url)
    try:
        redis_server.flush()
        stack.manage("migrate", "--verbosity", "0")
        # The demo tenant: an admin user and a Claude agent whose long system prompt can be cached.
        stack.demo_key = stack.manage("seed_demo").strip().splitlines()[-1]
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()
        emulator.stop()
        redis_server.stop()


@pytest.fixture(scope="module")
def support_agent(stack) -> dict:
    agents = stack.call(stack.demo_key, "GET", "/api/agents/?search=Support").json()["results"]
    return agents[0]


def invoke(page, prompt: str) -> str:
    page.fill("#invoke-prompt", prompt)
    page.click("#invoke-button")
    page.wait_for_selector(FINISHED, timeout=120_000)
    status = page.get_attribute("#invoke-status", "data-status")
    assert status == "succeeded", page.text_content("#invoke-result")
    return page.text_content("#invoke-response")


def test_invoke_panel_runs_two_turns_and_the_second_reads_the_cache(browser_page, stack, support_agent):
    page = browser_page
    admin_login(page, stack.url, DEMO_USERNAME, DEMO_PASSWORD)
    agent_page = f"{stack.url}/admin/agents_app/agent/{support_agent['id']}/caching/"
    page.goto(agent_page)

    assert invoke(page, "Hello, what is the refund policy?")
    session_id = page.input_value("#invoke-session")
    assert re.fullmatch(r"[0-9a-f]{32}", session_id)  # the panel keeps the new session for the next turn
    assert "cache write" in page.text_content("#invoke-tokens")
    assert page.locator("#invoke-saved").is_hidden()  # the first turn writes the cache

    # The page's figures follow each turn without a reload: the first turn's are in already.
    page.wait_for_selector('#content-main[data-refreshes="1"]')
    assert shown_stats(page)["total_invocations"] == "1"
    assert page.locator(f'#sessions tr[data-session-id="{session_id}"]').count() == 1

    assert invoke(page, "And how long does shipping take?")
    assert page.input_value("#invoke-session") == session_id
    saved = page.text_content("#invoke-saved")
    assert page.locator("#invoke-saved").is_visible() and saved.startswith("Saved $") and saved.endswith("from cache")
    assert page.text_content("#invoke-cost").startswith("Cost $")
    shot(page, "invoke-panel")
    page.wait_for_selector('#content-main[data-refreshes="2"]')
    refreshed = shown_stats(page)
    assert refreshed["total_invocations"] == "2" and float(refreshed["net_savings"]) > 0

    page.click("#invoke-detail-link")
    page.wait_for_selector("#invocation-summary")
    assert page.text_content("#saved-note") == saved
    assert int(page.text_content('#token-breakdown [data-stat="cache_read_tokens"]').replace(",", "")) > 2000
    assert page.locator("#latency-summary").is_visible()
    shot(page, "invocation-detail-pipeline")

    page.goto(agent_page)
    data = stack.call(stack.demo_key, "GET", f"/api/agents/{support_agent['id']}/cache-stats/").json()
    shown = shown_stats(page)
    for name in ("hit_rate", "cache_read_tokens", "gross_savings", "net_savings", "total_invocations"):
        assert shown[name] == str(data[name]), name
    assert data["cache_hits"] == 1 and data["total_invocations"] == 2
    row = page.locator(f'#sessions tr[data-session-id="{session_id}"]')
    assert int(row.locator('[data-stat="cached_tokens"]').text_content().replace(",", "")) > 0
    shot(page, "agent-caching-page-pipeline")


@pytest.fixture(scope="module")
def nova_agent(stack) -> dict:
    agents = stack.call(stack.demo_key, "GET", "/api/agents/?search=Docs").json()["results"]
    return agents[0]


def test_a_turn_without_caching_shows_its_cost_and_the_page_follows(browser_page, stack, nova_agent):
    page = browser_page
    admin_login(page, stack.url, DEMO_USERNAME, DEMO_PASSWORD)
    page.goto(f"{stack.url}/admin/agents_app/agent/{nova_agent['id']}/caching/")
    assert "Caching is unavailable" in page.text_content("#caching-unavailable")
    before = shown_stats(page)

    assert invoke(page, "Summarize: the service runs agents and records what they cost.")

    cost = page.text_content("#invoke-cost")
    assert page.locator("#invoke-cost").is_visible()
    assert cost.startswith("Cost $") and "input $" in cost and "output $" in cost
    assert cost.endswith("(prompt caching off for this turn)")
    assert page.locator("#invoke-saved").is_hidden()
    page.wait_for_selector('#content-main[data-refreshes="1"]')
    after = shown_stats(page)
    assert int(after["total_invocations"]) == int(before["total_invocations"]) + 1
    assert float(after["cost"]) - float(before["cost"]) == pytest.approx(
        float(page.get_attribute("#invoke-cost", "data-value"))
    )
    data = stack.call(stack.demo_key, "GET", f"/api/agents/{nova_agent['id']}/cache-stats/").json()
    assert after["cost"] == data["cost"]
    for width in (1000, 1400):
        page.set_viewport_size({"width": width, "height": 1000})
        shot(page, f"invoke-panel-nova-{width}")
