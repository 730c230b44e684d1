"""Admin pages of the caching app that belong to no single model: the per-tenant cost dashboard.

Registered by `caching.admin` with `admin.site.add_page` (see
`agent_platform.admin_site`), served at `/admin/caching/dashboard/` behind
`admin_view` (staff login, no-cache), and rendered with the admin's own
context. Every figure comes from `caching.stats.tenant_cache_stats` shaped by
`caching.serializers`, as `GET /api/cache-stats/` answers, so the page and the API agree.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from agent_platform.errors import ApplicationError
from agent_platform.tenancy import chosen_tenant
from caching import charts, reports, serializers
from caching.periods import DEFAULT_PERIOD, PERIOD_DAYS, period_from_params
from caching.stats import tenant_cache_stats

PERIOD_CHOICES = [*PERIOD_DAYS, "all"]


def chosen_period(request, *, tenant, agent=None):
    """The period of `?period=` / `?from=&to=` as the cache-stats API reads it; a bad one falls back to 30 days."""
    try:
        return period_from_params(request.GET, tenant=tenant, agent=agent)
    except ApplicationError as exc:
        messages.error(request, f"{exc.message} Showing the last 30 days.")
        return period_from_params({"period": DEFAULT_PERIOD}, tenant=tenant, agent=agent)


def cost_dashboard(request):
    tenant, tenants = chosen_tenant(request)
    period = chosen_period(request, tenant=tenant)
    stats = serializers.tenant_cache_stats_json(tenant_cache_stats(tenant=tenant, period=period, top=5))
    context = {
        **admin.site.each_context(request),
        "title": f"Cost dashboard: {tenant.name}",
        "tenant": tenant,
        "tenants": tenants,
        "period": period,
        "period_choices": PERIOD_CHOICES,
        "stats": stats,
        "daily_chart": charts.daily_savings_chart(stats["by_day"]),
        "agents_chart": charts.bar_list_chart(
            [(row["agent"]["name"], row["net_savings"]) for row in stats["top_agents"]],
            label="Net savings by agent",
        ),
        "family_chart": charts.bar_list_chart(
            [(row["name"], row["net_savings"]) for row in stats["by_family"]], label="Net savings by model family"
        ),
        "reports": list(
            reports.cache_report_list(tenant=tenant).only("pk", "period_start", "period_end", "emailed_at")[:5]
        ),
    }
    return TemplateResponse(request, "admin/caching/dashboard.html", context)
