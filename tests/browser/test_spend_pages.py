"""What was spent, in Chromium: the lists' cost columns (not cut off at 1,400 px), the trend dashboard with its
filters and remembered tenant, and a Nova agent's caching page.

Served by pytest-django's live server; each page is screenshotted at 1,400 px and 1,000 px into
test-artifacts/screenshots/.
"""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from agent_platform.models import Role, Tenant
from agent_platform.services import member_ensure
from caching.periods import utc_today
from tests.browser.conftest import PASSWORD, admin_login, shot, shown_stats
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import NOVA, make_agent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WIDE, NARROW = 1400, 1000


@pytest.fixture(autouse=True)
def _tasks_in_process(eager):
    """A saved agent requests a deployment on commit: run it here, never on a broker of the developer's."""


def shots(page, name: str) -> None:
    """Full-page screenshots at both widths, ending at 1,400 px."""
    for width in (NARROW, WIDE):
        page.set_viewport_size({"width": width, "height": 1000})
        shot(page, f"{name}-{width}")


def cut_off(page, selector: str) -> dict:
    """How far the element (a main table) overflows: its scroll box, and its right edge past the window's."""
    return page.eval_on_selector(
        selector,
        """table => {
            const box = table.closest('.results') || table.parentElement;
            return {
                hidden: Math.max(0, box.scrollWidth - box.clientWidth),
                past_window: Math.max(0, Math.ceil(table.getBoundingClientRect().right) - window.innerWidth),
                page_scrolls: Math.max(0, document.documentElement.scrollWidth - window.innerWidth),
            };
        }""",
    )


def column(page, name: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#result_list tbody .field-{name}").all_text_contents()]


def two_tenants_with_spend():
    """Acme and Globex, each with an agent named Support (Claude, caching on) and some turns; Acme also a Nova
    agent; a superuser."""
    acme = Tenant.objects.create(slug="acme", name="Acme")
    globex = Tenant.objects.create(slug="globex", name="Globex")
    support = make_agent(acme, name="Support", prompt_caching_enabled=True, description="Answers customers.")
    seed_support_agent(support)
    nova = make_agent(acme, NOVA, name="Docs summarizer with a rather long name to wrap")
    add_invocation(nova, at(utc_today(), 1, 0), session="n1", input=1500, output=200, caching=False)
    theirs = make_agent(globex, name="Support", prompt_caching_enabled=True)
    add_invocation(theirs, at(utc_today(), 2, 0), session="g1", input=100, write=3000, output=50)
    add_invocation(theirs, at(utc_today(), 2, 1), session="g1", input=100, read=3000, output=60)
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    return acme, globex, support, nova


def test_lists_show_spend_and_the_main_table_is_not_cut_off(browser_page, live_server):
    page = browser_page
    acme, globex, support, _ = two_tenants_with_spend()
    admin_login(page, live_server.url, "root")

    page.goto(f"{live_server.url}/admin/agents_app/agent/")
    # Same-named agents of two tenants: the tenant column tells them apart, the filter picks one.
    rows = {
        (row.locator(".field-name").text_content(), row.locator(".field-tenant").text_content())
        for row in page.locator("#result_list tbody tr").all()
    }
    assert ("Support", "Acme") in rows and ("Support", "Globex") in rows
    assert "$0.030125" in column(page, "agent_cost")  # Acme's Support: input with cache 0.021125 + output 0.009
    assert "50.0%" in column(page, "agent_hit_rate") and "-" in column(page, "agent_hit_rate")
    shots(page, "agents-list-spend")
    assert cut_off(page, "#result_list") == {"hidden": 0, "past_window": 0, "page_scrolls": 0}
    page.set_viewport_size({"width": WIDE, "height": 1000})
    page.click(f'#changelist-filter a[href*="tenant__id__exact={globex.pk}"]')
    page.wait_for_url(f"**tenant__id__exact={globex.pk}**")
    assert column(page, "tenant") == ["Globex"]

    page.goto(f"{live_server.url}/admin/agents_app/agent/")
    page.click("#result_list th.column-agent_cost a")  # sort by cost, cheapest first
    page.wait_for_url("**o=**")
    names = column(page, "name")
    assert names.index("Docs summarizer with a rather long name to wrap") < names.index("Support")

    page.goto(f"{live_server.url}/admin/agents_app/agentsession/")
    s1 = page.locator("#result_list tr", has_text="s1")
    assert s1.locator("td.field-session_cost").text_content() == "$0.02325"
    assert s1.locator("td.field-session_cached_ratio").text_content() == "31.7%"
    assert s1.locator("td.field-session_tokens").text_content() == "6,300 / 450"
    shots(page, "sessions-list-spend")
    assert cut_off(page, "#result_list") == {"hidden": 0, "past_window": 0, "page_scrolls": 0}

    page.goto(f"{live_server.url}/admin/agents_app/invocation/")
    assert "$0.00315" in column(page, "invocation_cost")  # the cache hit: input with cache 0.0009 + output
    shots(page, "invocations-list-spend")
    assert cut_off(page, "#result_list") == {"hidden": 0, "past_window": 0, "page_scrolls": 0}


def test_dashboard_trends_filters_and_a_remembered_tenant(browser_page, live_server, tenant):
    page = browser_page
    acme = tenant  # no invocation of its own
    globex = Tenant.objects.create(slug="globex", name="Globex")
    support = make_agent(globex, name="Support", prompt_caching_enabled=True)
    seeded = seed_support_agent(support)
    nova = make_agent(globex, NOVA, name="Docs summarizer")
    add_invocation(nova, at(seeded.today, 0, 30), session="n1", input=1500, output=200, caching=False)
    member_ensure(tenant=acme, username="mia", password=PASSWORD, role=Role.ADMIN)
    member_ensure(tenant=globex, username="mia", password=PASSWORD, role=Role.VIEWER)
    admin_login(page, live_server.url, "mia")

    # The first visit opens on the tenant with figures, not on Acme (first by name, empty).
    page.goto(f"{live_server.url}/admin/caching/dashboard/")
    assert page.input_value("#id_tenant") == "globex"
    assert page.locator("#empty-state").count() == 0
    shots(page, "dashboard-trend-30d")

    page.select_option("#id_period", "2d")
    page.wait_for_url("**period=2d**")
    bars = page.locator("svg.chart-hour rect.bar.spend")
    assert bars.count() >= 25  # yesterday's 24 hours and today's so far
    yesterday_10 = page.locator(f'svg.chart-hour rect[data-bucket="{seeded.yesterday} 10:00"]')
    assert yesterday_10.get_attribute("data-cost") == "0.023250"
    shots(page, "dashboard-trend-hourly")

    page.select_option("#id_family", "amazon-nova")
    page.wait_for_url("**family=amazon-nova**")
    assert shown_stats(page)["total_invocations"] == "1"
    assert page.locator("#agent-comparison tbody tr").count() == 1
    assert "caching off" in page.text_content("#agent-comparison")
    page.select_option("#id_family", "")
    page.wait_for_url("**family=&**")
    page.select_option("#id_agent", str(support.pk))
    page.wait_for_url(f"**agent={support.pk}**")
    assert shown_stats(page)["total_invocations"] == "5"
    shots(page, "dashboard-filtered-by-agent")

    # Acme, chosen once, is remembered; its empty state is said once.
    page.select_option("#id_tenant", "acme")
    page.wait_for_url("**tenant=acme**")
    page.goto(f"{live_server.url}/admin/caching/dashboard/")
    assert page.input_value("#id_tenant") == "acme"
    assert page.locator("#empty-state").count() == 1
    assert page.text_content("#content-main").count("No invocations") == 1
    shots(page, "dashboard-empty-tenant")


def test_a_nova_agents_caching_page_shows_spend_not_zeros(browser_page, live_server, tenant):
    page = browser_page
    nova = make_agent(tenant, NOVA, name="Docs summarizer")
    for minute in range(3):
        day = utc_today() - dt.timedelta(days=1)
        add_invocation(nova, at(day, 9, minute), session="n1", input=2000, output=100, caching=False)
    member_ensure(tenant=tenant, username="mia", password=PASSWORD, role=Role.MEMBER)
    admin_login(page, live_server.url, "mia")

    page.goto(f"{live_server.url}/admin/agents_app/agent/{nova.pk}/caching/")

    stats = shown_stats(page)
    assert stats["cost"] == "0.022500" and stats["total_invocations"] == "3"  # 3 × (2000 × 3 + 100 × 15) / 1e6
    assert "hit_rate" not in stats and page.locator("#savings").count() == 0
    assert "Caching is unavailable: Nova Pro does not support prompt caching" in page.text_content(
        "#caching-unavailable"
    )
    shots(page, "agent-caching-page-nova")
