"""The cost dashboard's trend: spend, savings and hit rate over time and per agent, for a filtered set of agents.

Read through `caching.totals.grouped_cache_totals_many`, so the figures are
the cache-stats API's (rollups for settled days, live rows for the rest) and
get faster with whatever that engine learns: hours come from live rows until
the engine reads hourly rollups. Buckets are UTC hours for a period of up to
`HOURLY_MAX_DAYS` days, UTC days beyond. The filters narrow the tenant's
agents (one agent, a model family, a model) and who asked (one API key, or
none: the admin and commands); every figure on the page is then the sum over
those agents' invocations by that key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.models import Tenant, TenantAPIKey
from agents_app.admin_spend import AgentSpend
from agents_app.models import Agent
from caching.periods import UTC, Period, day_start, days_between, utc_today
from caching.stats import AgentTotals, FamilyTotals, KeyTotals, key_totals, least_benefit_reasons
from caching.totals import CacheTotals, grouped_cache_totals, grouped_cache_totals_many

HOURLY_MAX_DAYS = 2
ONE_HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class TrendFilters:
    """Which of the tenant's agents and API keys count. Empty means "all".

    With a key filter every figure is read grouped by "api_key_id" (the
    per-key rollups for settled days, live rows otherwise), never from the
    per-agent rollups, which cannot tell keys apart.
    """

    agent_id: int | None = None
    family: str = ""  # ModelFamily.slug
    model: str = ""  # FoundationModel.model_id
    api_key: TenantAPIKey | None = None
    no_key: bool = False  # only what no key asked for: the admin, commands

    @property
    def by_key(self) -> bool:
        return self.api_key is not None or self.no_key

    @property
    def key_id(self) -> str | None:
        return self.api_key.pk if self.api_key is not None else None

    @property
    def key_param(self) -> str:
        """The `?key=` value that chose this filter ("" for none)."""
        return self.api_key.prefix if self.api_key is not None else ("none" if self.no_key else "")

    @property
    def active(self) -> bool:
        return bool(self.agent_id or self.family or self.model or self.by_key)


@dataclass
class Bucket:
    start: dt.datetime
    label: str
    totals: CacheTotals


@dataclass
class Trend:
    period: Period
    grain: str  # "hour" or "day"
    filters: TrendFilters
    totals: CacheTotals
    buckets: list[Bucket]
    agents: list[AgentTotals]  # every matching agent with invocations in the period, highest cost first
    by_family: list[FamilyTotals]
    least_benefit: list[AgentTotals] = field(default_factory=list)
    by_key: list[KeyTotals] = field(default_factory=list)  # highest spend first; no key: the admin, commands


NO_KEY = "none"


def trend_filters(params, *, agents: list[Agent], tenant: Tenant) -> TrendFilters:
    """The filters of a query dict (`agent`, `family`, `model`, `key`), or an ApplicationError naming the bad one.
    `agents` are the tenant's: an agent, family or model none of them has is refused. `key` is the prefix of
    one of the tenant's API keys, or "none" for what no key asked for (the admin, commands)."""
    values = {name: (params.get(name) or "").strip() for name in ("agent", "family", "model", "key")}
    agent_id = None
    if values["agent"]:
        if not values["agent"].isdigit() or int(values["agent"]) not in {a.pk for a in agents}:
            raise ApplicationError(f"No agent {values['agent']!r} in this tenant.", field="agent")
        agent_id = int(values["agent"])
    if values["family"] and values["family"] not in {a.model.family.slug for a in agents}:
        raise ApplicationError(f"No agent of this tenant runs a model of family {values['family']!r}.", field="family")
    if values["model"] and values["model"] not in {a.model.model_id for a in agents}:
        raise ApplicationError(f"No agent of this tenant runs the model {values['model']!r}.", field="model")
    return TrendFilters(
        agent_id=agent_id,
        family=values["family"],
        model=values["model"],
        api_key=_tenant_key(tenant, values["key"]) if values["key"] not in ("", NO_KEY) else None,
        no_key=values["key"] == NO_KEY,
    )


def _tenant_key(tenant: Tenant, value: str) -> TenantAPIKey:
    """The tenant's API key with this prefix (its id holds the key's hash: never in a URL); another tenant's is
    as unknown as a made-up one."""
    key = TenantAPIKey.objects.filter(tenant=tenant, prefix=value).first()
    if key is None:
        raise ApplicationError(f"No API key {value!r} in this tenant.", field="key")
    return key


def agents_matching(agents: list[Agent], filters: TrendFilters) -> list[Agent]:
    return [
        agent
        for agent in agents
        if (filters.agent_id is None or agent.pk == filters.agent_id)
        and (not filters.family or agent.model.family.slug == filters.family)
        and (not filters.model or agent.model.model_id == filters.model)
    ]


def trend_grain(period: Period) -> str:
    return "hour" if period.days <= HOURLY_MAX_DAYS else "day"


def _bucket_starts(period: Period, grain: str, today: dt.date) -> list[dt.datetime]:
    if grain == "day":
        return [day_start(day) for day in days_between(period.day_from, period.day_to)]
    end = period.end
    if period.day_to >= today:  # no empty hours after this one
        now = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        end = min(end, now + ONE_HOUR)
    starts, moment = [], period.start
    while moment < end:
        starts.append(moment)
        moment += ONE_HOUR
    return starts


def _label(start: dt.datetime, grain: str) -> str:
    return start.strftime("%Y-%m-%d %H:00") if grain == "hour" else start.date().isoformat()


def tenant_agents(tenant: Tenant) -> list[Agent]:
    """The tenant's agents with their models and families: the filters' choices and the trend's rows."""
    return list(Agent.objects.filter(tenant=tenant).select_related("model__family").order_by("name"))


def tenant_trend(
    *,
    tenant: Tenant,
    period: Period,
    filters: TrendFilters,
    agents: list[Agent] | None = None,
    today: dt.date | None = None,
) -> Trend:
    """The tenant's (filtered) spend, savings and hit rate by hour or day, by agent and by family."""
    today = today or utc_today()
    agents = tenant_agents(tenant) if agents is None else agents
    chosen = {agent.pk: agent for agent in agents_matching(agents, filters)}
    grain = trend_grain(period)
    # Grouped by bucket alone when every agent counts (a few rows); by bucket and agent when only some do; and
    # by key as well when one key counts: only a grouping by "api_key_id" is read from rows that know the key.
    by_bucket_keys = (grain,) if not filters.active else (grain, "agent_id")
    by_agent_keys = ("agent_id",)
    if filters.by_key:
        by_bucket_keys, by_agent_keys = (grain, "agent_id", "api_key_id"), ("agent_id", "api_key_id")
    per_bucket, per_agent, per_agent_key = grouped_cache_totals_many(
        tenant_from={tenant.pk: period.day_from},
        day_to=period.day_to,
        groupings=[by_bucket_keys, by_agent_keys, ("agent_id", "api_key_id")],
        agent_id=filters.agent_id,
        today=today,
    )
    if filters.by_key:
        per_bucket = _of_key(per_bucket, filters.key_id)
        per_agent = _of_key(per_agent, filters.key_id)
        per_agent_key = {key: totals for key, totals in per_agent_key.items() if key[1] == filters.key_id}
    sums: dict[dt.datetime, CacheTotals] = {}
    for key, totals in per_bucket.items():
        if filters.active and key[1] not in chosen:
            continue
        start = key[0] if grain == "hour" else day_start(key[0])
        sums.setdefault(start.astimezone(UTC), CacheTotals()).add(totals)
    buckets = [
        Bucket(start, _label(start, grain), sums.get(start, CacheTotals()))
        for start in _bucket_starts(period, grain, today)
    ]

    rows = [
        AgentTotals(chosen[agent_id], totals)
        for (agent_id,), totals in per_agent.items()
        if agent_id in chosen and (totals.total_invocations or totals.failed_invocations)
    ]
    rows.sort(key=lambda row: (-(row.totals.cost_with_cache + row.totals.output_cost), row.agent.name))
    families: dict[str, FamilyTotals] = {}
    for row in rows:
        family = row.agent.model.family
        families.setdefault(family.slug, FamilyTotals(family.slug, family.name, CacheTotals())).totals.add(row.totals)
    least = [AgentTotals(row.agent, row.totals, least_benefit_reasons(row.totals)) for row in rows]
    return Trend(
        by_key=_by_key(tenant, per_agent_key, chosen),
        period=period,
        grain=grain,
        filters=filters,
        totals=CacheTotals.total(row.totals for row in rows),
        buckets=buckets,
        agents=rows,
        by_family=sorted(families.values(), key=lambda f: f.name),
        least_benefit=sorted((r for r in least if r.reasons), key=lambda r: (r.totals.net_savings, r.agent.name)),
    )


def _of_key(grouped: dict[tuple, CacheTotals], key_id: str | None) -> dict[tuple, CacheTotals]:
    """The rows of a grouping ending in "api_key_id" asked for by `key_id` (None: no key), without that key."""
    return {key[:-1]: totals for key, totals in grouped.items() if key[-1] == key_id}


def _by_key(tenant: Tenant, per_agent_key: dict[tuple, CacheTotals], chosen: dict[int, Agent]) -> list[KeyTotals]:
    """The chosen agents' totals by the API key that asked, highest spend first."""
    sums: dict[str | None, CacheTotals] = {}
    for (agent_id, key_id), totals in per_agent_key.items():
        if agent_id in chosen:
            sums.setdefault(key_id, CacheTotals()).add(totals)
    return key_totals(tenant, sums)


def agents_spend(agent_tenants: dict[int, int], day_from: dt.date, day_to: dt.date) -> dict[int, AgentSpend]:
    """The agents list's per-agent figures (`agents_app.admin_spend`; agents by id, with their tenants' ids), read
    like the cache stats: rollups for settled days, live rows for the rest; a few queries for the agents' tenants,
    whatever the volume."""
    grouped = grouped_cache_totals(
        tenant_from=dict.fromkeys(agent_tenants.values(), day_from), day_to=day_to, keys=("agent_id",)
    )
    return {
        agent_id: AgentSpend(
            input_cost=totals.cost_with_cache,
            output_cost=totals.output_cost,
            net_savings=totals.net_savings,
            hit_rate=totals.hit_rate if totals.caching_enabled_invocations else None,
        )
        for (agent_id,), totals in grouped.items()
        if agent_id in agent_tenants
    }
