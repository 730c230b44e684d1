"""One story everywhere, in Chromium: the caching rule for a family, what caching actions did, the deployments'
statuses with the current one marked, truthful reports with a preview, and the product's name and index.

Screenshots go to test-artifacts/screenshots/.
"""

import pytest
from django.contrib.auth import get_user_model

from agent_platform.models import Role
from agent_platform.services import member_ensure
from agents_app.models import Deployment, FamilyCachingDefault, ModelFamily
from agents_app.services import deployments as deployment_services
from caching import services as caching_services
from caching.periods import ONE_DAY, utc_today
from tests.browser.conftest import PASSWORD, admin_login, shot
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import make_agent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def _tasks_in_process(eager):
    """Saved agents request deployments on commit: run them here."""


def login_as(page, live_server, tenant, role, username="mia"):
    member_ensure(tenant=tenant, username=username, password=PASSWORD, role=role)
    admin_login(page, live_server.url, username)


def test_a_family_default_on_for_nova_is_refused_in_the_admin_as_in_the_api(browser_page, live_server, tenant):
    page = browser_page
    login_as(page, live_server, tenant, Role.ADMIN, "ada")
    nova = ModelFamily.objects.get(slug="amazon-nova")

    page.goto(f"{live_server.url}/admin/agents_app/familycachingdefault/add/")
    page.select_option("#id_tenant", str(tenant.pk))
    page.select_option("#id_family", str(nova.pk))
    page.check("#id_prompt_caching_enabled")
    page.click("input[name=_save]")

    error = page.text_content(".field-prompt_caching_enabled .errorlist")
    assert "Amazon Nova does not support prompt caching" in error
    assert not FamilyCachingDefault.objects.exists()
    shot(page, "story-family-default-nova-refused")


def test_caching_actions_and_the_toggle_say_what_they_did(browser_page, live_server, tenant):
    page = browser_page
    caching = make_agent(tenant, name="Caching", prompt_caching_enabled=True)
    quiet = make_agent(tenant, name="Quiet", prompt_caching_enabled=False)
    for agent in (caching, quiet):
        deployment_services.deployment_request(agent=agent)
    login_as(page, live_server, tenant, Role.MEMBER)

    page.goto(f"{live_server.url}/admin/agents_app/agent/")
    for name in ("Caching", "Quiet"):
        page.locator("#result_list tr", has_text=name).locator("input.action-select").check()
    page.select_option("select[name=action]", "enable_caching")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")

    text = page.text_content(".messagelist")
    assert "Prompt caching set to on for 1 agent (Quiet); 1 redeploy queued." in text
    assert "Already on, left as it was: 1 agent (Caching)." in text
    assert "redeploying" not in text
    assert [d.version for d in caching.deployments.all()] == [1]
    shot(page, "story-enable-caching-action")

    page.goto(f"{live_server.url}/admin/agents_app/agent/{caching.pk}/caching/")
    page.click("#caching-toggle-button")  # on → off
    page.wait_for_selector(".messagelist")
    text = page.text_content(".messagelist")
    assert "Prompt caching set to off for 1 agent (Caching); 1 redeploy queued." in text
    assert "(now off)" not in text
    shot(page, "story-caching-toggle")


def test_deployments_say_one_vocabulary_and_mark_the_current_version(browser_page, live_server, tenant):
    page = browser_page
    agent = make_agent(tenant, name="Support", prompt_caching_enabled=True)
    deployment_services.deployment_request(agent=agent, force=True)  # v1, deployed (tasks run in process)
    deployment_services.deployment_request(agent=agent, force=True)  # v2, deployed
    Deployment.objects.create(
        tenant=tenant, agent=agent, version=3, config={}, backend="local", status=Deployment.Status.SUPERSEDED
    )
    Deployment.objects.create(tenant=tenant, agent=agent, version=4, config={}, backend="local")
    login_as(page, live_server, tenant, Role.VIEWER, "vic")

    page.goto(f"{live_server.url}/admin/agents_app/agent/{agent.pk}/caching/")
    rows = page.locator("#deployments tbody tr")
    statuses = [
        (rows.nth(i).get_attribute("data-version"), rows.nth(i).locator(".deploy-status").text_content())
        for i in range(rows.count())
    ]
    assert statuses == [("4", "pending"), ("3", "superseded"), ("2", "deployed"), ("1", "deployed")]
    assert page.locator("#deployments tr[data-current=true]").get_attribute("data-version") == "2"
    shot(page, "story-deployments-on-the-caching-page")

    page.goto(f"{live_server.url}/admin/agents_app/deployment/?agent__id__exact={agent.pk}")
    current = page.locator("#result_list tr", has=page.locator(".current-badge"))
    assert current.count() == 1 and "Support" in current.text_content()
    assert page.locator("#result_list td.field-state", has_text="superseded").count() == 1
    shot(page, "story-deployments-list")


def test_reports_say_who_got_them_and_preview_the_period_so_far(browser_page, live_server, tenant):
    page = browser_page
    agent = make_agent(tenant, name="Support", prompt_caching_enabled=True)
    seed_support_agent(agent, today=utc_today() - ONE_DAY)
    add_invocation(agent, at(utc_today(), 0, 0, 5), session="today", input=50, read=2000, write=500, output=100)
    login_as(page, live_server, tenant, Role.ADMIN, "ada")  # an admin without an email address
    (report,) = caching_services.cache_reports_create_due(tenant=tenant)
    assert caching_services.cache_report_send(report=report) == []

    page.goto(f"{live_server.url}/admin/caching/cachereport/")
    assert "not emailed yet" in page.text_content("#result_list")
    shot(page, "story-reports-not-emailed")

    page.click("#report-preview-link")
    page.wait_for_selector("#report-preview")
    assert utc_today().isoformat() in page.text_content("#preview-note")
    assert "0.005025" in page.text_content("#report-preview")  # today's invocation, not in any stored report
    shot(page, "story-report-preview")


def test_the_admin_is_branded_and_its_index_puts_the_product_first(browser_page, live_server, tenant):
    page = browser_page
    get_user_model().objects.create_superuser("root", "root@example.test", PASSWORD)
    admin_login(page, live_server.url, "root")

    page.goto(f"{live_server.url}/admin/")
    assert page.text_content("#site-name").strip().endswith("Agent Platform")
    assert "Django" not in page.title() and "Agent Platform" in page.title()
    product = page.text_content("#product-apps")
    operations = page.text_content("#operations-apps")
    assert page.text_content("#operations") == "Operations"
    for name in ("Agents", "Reports", "Prices", "Tenants and API keys"):
        assert name.upper() in product.upper(), name
    for name in ("Scheduled tasks (Celery beat)", "Users and groups", "Login lockouts", "Cache-stats rollups"):
        assert name.upper() in operations.upper() and name.upper() not in product.upper(), name
    assert "Rollup rows (per agent and day)" in operations and "Days rolled up (per tenant)" in operations
    assert "Periodic tasks" not in product and "Daily cache rollups" not in product + operations
    shot(page, "story-index")

    page.goto(f"{live_server.url}/admin/agents_app/agent/add/")
    labels = page.eval_on_selector_all("#id_model option", "options => options.map(o => o.textContent)")
    sonnet = [label for label in labels if label.startswith("Claude Sonnet 4.6 ·")]
    assert len(sonnet) == 2 and sonnet[0] != sonnet[1]
    assert any("us. US cross-region" in label for label in sonnet)
    assert any("global. global cross-region" in label for label in sonnet)
    assert all("$" in label and "per 1M tokens" in label for label in sonnet)
    shot(page, "story-agent-form-model-labels")
