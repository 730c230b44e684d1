"""The admin pages in Chromium: the caching select, the badge and deployments, figures against the API, roles.

Served by pytest-django's live server; every page is screenshotted into
test-artifacts/screenshots/.
"""

import json

import pytest

from agent_platform.models import Role
from agent_platform.services import member_ensure
from agents_app.models import Agent, Deployment
from caching.periods import utc_today
from tests.browser.conftest import PASSWORD, admin_login, shot, shown_stats
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import CLAUDE, NOVA, make_agent

# serialized_rollback: the model catalog (a data migration) is put back after each test's flush.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def _tasks_in_process(eager):
    """A saved agent requests a deployment on commit: run it here, never on a broker of the developer's."""


def login_as(page, live_server, tenant, role, username="mia"):
    member_ensure(tenant=tenant, username=username, password=PASSWORD, role=role)
    admin_login(page, live_server.url, username)


def test_caching_select_follows_the_chosen_model(browser_page, live_server, tenant, catalog, bedrock_emulator_env):
    page = browser_page
    login_as(page, live_server, tenant, Role.MEMBER)
    page.goto(f"{live_server.url}/admin/agents_app/agent/add/")
    caching = page.locator("#id_prompt_caching_enabled")
    assert caching.is_disabled()  # no model chosen yet

    page.select_option("#id_model", str(catalog[CLAUDE].pk))
    assert caching.is_enabled()
    assert "caches prompts of at least 2048 tokens" in page.text_content("#caching-explanation")

    page.select_option("#id_prompt_caching_enabled", "true")
    page.select_option("#id_model", str(catalog[NOVA].pk))
    assert caching.is_disabled()
    assert caching.input_value() == "false"  # choosing such a model turns caching off
    reason = "Nova Pro does not support prompt caching, so caching stays off for it."
    assert caching.get_attribute("title") == reason
    assert page.locator(".field-prompt_caching_enabled").get_attribute("title") == reason
    assert page.text_content("#caching-explanation") == reason
    shot(page, "agent-form-nova-caching-disabled")

    page.select_option("#id_model", str(catalog[CLAUDE].pk))
    assert caching.is_enabled()
    page.select_option("#id_prompt_caching_enabled", "true")
    page.fill("#id_name", "Browser made")
    page.fill("#id_system_prompt", "You are helpful.")
    page.fill("#id_integrations", "[]")
    page.select_option("#id_tenant", str(tenant.pk))
    shot(page, "agent-form-claude")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")
    agent = Agent.objects.get(name="Browser made")
    assert agent.prompt_caching_enabled is True
    # A short prompt: the page warns that caching waits for the conversation to grow (counted by CountTokens).
    assert "caching will have no effect until the conversation grows" in page.text_content("#content")
    shot(page, "agent-change-short-prompt-warning")

    # Switching the saved agent to Nova turns caching off, and the disabled select still submits "Off".
    page.select_option("#id_model", str(catalog[NOVA].pk))
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist")
    agent.refresh_from_db()
    assert agent.model.model_id == NOVA and agent.prompt_caching_enabled is False
    assert page.locator("#id_prompt_caching_enabled").is_disabled()


def test_enabling_caching_shows_the_badge_and_a_new_deployment(browser_page, live_server, tenant):
    page = browser_page
    quiet = make_agent(tenant, name="Quiet", prompt_caching_enabled=False)
    login_as(page, live_server, tenant, Role.MEMBER)
    page.goto(f"{live_server.url}/admin/agents_app/agent/")
    row = page.locator("#result_list tr", has_text="Quiet")
    assert row.locator(".cache-badge").count() == 0

    page.goto(f"{live_server.url}/admin/agents_app/agent/{quiet.pk}/caching/")
    page.click("#caching-toggle-button")
    page.wait_for_selector(".messagelist .success")
    assert "Prompt caching set to on for 1 agent (Quiet); 1 redeploy queued." in page.text_content(".messagelist")
    assert page.get_attribute("#caching-state", "data-effective") == "true"
    newest = page.locator("#deployments tbody tr").first
    assert newest.get_attribute("data-version") == "1"
    assert newest.locator(".deploy-status").text_content() == "deployed"
    deployment = Deployment.objects.get(agent=quiet)
    assert deployment.config["prompt_caching_enabled"] is True
    shot(page, "agent-caching-page-after-toggle")

    page.goto(f"{live_server.url}/admin/agents_app/agent/")
    badge = page.locator("#result_list tr", has_text="Quiet").locator(".cache-badge")
    assert badge.count() == 1 and badge.is_visible()
    assert badge.get_attribute("title") == "Prompt caching enabled"
    badge.hover()
    row_text = page.locator("#result_list tr", has_text="Quiet").text_content()
    assert "on (agent)" in row_text and "deployed" in row_text and "v1" in row_text
    shot(page, "agent-changelist")


def test_agent_page_shows_the_cache_stats_apis_figures(browser_page, live_server, api, tenant, agent):
    page = browser_page
    seed_support_agent(agent)
    login_as(page, live_server, tenant, Role.VIEWER)

    page.goto(f"{live_server.url}/admin/agents_app/agent/{agent.pk}/caching/?period=7d")
    data = api.get(f"/api/agents/{agent.pk}/cache-stats/?period=7d").json()

    shown = shown_stats(page)
    figures = ("hit_rate", "cache_read_tokens", "cache_write_tokens", "gross_savings", "write_premium", "net_savings")
    for name in figures:
        assert shown[name] == str(data[name]), name
    text = page.text_content("#cache-stats")
    assert "50.0%" in text and "4,000" in text and "$0.0108" in text and "$0.007425" in text
    assert page.locator("svg.chart-trend rect.bar.spend").count() == 7
    sessions = page.locator("#sessions tbody tr")
    assert sessions.count() == len(data["sessions"]) == 3
    s1 = page.locator('#sessions tr[data-session-id="s1"]')
    assert s1.locator('[data-stat="cached_tokens"]').text_content() == "2,000"
    assert s1.locator('[data-stat="uncached_tokens"]').text_content() == "4,300"
    # A viewer sees the page but cannot toggle nor invoke.
    assert page.locator("#caching-toggle-button").is_disabled()
    assert page.locator("#invoke-form").count() == 0
    shot(page, "agent-caching-page")


def test_dashboard_shows_the_tenant_cache_stats_apis_figures(browser_page, live_server, api, tenant, agent):
    page = browser_page
    seeded = seed_support_agent(agent)
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(seeded.today, 0, 1), input=500, output=20, caching=False)
    login_as(page, live_server, tenant, Role.VIEWER)

    page.goto(f"{live_server.url}/admin/")
    page.click("#cost-dashboard-link a >> nth=0")
    page.select_option("#id_period", "7d")
    page.wait_for_url("**period=7d**")
    data = api.get("/api/cache-stats/?period=7d").json()

    shown = shown_stats(page)
    for name in ("total_invocations", "cost_with_cache", "cost_without_cache", "net_savings", "hit_rate"):
        assert shown[name] == str(data[name]), name
    compared = page.locator("#agent-comparison tbody tr")  # every agent with turns, the highest spend first
    by_spend = sorted(data["top_agents"], key=lambda row: -float(row["cost"]))
    assert [compared.nth(i).get_attribute("data-agent-id") for i in range(compared.count())] == [
        str(row["agent"]["id"]) for row in by_spend
    ]
    assert page.locator("#by-family tbody tr").count() == len(data["by_family"]) == 2
    assert page.locator("svg.chart-trend").is_visible()
    shot(page, "cost-dashboard")

    page.click("#reports a >> text=cache reports")
    page.wait_for_selector("#changelist")


def test_invocation_detail_shows_the_saving_of_a_cache_hit(browser_page, live_server, tenant, agent):
    page = browser_page
    hit = add_invocation(agent, at(utc_today(), 0, 0), input=100, read=2000, write=500, output=10)
    login_as(page, live_server, tenant, Role.VIEWER)

    page.goto(f"{live_server.url}/admin/agents_app/invocation/{hit.pk}/change/")

    assert page.text_content("#saved-note") == "Saved $0.0054 from cache"
    assert "Paid a $0.000375 cache write premium" in page.text_content("#premium-note")
    assert "Cached input 2,000 tokens vs uncached 600 tokens" in page.text_content("#cached-vs-uncached")
    shot(page, "invocation-detail")


def test_import_page_lists_errors_by_agent_and_field(browser_page, live_server, tenant, tmp_path):
    page = browser_page
    login_as(page, live_server, tenant, Role.MEMBER)
    bad = tmp_path / "agents.json"
    bad.write_text(
        json.dumps(
            {
                "agents": [
                    {"name": "Fine", "system_prompt": "Hi.", "model_id": CLAUDE},
                    {"name": "Nova cached", "system_prompt": "Hi.", "model_id": NOVA, "prompt_caching_enabled": True},
                ]
            }
        )
    )
    page.goto(f"{live_server.url}/admin/agents_app/agent/")
    page.click("#import-link")
    page.set_input_files("#id_file", str(bad))
    page.click("#import-submit")

    page.wait_for_selector("#import-error-table")
    row = page.locator("#import-error-table tbody tr").first.text_content()
    assert "#1 “Nova cached”" in row and "prompt_caching_enabled" in row and "does not support prompt caching" in row
    assert not Agent.objects.exists()
    shot(page, "agent-import-errors")


def test_staff_of_another_tenant_cannot_open_the_pages(browser_page, live_server, other_tenant, agent):
    page = browser_page
    login_as(page, live_server, other_tenant, Role.ADMIN, "otto")
    for path in (f"/admin/agents_app/agent/{agent.pk}/caching/", f"/admin/agents_app/agent/{agent.pk}/change/"):
        response = page.goto(f"{live_server.url}{path}")
        body = page.text_content("body")
        assert response.status == 404 or "doesn’t exist" in body, (path, response.status)
        assert agent.name not in body
        shot(page, "other-tenant-" + path.strip("/").split("/")[-1])
