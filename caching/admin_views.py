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
from django.template.response import TemplateResponse
from django.urls import reverse

from agent_platform.errors import ApplicationError
from agent_platform.tenancy import chosen_tenant, scoped_object
from agents_app import admin_views as agent_pages
from agents_app import selectors as agent_selectors
from agents_app.models import Agent
from caching import advice_services, charts, reports, serializers
from caching.periods import DEFAULT_PERIOD, PERIOD_DAYS, period_from_params
from caching.stats import agent_cache_stats, tenant_cache_stats

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
        "advice": tenant_advice(request, tenant=tenant, period=period),
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


def agent_caching_page(request, object_id):
    """The agent's caching state and toggle, cache stats (`GET /api/agents/{id}/cache-stats/`), a chart,
    recent deployments, sessions and the invoke panel (whose POSTs the agents admin serves)."""
    model_admin = admin.site.get_model_admin(Agent)
    agent = scoped_object(model_admin, request, object_id)
    period = chosen_period(request, tenant=agent.tenant, agent=agent)
    stats = serializers.agent_cache_stats_json(
        agent_cache_stats(tenant=agent.tenant, agent=agent, period=period, sessions_limit=SESSIONS_SHOWN)
    )
    state = agent_selectors.caching_state(agent)
    can_change = model_admin.has_change_permission(request, agent)
    # The agents admin reads the highest deployed version with the row (`deployed`); the one invocations run.
    current_version = (
        agent.deployed if hasattr(agent, "deployed") else agent_selectors.deploy_state(agent).current_version
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{agent.name}: caching and invocations",
        "opts": model_admin.model._meta,
        "original": agent,
        "agent": agent,
        "state": state,
        "can_change": can_change,
        "cannot_cache_reason": ""
        if agent.model.supports_prompt_caching
        else agent_pages.cannot_cache_reason(agent.model),
        "prompt_size_note": agent_pages.prompt_size_note(agent, state),
        "period": period,
        "period_choices": PERIOD_CHOICES,
        "stats": stats,
        "daily_chart": charts.daily_savings_chart(stats["by_day"]),
        "deployments": [
            (deployment, deployment.version == current_version)
            for deployment in agent.deployments.order_by("-version")[:DEPLOYMENTS_SHOWN]
        ],
        "api_url": reverse("agent-cache-stats", args=[agent.pk]),
        "advice": agent_advice(agent=agent, period=period),
        "advice_url": reverse("agent-cache-advice", args=[agent.pk]),
    }
    return TemplateResponse(request, "admin/agents_app/agent/caching.html", context)
