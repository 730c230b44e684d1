"""The JSON shape of the cache stats: the API's answers, the stored reports' `stats`, the admin pages' context.

Plain functions that build dicts from the reads' data (`caching.stats`).
Money is written as USD strings with 6 places (`pricing.costs.money`), rates
as fractions rounded to 6 places, dates and times in ISO 8601 (UTC).
"""

from __future__ import annotations

from agents_app.models import Agent
from agents_app.sessions import SessionCacheSummary
from caching.models import CacheAdvice, CacheReport
from caching.periods import Period
from caching.stats import AgentCacheStats, AgentTotals, KeyTotals, ScopeStats, TenantCacheStats
from caching.totals import CacheTotals
from pricing.costs import money, money_figures, spend_shown


def period_json(period: Period) -> dict:
    return {
        "name": period.name,
        "from": period.day_from.isoformat(),
        "to": period.day_to.isoformat(),
        "days": period.days,
    }


def totals_json(totals: CacheTotals) -> dict:
    figures = money_figures(totals)
    return {
        "total_invocations": totals.total_invocations,
        "failed_invocations": totals.failed_invocations,
        "caching_enabled_invocations": totals.caching_enabled_invocations,
        "cache_hits": totals.cache_hits,
        "hit_rate": totals.hit_rate,
        "no_cache_activity_invocations": totals.no_cache_activity_invocations,
        "miss_reasons": totals.miss_reasons,
        "input_tokens": totals.input_tokens,
        "cache_read_tokens": totals.cache_read_tokens,
        "cache_write_tokens": totals.cache_write_tokens,
        "total_input_tokens": totals.total_input_tokens,
        "output_tokens": totals.output_tokens,
        "efficiency_ratio": totals.efficiency_ratio,
        **figures,
        "cost": spend_shown(figures),
    }


def agent_json(agent: Agent) -> dict:
    return {
        "id": agent.pk,
        "name": agent.name,
        "model_id": agent.model.model_id,
        "family": agent.model.family.slug,
    }


def scope_stats_json(stats: ScopeStats) -> dict:
    return {
        "period": period_json(stats.period),
        "currency": "USD",
        **totals_json(stats.totals),
        "by_day": [{"day": day.isoformat(), **totals_json(totals)} for day, totals in stats.by_day],
        "by_period": {
            name: {"from": p.day_from.isoformat(), "to": p.day_to.isoformat(), **totals_json(totals)}
            for name, (p, totals) in stats.by_period.items()
        },
    }


def session_json(summary: SessionCacheSummary) -> dict:
    return {
        "id": summary.id,
        "session_id": summary.session_id,
        "invocations": summary.invocations,
        "failed_invocations": summary.failed_invocations,
        "first_invoked_at": summary.first_invoked_at.isoformat() if summary.first_invoked_at else None,
        "last_invoked_at": summary.last_invoked_at.isoformat() if summary.last_invoked_at else None,
        "first_write_tokens": summary.first_write_tokens,
        "later_read_tokens": summary.later_read_tokens,
        "input_tokens": summary.input_tokens,
        "cache_read_tokens": summary.cache_read_tokens,
        "cache_write_tokens": summary.cache_write_tokens,
        "output_tokens": summary.output_tokens,
        "cache_hits": summary.cache_hits,
        "net_savings": money(summary.net_savings),
        "cost": money(summary.cost),
        "cache_expirations": summary.cache_expirations,
        "max_idle_seconds": round(summary.max_idle_seconds, 3),
        "cached_tokens": summary.cached_tokens,
        "uncached_tokens": summary.uncached_tokens,
        "efficiency_ratio": summary.efficiency_ratio,
        "cache_expired": summary.cache_expired,
        "miss_reasons": summary.miss_reasons,
    }


def agent_cache_stats_json(data: AgentCacheStats) -> dict:
    """`GET /api/agents/{id}/cache-stats/` and the agent's caching page."""
    return {
        "agent": agent_json(data.agent),
        **scope_stats_json(data.stats),
        "sessions": [session_json(summary) for summary in data.sessions],
        "sessions_limit": data.sessions_limit,
        "sessions_has_more": data.sessions_has_more,
    }


def _agent_row(item: AgentTotals, **extra) -> dict:
    return {"agent": agent_json(item.agent), **extra, **totals_json(item.totals)}


def key_row_json(item: KeyTotals) -> dict:
    """Spend and savings of what one API key asked for; `api_key` null for the admin and commands."""
    key = item.api_key
    return {
        "api_key": {"prefix": key.prefix, "name": key.name} if key is not None else None,
        "spend": money(item.totals.spend),
        **totals_json(item.totals),
    }


def tenant_cache_stats_json(data: TenantCacheStats) -> dict:
    """`GET /api/cache-stats/`, the cost dashboard and a stored report's `stats`."""
    shaped = {
        "tenant": {"slug": data.tenant.slug, "name": data.tenant.name},
        **scope_stats_json(data.stats),
        "by_family": [{"family": f.family, "name": f.name, **totals_json(f.totals)} for f in data.by_family],
        "top_agents": [_agent_row(item) for item in data.top_agents],
        "least_benefit": [
            _agent_row(item, reasons=item.reasons, cache_min_tokens=item.agent.model.cache_min_tokens)
            for item in data.least_benefit
        ],
    }
    shaped["by_key"] = [key_row_json(item) for item in data.by_key]
    if data.agents is not None:
        shaped["agents"] = [_agent_row(item) for item in data.agents]
    return shaped


def cache_report_json(report: CacheReport) -> dict:
    return {
        "id": report.pk,
        "period_start": report.period_start.isoformat(),
        "period_end": report.period_end.isoformat(),
        "created_at": report.created_at.isoformat(),
        "emailed_at": report.emailed_at.isoformat() if report.emailed_at and report.recipients else None,
        # Who got it: empty until someone did (a report nobody could receive is not emailed).
        "recipients": report.recipients if report.emailed_at else [],
        "stats": report.stats,
    }


def cache_report_preview_json(preview) -> dict:
    """`GET /api/cache-reports/preview/`: the report of the current period so far (not stored, not mailed)."""
    return {
        "period_start": preview.period.day_from.isoformat(),
        "period_end": preview.period.day_to.isoformat(),
        "so_far": True,
        "stats": preview.stats,
    }


def cache_advice_json(advice: CacheAdvice) -> dict:
    """`GET /api/agents/{id}/cache-advice/`: the stored advice, with when and from what it was computed.

    While a computation is queued or running, `status` says so and `progress`
    how far it got; the figures of the last computation (if any) stay in place.
    """
    period = Period(advice.period_from, advice.period_to)
    return {
        "agent": agent_json(advice.agent),
        "period": period_json(period),
        "status": advice.status,
        "progress": advice.progress,
        "requested_at": advice.requested_at.isoformat(),
        "computed_at": advice.computed_at.isoformat() if advice.computed_at else None,
        "computed_from": {
            "invocations": advice.invocations,
            "through_invocation_id": advice.through_invocation_id,
        },
        "error": advice.error or None,
        **advice.data,
    }


def cache_advice_row_json(advice: CacheAdvice) -> dict:
    """One agent of `GET /api/cache-advice/`: what it leaves on the table and what to change."""
    found = advice.data.get("advice") or {}
    return {
        "agent": agent_json(advice.agent),
        "status": advice.status,
        "progress": advice.progress,
        "computed_at": advice.computed_at.isoformat() if advice.computed_at else None,
        "invocations": advice.invocations,
        "left_on_table": money(advice.left_on_table),
        **{
            name: found.get(name)
            for name in (
                "left_on_table_30d",
                "left_on_table_ratio",
                "current",
                "current_cost",
                "cheapest",
                "saving_30d",
                "summary",
            )
        },
        "one_hour_ttl": (found.get("one_hour_ttl") or {}).get("verdict"),
    }


def tenant_cache_advice_json(*, tenant, period: Period, items: list[CacheAdvice]) -> dict:
    """`GET /api/cache-advice/`, the dashboard's panel and the weekly report's section: agents ranked by the
    money left on the table (ready ones first)."""
    ranked = sorted(items, key=lambda a: (a.status != CacheAdvice.Status.READY, -a.left_on_table, a.agent.name))
    return {
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        "period": period_json(period),
        "currency": "USD",
        "agents": [cache_advice_row_json(advice) for advice in ranked],
        "pending": sum(advice.status != CacheAdvice.Status.READY for advice in items),
    }
