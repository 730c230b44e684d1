"""Reporting's admin pages: the per-tenant cost dashboard and an agent's caching page.

Registered by `caching.admin` with `admin.site.add_page` (see
`agent_platform.admin_site`), served at `/admin/caching/dashboard/` and
`/admin/agents_app/agent/<id>/caching/` behind `admin_view` (staff login,
no-cache), and rendered with the admin's own context. The agent is fetched
through the agents admin's scoped queryset, so another tenant's is a 404.
Every figure comes from `caching.stats` shaped by `caching.serializers`, as the
cache-stats API answers, so the pages and the API agree.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.template.response import TemplateResponse
from django.urls import reverse

from agent_platform.errors import ApplicationError
from agent_platform.models import Tenant, TenantAPIKey
from agent_platform.tenancy import chosen_tenant, scoped_object, user_tenants
from agents_app import admin_views as agent_pages
from agents_app import selectors as agent_selectors
from agents_app.models import Agent, Invocation
from caching import advice_services, charts, reports, serializers, trends
from caching.periods import DEFAULT_PERIOD, PERIOD_DAYS, period_from_params
from caching.stats import agent_cache_stats
from pricing.costs import money

PERIOD_CHOICES = [*PERIOD_DAYS, "all"]


def chosen_period(request, *, tenant, agent=None):
    """The period of `?period=` / `?from=&to=` as the cache-stats API reads it; a bad one falls back to 30 days.
    A field the page's form leaves empty is left out (the API refuses a blank parameter)."""
    params = {key: value for key, value in request.GET.items() if value != ""}
    try:
        return period_from_params(params, tenant=tenant, agent=agent)
    except ApplicationError as exc:
        messages.error(request, f"{exc.message} Showing the last 30 days.")
        return period_from_params({"period": DEFAULT_PERIOD}, tenant=tenant, agent=agent)


DASHBOARD_TENANT_KEY = "cost_dashboard_tenant"


def dashboard_tenant(request) -> tuple[Tenant, list[Tenant]]:
    """`?tenant=` when given; else the tenant chosen last time (kept in the session); else the first tenant by
    name that has invocations, so the page opens on figures rather than an empty state."""
    if request.GET.get("tenant"):
        tenant, tenants = chosen_tenant(request)
    else:
        tenants = list(
            user_tenants(request.user)
            .annotate(has_data=Exists(Invocation.objects.filter(tenant=OuterRef("pk"))))
            .order_by("name")
        )
        if not tenants:
            raise PermissionDenied
        remembered = request.session.get(DASHBOARD_TENANT_KEY)
        tenant = next((t for t in tenants if t.slug == remembered), None)
        tenant = tenant or next((t for t in tenants if t.has_data), tenants[0])
    if request.session.get(DASHBOARD_TENANT_KEY) != tenant.slug:
        request.session[DASHBOARD_TENANT_KEY] = tenant.slug
    return tenant, tenants


def chosen_filters(request, *, tenant, agents) -> trends.TrendFilters:
    try:
        return trends.trend_filters(request.GET, agents=agents, tenant=tenant)
    except ApplicationError as exc:
        messages.error(request, f"{exc.message} Showing every agent.")
        return trends.TrendFilters()


def spend_row(name, totals) -> dict:
    """A row of the dashboard's tables: the cache-stats JSON of `totals`, spend first."""
    return {"name": name, **serializers.totals_json(totals)}


def cost_dashboard(request):
    """Spend, savings and hit rate over time (hourly up to two days, daily beyond), per agent and family,
    for the tenant's agents narrowed by agent, model family or model, and by the API key that asked."""
    tenant, tenants = dashboard_tenant(request)
    period = chosen_period(request, tenant=tenant)
    agents = trends.tenant_agents(tenant)
    filters = chosen_filters(request, tenant=tenant, agents=agents)
    trend = trends.tenant_trend(tenant=tenant, period=period, filters=filters, agents=agents)
    stats = {
        "period": serializers.period_json(period),
        "currency": "USD",
        **serializers.totals_json(trend.totals),
        "by_key": [serializers.key_row_json(row) for row in trend.by_key],
    }
    buckets = [{"label": b.label, **serializers.totals_json(b.totals)} for b in trend.buckets]
    agent_rows = [
        {"agent": serializers.agent_json(row.agent), **serializers.totals_json(row.totals)} for row in trend.agents
    ]
    families = {a.model.family.slug: a.model.family.name for a in agents}
    empty = not (trend.totals.total_invocations or trend.totals.failed_invocations)
    context = {
        **admin.site.each_context(request),
        "title": f"Cost dashboard: {tenant.name}",
        "tenant": tenant,
        "tenants": tenants,
        "period": period,
        "period_choices": PERIOD_CHOICES,
        "filters": filters,
        "agent_choices": agents,
        "family_choices": sorted(families.items(), key=lambda item: item[1]),
        "model_choices": sorted({(a.model.model_id, a.model.display_name) for a in agents}, key=lambda m: m[1]),
        "key_choices": list(TenantAPIKey.objects.filter(tenant=tenant).only("pk", "name", "prefix").order_by("name")),
        "empty": empty,
        "grain": trend.grain,
        "stats": stats,
        "agent_rows": agent_rows,
        "by_family": [{"family": f.family, **spend_row(f.name, f.totals)} for f in trend.by_family],
        "least_benefit": [
            {
                "agent": serializers.agent_json(row.agent),
                "reasons": row.reasons,
                "cache_min_tokens": row.agent.model.cache_min_tokens,
                "net_savings": money(row.totals.net_savings),
            }
            for row in trend.least_benefit
        ],
        "trend_chart": charts.trend_chart(
            buckets, grain=trend.grain, caching=bool(trend.totals.caching_enabled_invocations)
        ),
        "agents_chart": charts.bar_list_chart(
            [(row["agent"]["name"], row["cost"]) for row in agent_rows],
            label="Spend by agent",
            color=charts.SPEND_COLOR,
        ),
        "reports": list(
            reports.cache_report_list(tenant=tenant).only("pk", "period_start", "period_end", "emailed_at")[:5]
        ),
        # The empty state is the page's only word on an empty period: no advice panel to queue or show.
        "advice": None if empty else tenant_advice(request, tenant=tenant, period=period),
    }
    return TemplateResponse(request, "admin/caching/dashboard.html", context)


ADVICE_AGENTS_SHOWN = 10


def tenant_advice(request, *, tenant, period) -> dict:
    """The dashboard's cache-advice panel (= GET /api/cache-advice/): stored advice, stale ones queued."""
    items = advice_services.cache_advice_queue(tenant=tenant, period=period)
    data = serializers.tenant_cache_advice_json(tenant=tenant, period=period, items=items)
    data["agents"] = data["agents"][:ADVICE_AGENTS_SHOWN]
    return data


def agent_advice(*, agent, period) -> dict | None:
    """The agent page's cache-advice section (= GET /api/agents/{id}/cache-advice/): stored, or queued."""
    items = advice_services.cache_advice_queue(tenant=agent.tenant, period=period, agent=agent)
    return serializers.cache_advice_json(items[0]) if items else None


# --- An agent's caching page (served under the agents admin) ------------------------------------

SESSIONS_SHOWN = 20
DEPLOYMENTS_SHOWN = 5


def caching_figures_context(request, *, agent) -> dict:
    """What the caching page's figures need (its stats and sessions), for the page and for the partial alike."""
    period = chosen_period(request, tenant=agent.tenant, agent=agent)
    stats = serializers.agent_cache_stats_json(
        agent_cache_stats(tenant=agent.tenant, agent=agent, period=period, sessions_limit=SESSIONS_SHOWN)
    )
    grain = trends.trend_grain(period)
    if grain == "hour":
        trend = trends.tenant_trend(
            tenant=agent.tenant, period=period, filters=trends.TrendFilters(agent_id=agent.pk), agents=[agent]
        )
        buckets = [{"label": b.label, **serializers.totals_json(b.totals)} for b in trend.buckets]
    else:
        buckets = [{"label": row["day"], **row} for row in stats["by_day"]]
    # A model that cannot cache, and no turn of the period cached: its page is about spend, not savings.
    caching_available = agent.model.supports_prompt_caching or stats["caching_enabled_invocations"] > 0
    return {
        "agent": agent,
        "period": period,
        "period_choices": PERIOD_CHOICES,
        "stats": stats,
        "caching_available": caching_available,
        "cannot_cache_reason": agent_pages.cannot_cache_reason(agent.model),
        "chart_grain": grain,
        "daily_chart": charts.trend_chart(buckets, grain=grain, caching=caching_available),
        "api_url": reverse("agent-cache-stats", args=[agent.pk]),
    }


def agent_caching_figures(request, object_id):
    """The caching page's stats and sessions alone (GET, same parameters): the page swaps them in after a turn."""
    agent = scoped_object(admin.site.get_model_admin(Agent), request, object_id)
    return TemplateResponse(
        request, "admin/agents_app/agent/caching_figures.html", caching_figures_context(request, agent=agent)
    )


def agent_caching_page(request, object_id):
    """The agent's caching state and toggle, spend and cache stats (`GET /api/agents/{id}/cache-stats/`), a
    chart, recent deployments, sessions and the invoke panel (whose POSTs the agents admin serves)."""
    model_admin = admin.site.get_model_admin(Agent)
    agent = scoped_object(model_admin, request, object_id)
    figures = caching_figures_context(request, agent=agent)
    state = agent_selectors.caching_state(agent)
    can_change = model_admin.has_change_permission(request, agent)
    # The agents admin reads the highest deployed version with the row (`deployed`); the one invocations run.
    current_version = (
        agent.deployed if hasattr(agent, "deployed") else agent_selectors.deploy_state(agent).current_version
    )
    query = request.GET.urlencode()
    context = {
        **model_admin.admin_site.each_context(request),
        **figures,
        "title": f"{agent.name}: caching and invocations",
        "opts": model_admin.model._meta,
        "original": agent,
        "state": state,
        "can_change": can_change,
        "prompt_size_note": agent_pages.prompt_size_note(agent, state),
        "deployments": [
            (deployment, deployment.version == current_version)
            for deployment in agent.deployments.order_by("-version")[:DEPLOYMENTS_SHOWN]
        ],
        "figures_url": reverse("admin:agents_app_agent_caching_figures", args=[agent.pk])
        + (f"?{query}" if query else ""),
        "advice": agent_advice(agent=agent, period=figures["period"]),
        "advice_url": reverse("agent-cache-advice", args=[agent.pk]),
    }
    return TemplateResponse(request, "admin/agents_app/agent/caching.html", context)
