"""Cache stats of an agent, of a tenant, and of every agent (for `/metrics`): data, shaped by `caching.serializers`.

What is counted: `caching.sums`. Which days come from rollups:
`caching.rollups`. Every read of a tenant's figures takes the tenant, and an
agent read refuses another tenant's agent (`Agent.DoesNotExist`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import OuterRef, Subquery

from agent_platform.models import Tenant, TenantAPIKey
from agents_app.models import Agent, Invocation
from agents_app.selectors import agent_check
from agents_app.sessions import SessionCacheSummary
from caching.models import CacheRollupDay
from caching.periods import UTC, Period, days_between, recent_periods, utc_today
from caching.sessions import agent_cache_sessions
from caching.totals import CacheTotals, grouped_cache_totals, grouped_cache_totals_many


@dataclass
class ScopeStats:
    """One scope's (an agent's or a tenant's) totals over the period, by day, and over the recent periods."""

    period: Period
    totals: CacheTotals
    by_day: list[tuple[dt.date, CacheTotals]]
    by_period: dict[str, tuple[Period, CacheTotals]]
    by_agent: dict[int, CacheTotals] = field(default_factory=dict)
    by_key: dict[str | None, CacheTotals] = field(default_factory=dict)


def _scope_stats(
    *, tenant_id: int, agent_id: int | None, period: Period, today: dt.date | None, use_rollups: bool
) -> ScopeStats:
    today = today or utc_today()
    # Kept in the process between rollup refreshes (`caching.settled`): dashboards ask the same again and again.
    common = {"agent_id": agent_id, "today": today, "use_rollups": use_rollups, "keep": True}
    recent = recent_periods(today)
    month = recent["last_30_days"]
    # The recent periods' days are read with the period's when they are near it (7d, a custom range of the
    # last months): one read of a few more days costs less than a second read.
    span = Period(min(period.day_from, month.day_from), max(period.day_to, month.day_to))
    if span.days > period.days + 2 * month.days:
        span = period
    groupings, ranges = [("day",)], [None]
    if agent_id is None:
        scope_range = None if span.covers(period) and period.covers(span) else (period.day_from, period.day_to)
        groupings += [("agent_id",), ("api_key_id",)]
        ranges += [scope_range, scope_range]
    per_day, *per_scope = grouped_cache_totals_many(
        tenant_from={tenant_id: span.day_from}, day_to=span.day_to, groupings=groupings, ranges=ranges, **common
    )
    per_day = {key[0]: totals for key, totals in per_day.items()}
    by_agent = {key[0]: totals for key, totals in per_scope[0].items()} if per_scope else {}
    by_key = {key[0]: totals for key, totals in per_scope[1].items()} if per_scope else {}
    if span.covers(month):
        recent_days = per_day
    else:
        recent_days = {
            key[0]: totals
            for key, totals in grouped_cache_totals(
                tenant_from={tenant_id: month.day_from}, day_to=month.day_to, keys=("day",), **common
            ).items()
        }
    by_period = {
        name: (p, CacheTotals.total(t for day, t in recent_days.items() if p.day_from <= day <= p.day_to))
        for name, p in recent.items()
    }
    by_day = [(day, per_day.get(day, CacheTotals())) for day in days_between(period.day_from, period.day_to)]
    return ScopeStats(
        period=period,
        totals=CacheTotals.total(totals for _, totals in by_day),
        by_day=by_day,
        by_period=by_period,
        by_agent=by_agent,
        by_key=by_key,
    )


# --- One agent -----------------------------------------------------------------------------------


@dataclass
class AgentCacheStats:
    agent: Agent
    stats: ScopeStats
    sessions: list[SessionCacheSummary]
    sessions_limit: int
    sessions_has_more: bool


def agent_cache_stats(
    *,
    tenant: Tenant,
    agent: Agent,
    period: Period,
    sessions_limit: int = 20,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> AgentCacheStats:
    """`GET /api/agents/{id}/cache-stats/`: totals, by day, by period and the most recent sessions."""
    agent_check(tenant=tenant, agent=agent)
    stats = _scope_stats(tenant_id=tenant.pk, agent_id=agent.pk, period=period, today=today, use_rollups=use_rollups)
    sessions, has_more = agent_cache_sessions(tenant=tenant, agent=agent, period=period, limit=sessions_limit)
    return AgentCacheStats(
        agent=agent, stats=stats, sessions=sessions, sessions_limit=sessions_limit, sessions_has_more=has_more
    )


# --- One tenant ----------------------------------------------------------------------------------


@dataclass
class AgentTotals:
    agent: Agent
    totals: CacheTotals
    reasons: list[str] = field(default_factory=list)


@dataclass
class FamilyTotals:
    family: str  # slug
    name: str
    totals: CacheTotals


@dataclass
class KeyTotals:
    """Who asked: an API key of the tenant, or None for invocations no key asked for (the admin, commands)."""

    api_key: TenantAPIKey | None
    totals: CacheTotals


@dataclass
class TenantCacheStats:
    tenant: Tenant
    stats: ScopeStats
    by_family: list[FamilyTotals]
    top_agents: list[AgentTotals]
    least_benefit: list[AgentTotals]
    agents: list[AgentTotals] | None = None
    by_key: list[KeyTotals] = field(default_factory=list)


def least_benefit_reasons(totals: CacheTotals) -> list[str]:
    """Why an agent with caching on gains little from it; empty when it does gain."""
    if not totals.caching_enabled_invocations:
        return []
    reasons = []
    if totals.no_cache_activity_invocations == totals.caching_enabled_invocations:
        reasons.append("below_minimum_tokens")
    elif totals.cache_write_tokens and not totals.cache_read_tokens:
        reasons.append("writes_never_read")
    return reasons


def tenant_cache_stats(
    *,
    tenant: Tenant,
    period: Period,
    top: int = 5,
    all_agents: bool = False,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> TenantCacheStats:
    """`GET /api/cache-stats/`: the tenant's totals, by day, by period, by family, top and least-benefit agents.

    `top_agents`: the `top` agents by net saving. `least_benefit`: agents whose
    caching-enabled invocations never read nor wrote the cache (their prompt is
    below the model's minimum tokens per checkpoint: `below_minimum_tokens`), or
    that wrote the cache and never read it back (`writes_never_read`), worst
    net saving first, at most `top`. `all_agents` adds `agents`, every agent
    with invocations in the period (the stored reports keep it).
    """
    stats = _scope_stats(tenant_id=tenant.pk, agent_id=None, period=period, today=today, use_rollups=use_rollups)
    named = Agent.objects.filter(tenant=tenant, pk__in=list(stats.by_agent)).select_related("model__family")
    # What the figures are shown with (`caching.serializers`, the families, the pages): not the prompts.
    shown = ("tenant_id", "name", "model__model_id", "model__cache_min_tokens", "model__family__slug")
    named = named.only(*shown, "model__family__name")
    agents = {a.pk: a for a in named.order_by()}
    active = [
        AgentTotals(agents[agent_id], totals)
        for agent_id, totals in stats.by_agent.items()
        if agent_id in agents and (totals.total_invocations or totals.failed_invocations)
    ]

    families: dict[str, FamilyTotals] = {}
    for item in active:
        family = item.agent.model.family
        families.setdefault(family.slug, FamilyTotals(family.slug, family.name, CacheTotals())).totals.add(item.totals)

    by_net = sorted(active, key=lambda item: (-item.totals.net_savings, item.agent.name))
    least = [AgentTotals(i.agent, i.totals, least_benefit_reasons(i.totals)) for i in active]
    least = sorted((i for i in least if i.reasons), key=lambda i: (i.totals.net_savings, i.agent.name))
    return TenantCacheStats(
        tenant=tenant,
        by_key=key_totals(tenant, stats.by_key),
        stats=stats,
        by_family=sorted(families.values(), key=lambda f: f.name),
        top_agents=by_net[:top],
        least_benefit=least[:top],
        agents=sorted(active, key=lambda i: i.agent.name) if all_agents else None,
    )


# --- Reads for other pages: time series, admin cost columns, alert rules ---------------------------
# Each reads the rollups (daily, hourly) and only the live rest, like the cache stats: none scans the
# invocations of a closed period.


def period_cache_totals(*, tenant: Tenant, period: Period, agent: Agent | None = None) -> CacheTotals:
    """The tenant's (or its agent's) totals over the period."""
    agent_id = agent_check(tenant=tenant, agent=agent).pk if agent is not None else None
    grouped = grouped_cache_totals(
        tenant_from={tenant.pk: period.day_from}, day_to=period.day_to, keys=(), agent_id=agent_id
    )
    return grouped.get((), CacheTotals())


def period_cache_totals_by_day(
    *, tenant: Tenant, period: Period, agent: Agent | None = None
) -> list[tuple[dt.date, CacheTotals]]:
    """Every day of the period with its totals (zeros on a day without invocations): a time series."""
    agent_id = agent_check(tenant=tenant, agent=agent).pk if agent is not None else None
    grouped = grouped_cache_totals(
        tenant_from={tenant.pk: period.day_from}, day_to=period.day_to, keys=("day",), agent_id=agent_id
    )
    return [(day, grouped.get((day,), CacheTotals())) for day in days_between(period.day_from, period.day_to)]


def period_cache_totals_by_agent(*, tenants: Iterable[Tenant], period: Period) -> dict[int, CacheTotals]:
    """Per agent id, the totals over the period of the agents of `tenants` (the caller's, for a list's columns)
    that had invocations in it."""
    grouped = grouped_cache_totals(
        tenant_from={t.pk: period.day_from for t in tenants}, day_to=period.day_to, keys=("agent_id",)
    )
    return {key[0]: totals for key, totals in grouped.items()}


# --- Every agent ---------------------------------------------------------------------------------


def cache_totals_by_agent(*, today: dt.date | None = None) -> list[tuple[Agent, CacheTotals]]:
    """All-time totals of every agent of every tenant, with the attempts and timing histograms: six queries,
    however many tenants.

    Platform-wide on purpose (`/metrics` is scraped by the operator, not a
    tenant), so it takes no tenant.
    """
    today = today or utc_today()
    first_invocation = Invocation.objects.filter(tenant=OuterRef("pk")).order_by("queued_at").values("queued_at")[:1]
    first_rollup = CacheRollupDay.objects.filter(tenant=OuterRef("pk")).order_by("day").values("day")[:1]
    tenant_from = {}
    for tenant_id, first_at, first_day in Tenant.objects.annotate(
        first_at=Subquery(first_invocation), first_day=Subquery(first_rollup)
    ).values_list("pk", "first_at", "first_day"):
        candidates = [d for d in (first_at and first_at.astimezone(UTC).date(), first_day) if d]
        if candidates:
            tenant_from[tenant_id] = min(candidates)
    if not tenant_from:
        return []
    grouped = grouped_cache_totals(tenant_from=tenant_from, day_to=today, keys=("agent_id",), today=today, metrics=True)
    agents = Agent.objects.filter(pk__in=[key[0] for key in grouped]).select_related("tenant", "model")
    return [(agent, grouped[(agent.pk,)]) for agent in agents.order_by("tenant__slug", "name")]


def key_totals(tenant: Tenant, by_key: dict[str | None, CacheTotals]) -> list[KeyTotals]:
    """Totals by the tenant's API key that asked (None: the admin, commands), those with invocations, highest
    spend first."""
    keys = TenantAPIKey.objects.filter(tenant=tenant, pk__in=[key_id for key_id in by_key if key_id]).in_bulk()
    rows: dict[str | None, KeyTotals] = {}
    for key_id, totals in by_key.items():
        # A key deleted since the rollups were read is no key, as its invocations and rollup rows now say.
        key = keys.get(key_id)
        rows.setdefault(key and key.pk, KeyTotals(key, CacheTotals())).totals.add(totals)
    shown = [row for row in rows.values() if row.totals.total_invocations or row.totals.failed_invocations]
    return sorted(shown, key=lambda row: (-row.totals.spend, row.api_key.prefix if row.api_key else ""))
