"""Every admin page in Chromium, as a superuser sees it: a full-page screenshot at 1,400 and 1,000 px each.

The pages are discovered, not listed: the index, each app's page, every
registered model's changelist, add form and change form (of its first row),
each model admin's own GET pages that answer HTML (the import page...), and
every page registered with `admin.site.add_page` (the cost dashboard, an
agent's caching page), so a page a new app registers is covered without
touching this test. One browser, one logged-in context, the pages in a loop;
each page is loaded once and shot at both widths.

At 1,400 px the main table (a changelist's `#result_list`, else the page's
widest table) must fit: no horizontal scrolling, nothing cut off.
Screenshots go to test-artifacts/screenshots/all-pages/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse

from agent_platform.models import Role
from agent_platform.services import api_key_create, member_ensure
from agents_app.models import Deployment, FamilyCachingDefault, ModelFamily
from agents_app.services import deployments as deployment_services
from caching import services as caching_services
from caching.periods import ONE_DAY, utc_today
from pricing.models import PriceOverride
from tests.browser.conftest import PASSWORD, SCREENSHOTS, admin_login
from tests.caching.stats_data import add_invocation, at, seed_support_agent
from tests.conftest import NOVA, make_agent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

WIDE, NARROW = 1400, 1000
FOLDER = SCREENSHOTS / "all-pages"
# Model admin URL names every ModelAdmin has; the others (a model admin's own pages) are probed.
STANDARD_VIEWS = {"changelist", "add", "history", "delete", "change"}
# How far a table may poke out (sub-pixel rounding).
SLACK_PX = 1

MAIN_TABLE_FIT = """() => {
    const table = document.querySelector('#result_list')
        || [...document.querySelectorAll('#content table')].sort((a, b) => b.scrollWidth - a.scrollWidth)[0];
    if (!table) return null;
    let box = table.parentElement;
    while (box && box !== document.body && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
    const right = table.getBoundingClientRect().right;
    return {
        id: table.id || table.className || 'table',
        tableWidth: table.scrollWidth,
        boxWidth: box ? box.clientWidth : window.innerWidth,
        boxScrolls: box && box !== document.body ? box.scrollWidth > box.clientWidth : false,
        right: right,
        viewport: window.innerWidth,
        pageScrolls: document.documentElement.scrollWidth > window.innerWidth,
    };
}"""


@pytest.fixture(autouse=True)
def _tasks_in_process(eager):
    """Saved agents request deployments on commit: run them here."""


def seed_everything(tenant):
    """Rows for every page to show: agents on two families, invocations over a week, sessions, deployments,
    a superseded one, a family default, a price override, a report, rollups, an API key."""
    agent = make_agent(tenant, name="Support", prompt_caching_enabled=True)
    seeded = seed_support_agent(agent)
    nova = make_agent(tenant, NOVA, name="Nova helper")
    add_invocation(nova, at(seeded.today, 0, 1), input=500, output=20, caching=False)
    for _ in range(2):
        deployment_services.deployment_request(agent=agent, force=True)  # deployed in process: v2 is current
    Deployment.objects.create(
        tenant=tenant, agent=agent, version=3, config={}, backend="local", status=Deployment.Status.SUPERSEDED
    )
    FamilyCachingDefault.objects.create(
        tenant=tenant, family=ModelFamily.objects.get(slug="anthropic-claude"), prompt_caching_enabled=True
    )
    PriceOverride.objects.create(tenant=tenant, model=agent.model, input_per_mtok="2.5")
    api_key_create(tenant=tenant, name="ci", role=Role.MEMBER)
    caching_services.rollups_refresh(tenant=tenant, days=[utc_today() - ONE_DAY * n for n in range(1, 4)])
    caching_services.cache_report_create(
        tenant=tenant, period_start=utc_today() - ONE_DAY * 7, period_end=utc_today() - ONE_DAY
    )
    return agent


def first_object(model_admin, request):
    return model_admin.get_queryset(request).order_by("pk").first()


def discover_pages(request) -> list[tuple[str, str]]:
    """(name, path) of every admin page a superuser can open with a GET; see the module docstring."""
    site = admin.site
    pages = [("index", reverse("admin:index"))]
    labels = sorted({model._meta.app_label for model in site._registry})
    pages += [(f"app-{label}", reverse("admin:app_list", args=[label])) for label in labels]
    objects = {}
    for model, model_admin in sorted(site._registry.items(), key=lambda item: item[0]._meta.label):
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        pages.append((f"{opts.app_label}-{opts.model_name}-list", reverse(f"{prefix}_changelist")))
        if model_admin.has_add_permission(request):
            pages.append((f"{opts.app_label}-{opts.model_name}-add", reverse(f"{prefix}_add")))
        obj = first_object(model_admin, request)
        objects[(opts.app_label, opts.model_name)] = obj
        if obj is not None:
            pages.append((f"{opts.app_label}-{opts.model_name}-change", reverse(f"{prefix}_change", args=[obj.pk])))
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            view = name.removeprefix(f"{opts.app_label}_{opts.model_name}_")
            if not name or view in STANDARD_VIEWS or name == f"{opts.app_label}_{opts.model_name}_changelist":
                continue
            args = [obj.pk] if "object_id" in str(pattern.pattern) and obj is not None else []
            try:
                pages.append((f"{opts.app_label}-{opts.model_name}-{view}", reverse(f"admin:{name}", args=args)))
            except NoReverseMatch:
                continue  # a view of a row, and the model has none
    for route, _view, name in site.pages:
        args = []
        if "<" in route:
            # `app_label/model_name/<...object_id>/...`: the first row of that model.
            match = re.match(r"(\w+)/(\w+)/<", route)
            obj = objects.get((match[1], match[2])) if match else None
            assert obj is not None, f"add_page route {route!r}: no row to open it with; teach this test how"
            args = [obj.pk]
        pages.append((f"page-{name}", reverse(f"admin:{name}", args=args)))
    return list(dict.fromkeys(pages))


def test_every_admin_page_at_two_widths(browser, live_server, tenant, rf, bedrock_emulator_env):
    seed_everything(tenant)
    user = get_user_model().objects.create_superuser("root", "root@example.test", PASSWORD)
    member_ensure(tenant=tenant, username="root", password=PASSWORD, role=Role.ADMIN)
    request = rf.get("/admin/")
    request.user = user

    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.glob("*.png"):
        old.unlink()
    context = browser.new_context(viewport={"width": WIDE, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    shot, cut_off, failed = [], [], []
    try:
        admin_login(page, live_server.url, "root")  # first: the login writes rows (axes' log) to show too
        pages = discover_pages(request)
        registered = {f"page-{name}" for _route, _view, name in admin.site.pages}
        assert registered <= {name for name, _ in pages}
        for name, path in pages:
            url = live_server.url + path
            probe = page.request.get(url, max_redirects=0)
            content_type = probe.headers.get("content-type", "")
            if probe.status == 405 or not content_type.startswith("text/html"):
                continue  # a POST-only view, a JSON or CSV answer: not a page
            if probe.status != 200:
                failed.append((name, path, probe.status))
                continue
            page.set_viewport_size({"width": WIDE, "height": 900})
            page.goto(url)
            assert "Django administration" not in page.content(), name
            fit = page.evaluate(MAIN_TABLE_FIT)
            if fit and (fit["boxScrolls"] or fit["pageScrolls"] or fit["right"] > fit["viewport"] + SLACK_PX):
                cut_off.append((name, fit))
            page.screenshot(path=str(FOLDER / f"{name}-{WIDE}.png"), full_page=True)
            page.set_viewport_size({"width": NARROW, "height": 900})
            page.screenshot(path=str(FOLDER / f"{name}-{NARROW}.png"), full_page=True)
            shot.append(name)
    finally:
        context.close()

    assert failed == [], f"pages that did not open: {failed}"
    assert errors == [], f"JavaScript errors: {errors}"
    assert cut_off == [], f"main table cut off at {WIDE} px: {cut_off}"
    # Every kind of page was shot: changelists, change and add forms, the pages of add_page, the index.
    assert "index" in shot and registered <= set(shot)
    assert any(n.endswith("-list") for n in shot) and any(n.endswith("-change") for n in shot)
    assert any(n.endswith("-add") for n in shot)
    assert len(list(FOLDER.glob("*.png"))) == 2 * len(shot)
