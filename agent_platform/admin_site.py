"""The project's admin site: Django's, branded, its index grouped, plus pages one app adds about another app's models.

Reporting shows pages about agents (an agent's caching page, the cost
dashboard) without the agents app importing reporting: the reporting app
registers them here with `add_page`, and they are served under `/admin/`
before the model admins' own URLs (whose `<object_id>/` catch-all would take
them), wrapped in `admin_view` (staff login, CSRF, no-cache).

The index lists the product's pages first, in the order a person works
(agents, then costs and caching, prices, tenants), and everything that keeps
the service running but is not the product (Celery beat's schedules, users and
groups, login lockouts, the rollup tables behind the figures) under an
"Operations" heading.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import path

PRODUCT_NAME = "Agent Platform"

# The product's apps in the order of the index, with the names their sections have there.
PRODUCT_APPS = {
    "agents_app": "Agents",
    "caching": "Reports",
    "pricing": "Prices",
    "agent_platform": "Tenants and API keys",
}
# App label → the section's name under Operations (apps not named here and not product apps go there too).
OPERATIONS_APPS = {
    "django_celery_beat": "Scheduled tasks (Celery beat)",
    "auth": "Users and groups",
    "axes": "Login lockouts",
}
# Models of a product app that are plumbing: (app label, object name) → (Operations section, name there).
# The rollups are the tables the cache-stats figures are read from, not figures a person reads.
OPERATIONS_MODELS = {
    ("caching", "DailyCacheRollup"): ("Cache-stats rollups", "Rollup rows (per agent and day)"),
    ("caching", "CacheRollupDay"): ("Cache-stats rollups", "Days rolled up (per tenant)"),
}


class PlatformAdminSite(admin.AdminSite):
    site_header = PRODUCT_NAME
    site_title = PRODUCT_NAME
    index_title = "Agents, costs and prompt caching"

    def __init__(self, name="admin"):
        super().__init__(name)
        self._pages: list[tuple[str, object, str]] = []

    def add_page(self, route: str, view, *, name: str) -> None:
        """Serve `view(request, **kwargs)` at `/admin/<route>`, reversed as `admin:<name>`."""
        self._pages.append((route, view, name))

    @property
    def pages(self) -> list[tuple[str, object, str]]:
        """What `add_page` registered: (route, view, URL name)."""
        return list(self._pages)

    def get_urls(self):
        pages = [path(route, self.admin_view(view), name=name) for route, view, name in self._pages]
        return pages + super().get_urls()

    def get_app_list(self, request, app_label=None):
        """The product's apps first, then the Operations sections (each app dict says which: `operations`)."""
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        product, operations = split_app_list(apps)
        return product + operations

    def index(self, request, extra_context=None):
        product, operations = split_app_list(super().get_app_list(request))
        context = {"product_apps": product, "operations_apps": operations, **(extra_context or {})}
        return super().index(request, context)


def split_app_list(apps: list[dict]) -> tuple[list[dict], list[dict]]:
    """Django's app list as (product sections, Operations sections), plumbing models moved out of product apps."""
    product, moved = [], {}
    operations = []
    for app in apps:
        label = app["app_label"]
        if label not in PRODUCT_APPS:
            app["name"] = OPERATIONS_APPS.get(label, app["name"])
            app["operations"] = True
            operations.append(app)
            continue
        kept = []
        for model in app["models"]:  # each a dict of Django's, its "name" the model's verbose_name_plural
            moved_to = OPERATIONS_MODELS.get((label, model["object_name"]))
            if moved_to is None:
                kept.append(model)
                continue
            section, model["name"] = moved_to
            group = moved.setdefault(
                section,
                {**app, "name": section, "app_label": f"{label}-operations", "models": [], "operations": True},
            )
            group["models"].append(model)
        if kept:
            product.append({**app, "name": PRODUCT_APPS[label], "models": kept, "operations": False})
    order = list(PRODUCT_APPS)
    product.sort(key=lambda app: order.index(app["app_label"]))
    operations = list(moved.values()) + sorted(operations, key=lambda app: app["name"].lower())
    return product, operations


class PlatformAdminConfig(AdminConfig):
    default_site = "agent_platform.admin_site.PlatformAdminSite"
