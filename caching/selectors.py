"""Cache-stats reads: totals, by day, by period, by family, per agent and per session, for one tenant.

What counts
-----------
- The day of an invocation is the UTC date of its `queued_at` (when it was
  asked for, which never changes; `finished_at` is unset while it runs).
- Tokens, money, `total_invocations`, `caching_enabled_invocations` and
  `cache_hits` count **succeeded** invocations only. Failed ones are counted in
  `failed_invocations` and nowhere else; queued and running ones are not
  counted until they finish.
- Money is the sum of the per-invocation Decimal figures stored with the prices
  in force when each ran (never recomputed with today's prices), shown as USD
  decimal strings with exactly 6 places, rounded half-even (`pricing.costs.money`).
  Sums are exact on PostgreSQL; SQLite sums decimals as doubles, whose error
  stays far below 1e-6 for any realistic total.
- Rates (`hit_rate`, `efficiency_ratio`) are fractions in [0, 1] rounded to
  6 places, 0 when there is nothing to divide (`pricing.costs.ratio`).

Rollups and late arrivals
-------------------------
Closed days are read from `DailyCacheRollup` (one row per agent and day) and
today from the invocations themselves. A rollup can go stale in two ways, and
each is detected without scanning the day's invocations:

1. An invocation of the day was still queued or running when the day was
   summed: the day's `CacheRollupDay.open_invocations` is then above 0, and the
   day is read live until a later rollup finds it settled.
2. An invocation of the day arrived after it was summed (backdated imports,
   restores, a row committed late): it has an id above the day's
   `covers_through_id`, the highest invocation id when the day was summed or
   last checked. One query walks the primary key from the lowest watermark in
   range (the nightly rollup moves every watermark up, so that is about a
   day's rows) and finds such days; they are read live.

A closed day without a `CacheRollupDay` (never rolled up) is read live too.
So the answer never depends on whether or when rollups ran: the test suite
checks rollup-based and raw answers are identical. An invocation's costs and
status change only until it finishes (a finished invocation is never edited),
which is what makes "open at rollup time" the only status change to watch.
Deleting invocations (not agents, whose rollups go with them) is not
detected; re-run `backfill_rollups` for the days after such a deletion.

Family and model labels follow the agent's current model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from decimal import Decimal

from django.db.models import BigIntegerField, Count, ExpressionWrapper, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from agent_platform.models import Tenant
from agents_app.models import Agent, Invocation
from bedrock.facts import DEFAULT_TTL_SECONDS
from caching.models import CacheReport, CacheRollupDay, DailyCacheRollup
from pricing.costs import MONEY_FIELDS, TOKEN_FIELDS, money, ratio, total_input_tokens

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)
MAX_ID = 2**63 - 1
# Bedrock's default cache TTL: a session idle for longer finds its cache gone.
SESSION_CACHE_TTL = dt.timedelta(seconds=DEFAULT_TTL_SECONDS)

SUCCEEDED = Invocation.Status.SUCCEEDED
FAILED = Invocation.Status.FAILED
OPEN = (Invocation.Status.QUEUED, Invocation.Status.RUNNING)

COUNT_FIELDS = (
    "total_invocations",
    "failed_invocations",
    "caching_enabled_invocations",
    "cache_hits",
    "no_cache_activity_invocations",
)
SUM_FIELDS = COUNT_FIELDS + TOKEN_FIELDS + MONEY_FIELDS


# --- Small helpers -------------------------------------------------------------------------------


def utc_today() -> dt.date:
    return timezone.now().astimezone(UTC).date()


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=UTC)


def days_between(day_from: dt.date, day_to: dt.date) -> Iterator[dt.date]:
    day = day_from
    while day <= day_to:
        yield day
        day += ONE_DAY


def day_ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days merged into inclusive (first, last) ranges."""
    ranges: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + ONE_DAY == day:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [(first, last) for first, last in ranges]


def invocations_after(invocation_id: int) -> QuerySet[Invocation]:
    """Invocations with a larger id, read by walking the primary key from `invocation_id`.

    The upper bound is never reached; it is there because SQLite without
    statistics prices a one-sided range as a quarter of the table and scans a
    covering index instead, while a two-sided range gets the primary key.
    """
    return Invocation.objects.filter(pk__gt=invocation_id, pk__lt=MAX_ID)


def _unindexed(name: str) -> ExpressionWrapper:
    """`name + 0`: the same value, but no index on `name` applies, so the planner walks the primary key."""
    return ExpressionWrapper(F(name) + 0, output_field=BigIntegerField())


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included."""

    day_from: dt.date
    day_to: dt.date
    name: str = "custom"

    @property
    def days(self) -> int:
        return (self.day_to - self.day_from).days + 1

    @property
    def start(self) -> dt.datetime:
        return day_start(self.day_from)

    @property
    def end(self) -> dt.datetime:
        """Exclusive."""
        return day_start(self.day_to + ONE_DAY)

    def covers(self, other: Period) -> bool:
        return self.day_from <= other.day_from and other.day_to <= self.day_to

    def as_json(self) -> dict:
        return {"name": self.name, "from": self.day_from.isoformat(), "to": self.day_to.isoformat(), "days": self.days}


def recent_periods(today: dt.date) -> dict[str, Period]:
    return {
        "last_7_days": Period(today - 6 * ONE_DAY, today, "7d"),
        "last_30_days": Period(today - 29 * ONE_DAY, today, "30d"),
    }


# --- Totals --------------------------------------------------------------------------------------


def invocation_sums() -> dict:
    """The aggregates a rollup row stores, over invocations (see the module docstring for what counts)."""
    ok = Q(status=SUCCEEDED)
    enabled = ok & Q(caching_enabled=True)
    return {
        "total_invocations": Count("pk", filter=ok),
        "failed_invocations": Count("pk", filter=Q(status=FAILED)),
        "caching_enabled_invocations": Count("pk", filter=enabled),
        "cache_hits": Count("pk", filter=ok & Q(cache_hit=True)),
        "no_cache_activity_invocations": Count("pk", filter=enabled & Q(cache_read_tokens=0, cache_write_tokens=0)),
        **{name: Sum(name, filter=ok) for name in TOKEN_FIELDS + MONEY_FIELDS},
    }


def rollup_sums() -> dict:
    return {name: Sum(name) for name in SUM_FIELDS}


@dataclass
class CacheTotals:
    total_invocations: int = 0
    failed_invocations: int = 0
    caching_enabled_invocations: int = 0
    cache_hits: int = 0
    no_cache_activity_invocations: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cost_with_cache: Decimal = Decimal(0)
    cost_without_cache: Decimal = Decimal(0)
    gross_savings: Decimal = Decimal(0)
    write_premium: Decimal = Decimal(0)
    net_savings: Decimal = Decimal(0)
    output_cost: Decimal = Decimal(0)

    @classmethod
    def from_row(cls, row: dict) -> CacheTotals:
        totals = cls()
        totals.add_row(row)
        return totals

    def add_row(self, row: dict) -> None:
        for name in SUM_FIELDS:
            value = row.get(name)
            if value:
                setattr(self, name, getattr(self, name) + value)

    def add(self, other: CacheTotals) -> None:
        for name in SUM_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @classmethod
    def total(cls, items: Iterable[CacheTotals]) -> CacheTotals:
        result = cls()
        for item in items:
            result.add(item)
        return result

    @property
    def total_input_tokens(self) -> int:
        return total_input_tokens(self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)

    @property
    def hit_rate(self) -> float:
        return ratio(self.cache_hits, self.caching_enabled_invocations)

    @property
    def efficiency_ratio(self) -> float:
        return ratio(self.cache_read_tokens, self.total_input_tokens)

    def as_json(self) -> dict:
        return {
            "total_invocations": self.total_invocations,
            "failed_invocations": self.failed_invocations,
            "caching_enabled_invocations": self.caching_enabled_invocations,
            "cache_hits": self.cache_hits,
            "hit_rate": self.hit_rate,
            "no_cache_activity_invocations": self.no_cache_activity_invocations,
            "input_tokens": self.input_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "total_input_tokens": self.total_input_tokens,
            "output_tokens": self.output_tokens,
            "efficiency_ratio": self.efficiency_ratio,
            **{name: money(getattr(self, name)) for name in MONEY_FIELDS},
        }


# --- The reader: rollups for settled closed days, invocations for the rest ------------------------


def _fresh_rollup_days(
    tenant_from: dict[int, dt.date], closed_to: dt.date, agent_id: int | None
) -> dict[int, list[dt.date]]:
    """Per tenant, the closed days whose rollups can be trusted (see the module docstring)."""
    if closed_to < min(tenant_from.values()):
        return {}
    markers = CacheRollupDay.objects.filter(
        tenant_id__in=list(tenant_from), day__gte=min(tenant_from.values()), day__lte=closed_to
    ).values_list("tenant_id", "day", "open_invocations", "covers_through_id")
    clean = {(t, day): covered for t, day, open_count, covered in markers if not open_count and day >= tenant_from[t]}
    if not clean:
        return {}
    # Walk the primary key from the lowest watermark (no index leads with queued_at, and the tenant and agent
    # are hidden from the others); the time filter is checked row by row, so the day is computed only for the
    # few late rows, not for today's.
    late = (
        invocations_after(min(clean.values()))
        .alias(scope_tenant=_unindexed("tenant_id"))
        .filter(
            scope_tenant__in=list(tenant_from),
            queued_at__gte=day_start(min(tenant_from.values())),
            queued_at__lt=day_start(closed_to + ONE_DAY),
        )
    )
    if agent_id is not None:
        late = late.alias(scope_agent=_unindexed("agent_id")).filter(scope_agent=agent_id)
    late = (
        late.annotate(day=TruncDate("queued_at", tzinfo=UTC))
        .values("tenant_id", "day")
        .annotate(newest=Max("pk"))
        .values_list("tenant_id", "day", "newest")
        .order_by()
    )
    for t, day, newest in late:
        if (t, day) in clean and newest > clean[(t, day)]:
            del clean[(t, day)]
    fresh: dict[int, list[dt.date]] = {}
    for t, day in clean:
        fresh.setdefault(t, []).append(day)
    return fresh


def _ranges_q(owner: Q, ranges: list[tuple[dt.date, dt.date]], *, on_days: bool) -> Q:
    spans = Q()
    for first, last in ranges:
        if on_days:
            spans |= Q(day__gte=first, day__lte=last)
        else:
            spans |= Q(queued_at__gte=day_start(first), queued_at__lt=day_start(last + ONE_DAY))
    return owner & spans


def grouped_cache_totals(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    keys: tuple[str, ...] = ("day",),
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> dict[tuple, CacheTotals]:
    """Totals grouped by `keys` (any of "agent_id", "day") for each tenant from its day to `day_to`."""
    (grouped,) = grouped_cache_totals_many(
        tenant_from=tenant_from,
        day_to=day_to,
        groupings=[keys],
        agent_id=agent_id,
        today=today,
        use_rollups=use_rollups,
    )
    return grouped


def grouped_cache_totals_many(
    *,
    tenant_from: dict[int, dt.date],
    day_to: dt.date,
    groupings: list[tuple[str, ...]],
    agent_id: int | None = None,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> list[dict[tuple, CacheTotals]]:
    """The same totals grouped several ways (by day, by agent...), one dict per grouping.

    Two queries to tell settled days from live ones (rollup markers, late
    arrivals), one over the live invocations, and one over the rollup rows per
    grouping, whatever the range: the database does the summing, Python merges
    a few rows.
    `use_rollups=False` reads invocations only (the reference answer the rollup
    path must equal).
    """
    today = today or utc_today()
    tenant_from = {t: first for t, first in tenant_from.items() if first <= day_to}
    if not tenant_from:
        return [{} for _ in groupings]
    fresh = _fresh_rollup_days(tenant_from, min(day_to, today - ONE_DAY), agent_id) if use_rollups else {}

    rollup_q = Q()
    live_q = Q()
    live_days_all: set[dt.date] = set()
    for t, first in tenant_from.items():
        # One agent (of tenant t, as the caller checked): its own index (agent, day / queued_at) serves best.
        owner = Q(agent_id=agent_id) if agent_id is not None else Q(tenant_id=t)
        fresh_days = set(fresh.get(t, ()))
        if fresh_days:
            rollup_q |= _ranges_q(owner, day_ranges(fresh_days), on_days=True)
        live_days = [day for day in days_between(first, day_to) if day not in fresh_days]
        if live_days:
            live_q |= _ranges_q(owner, day_ranges(live_days), on_days=False)
            live_days_all.update(live_days)
    rollups = DailyCacheRollup.objects.filter(rollup_q) if rollup_q else None
    live = Invocation.objects.filter(live_q) if live_q else None

    # Live rows are summed once, by every key any grouping needs (agents x live days: a few rows), and
    # regrouped here. Usually the only live day is today: its day is then known, not computed for every row.
    live_rows: list[dict] = []
    if live is not None:
        live_day = next(iter(live_days_all)) if len(live_days_all) == 1 else None
        needed = [k for k in ("agent_id", "day") if any(k in keys for keys in groupings)]
        sql_keys = [k for k in needed if k != "day" or live_day is None]
        if "day" in sql_keys:
            live = live.annotate(day=TruncDate("queued_at", tzinfo=UTC))
        if sql_keys:
            live_rows = list(live.values(*sql_keys).annotate(**invocation_sums()).order_by())
        else:  # (`values()` without names would group by every column)
            live_rows = [live.aggregate(**invocation_sums())]
        if live_day is not None:
            live_rows = [{**row, "day": live_day} for row in live_rows]

    answers = []
    for keys in groupings:
        results: dict[tuple, CacheTotals] = {}
        rollup_rows = rollups.values(*keys).annotate(**rollup_sums()).order_by() if rollups is not None else []
        for rows in (rollup_rows, live_rows):
            for row in rows:
                key = tuple(row[k] for k in keys)
                if key in results:
                    results[key].add_row(row)
                else:
                    results[key] = CacheTotals.from_row(row)
        answers.append(results)
    return answers


def first_invocation_day(*, tenant: Tenant, agent: Agent | None = None) -> dt.date | None:
    invocations = Invocation.objects.filter(agent=agent) if agent else Invocation.objects.filter(tenant=tenant)
    first = invocations.order_by("queued_at").values_list("queued_at", flat=True).first()
    return first.astimezone(UTC).date() if first else None


# --- Agent and tenant stats ----------------------------------------------------------------------


@dataclass
class ScopeStats:
    period: Period
    totals: CacheTotals
    by_day: list[tuple[dt.date, CacheTotals]]
    by_period: dict[str, tuple[Period, CacheTotals]]
    by_agent: dict[int, CacheTotals] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "period": self.period.as_json(),
            "currency": "USD",
            **self.totals.as_json(),
            "by_day": [{"day": day.isoformat(), **totals.as_json()} for day, totals in self.by_day],
            "by_period": {
                name: {"from": p.day_from.isoformat(), "to": p.day_to.isoformat(), **totals.as_json()}
                for name, (p, totals) in self.by_period.items()
            },
        }


def _scope_stats(
    *, tenant_id: int, agent_id: int | None, period: Period, today: dt.date | None, use_rollups: bool
) -> ScopeStats:
    today = today or utc_today()
    common = {"agent_id": agent_id, "today": today, "use_rollups": use_rollups}
    groupings = [("day",)] if agent_id is not None else [("day",), ("agent_id",)]
    per_day, *per_agent = grouped_cache_totals_many(
        tenant_from={tenant_id: period.day_from}, day_to=period.day_to, groupings=groupings, **common
    )
    per_day = {key[0]: totals for key, totals in per_day.items()}
    by_agent = {key[0]: totals for key, totals in per_agent[0].items()} if per_agent else {}

    recent = recent_periods(today)
    month = recent["last_30_days"]
    if period.covers(month):
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
        totals=CacheTotals.total(per_day.values()),
        by_day=by_day,
        by_period=by_period,
        by_agent=by_agent,
    )


def agent_json(agent: Agent) -> dict:
    return {
        "id": agent.pk,
        "name": agent.name,
        "model_id": agent.model.model_id,
        "family": agent.model.family.slug,
    }


def agent_cache_stats(
    *,
    agent: Agent,
    period: Period,
    sessions_limit: int = 20,
    today: dt.date | None = None,
    use_rollups: bool = True,
) -> dict:
    """`GET /api/agents/{id}/cache-stats/`: totals, by day, by period and the most recent sessions."""
    stats = _scope_stats(
        tenant_id=agent.tenant_id, agent_id=agent.pk, period=period, today=today, use_rollups=use_rollups
    )
    sessions, has_more = agent_cache_sessions(agent=agent, period=period, limit=sessions_limit)
    return {
        "agent": agent_json(agent),
        **stats.as_json(),
        "sessions": [s.as_json() for s in sessions],
        "sessions_limit": sessions_limit,
        "sessions_has_more": has_more,
    }


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
) -> dict:
    """`GET /api/cache-stats/`: the tenant's totals, by day, by period, by family, top and least-benefit agents.

    `top_agents`: the `top` agents by net saving. `least_benefit`: agents whose
    caching-enabled invocations never read nor wrote the cache (their prompt is
    below the model's minimum tokens per checkpoint: `below_minimum_tokens`), or
    that wrote the cache and never read it back (`writes_never_read`), worst
    net saving first, at most `top`. `all_agents` adds `agents`, every agent
    with invocations in the period (the stored reports keep it).
    """
    stats = _scope_stats(tenant_id=tenant.pk, agent_id=None, period=period, today=today, use_rollups=use_rollups)
    agents = {a.pk: a for a in Agent.objects.filter(pk__in=list(stats.by_agent)).select_related("model__family")}
    active = [
        (agents[agent_id], totals)
        for agent_id, totals in stats.by_agent.items()
        if agent_id in agents and (totals.total_invocations or totals.failed_invocations)
    ]

    families: dict[str, tuple[dict, CacheTotals]] = {}
    for agent, totals in active:
        family = agent.model.family
        entry = families.setdefault(family.slug, ({"family": family.slug, "name": family.name}, CacheTotals()))
        entry[1].add(totals)

    def agent_row(agent, totals, **extra):
        return {"agent": agent_json(agent), **extra, **totals.as_json()}

    by_net = sorted(active, key=lambda item: (-item[1].net_savings, item[0].name))
    least = [(agent, totals, least_benefit_reasons(totals)) for agent, totals in active]
    least = sorted((item for item in least if item[2]), key=lambda item: (item[1].net_savings, item[0].name))
    data = {
        "tenant": {"slug": tenant.slug, "name": tenant.name},
        **stats.as_json(),
        "by_family": [{**label, **totals.as_json()} for label, totals in sorted(families.values(), key=_by_name)],
        "top_agents": [agent_row(agent, totals) for agent, totals in by_net[:top]],
        "least_benefit": [
            agent_row(agent, totals, reasons=reasons, cache_min_tokens=agent.model.cache_min_tokens)
            for agent, totals, reasons in least[:top]
        ],
    }
    if all_agents:
        data["agents"] = [agent_row(agent, totals) for agent, totals in sorted(active, key=lambda i: i[0].name)]
    return data


def _by_name(item):
    return item[0]["name"]


# --- Sessions ------------------------------------------------------------------------------------

SESSION_ROW_FIELDS = (
    "session_id",
    "session__session_id",
    "status",
    "queued_at",
    "started_at",
    "finished_at",
    "caching_enabled",
    "cache_hit",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "net_savings",
)


@dataclass
class SessionCacheSummary:
    """One session's caching over a period, fed its invocations in order (`add`).

    The cache expired between two turns when the session idled longer than the
    TTL (from the end of one succeeded invocation to the start of the next)
    and the next one wrote the cache instead of reading it.
    """

    id: int
    session_id: str
    invocations: int = 0
    failed_invocations: int = 0
    first_invoked_at: dt.datetime | None = None
    last_invoked_at: dt.datetime | None = None
    first_write_tokens: int = 0
    later_read_tokens: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    cache_hits: int = 0
    net_savings: Decimal = Decimal(0)
    cache_expirations: int = 0
    max_idle_seconds: float = 0
    _last_end: dt.datetime | None = field(default=None, repr=False)

    def add(self, row: dict) -> None:
        if row["status"] == FAILED:
            self.failed_invocations += 1
            return
        if row["status"] != SUCCEEDED:
            return
        start = row["started_at"] or row["queued_at"]
        read, write = row["cache_read_tokens"], row["cache_write_tokens"]
        if self.invocations == 0:
            self.first_invoked_at = row["queued_at"]
            self.first_write_tokens = write
        else:
            self.later_read_tokens += read
            idle = start - self._last_end
            self.max_idle_seconds = max(self.max_idle_seconds, idle.total_seconds())
            if idle > SESSION_CACHE_TTL and write and not read:
                self.cache_expirations += 1
        self.invocations += 1
        self.last_invoked_at = row["queued_at"]
        self._last_end = row["finished_at"] or start
        self.input_tokens += row["input_tokens"]
        self.cache_read_tokens += read
        self.cache_write_tokens += write
        self.output_tokens += row["output_tokens"]
        self.cache_hits += bool(row["cache_hit"])
        self.net_savings += row["net_savings"]

    @property
    def cached_tokens(self) -> int:
        return self.cache_read_tokens

    @property
    def uncached_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens

    @property
    def efficiency_ratio(self) -> float:
        total_input = total_input_tokens(self.input_tokens, self.cache_read_tokens, self.cache_write_tokens)
        return ratio(self.cache_read_tokens, total_input)

    def as_json(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data.update(
            first_invoked_at=self.first_invoked_at.isoformat() if self.first_invoked_at else None,
            last_invoked_at=self.last_invoked_at.isoformat() if self.last_invoked_at else None,
            net_savings=money(self.net_savings),
            max_idle_seconds=round(self.max_idle_seconds, 3),
            cached_tokens=self.cached_tokens,
            uncached_tokens=self.uncached_tokens,
            efficiency_ratio=self.efficiency_ratio,
            cache_expired=self.cache_expirations > 0,
        )
        return data


def _summaries(rows: Iterable[tuple]) -> Iterator[SessionCacheSummary]:
    """Rows of SESSION_ROW_FIELDS ordered by session, then time: one summary per session."""
    current = None
    for values in rows:
        row = dict(zip(SESSION_ROW_FIELDS, values, strict=True))
        if current is None or current.id != row["session_id"]:
            if current is not None:
                yield current
            current = SessionCacheSummary(id=row["session_id"], session_id=row["session__session_id"])
        current.add(row)
    if current is not None:
        yield current


def _period_invocations(agent: Agent, period: Period) -> QuerySet[Invocation]:
    return Invocation.objects.filter(agent=agent, queued_at__gte=period.start, queued_at__lt=period.end)


def _recent_session_ids(agent: Agent, period: Period, limit: int) -> tuple[list[int], bool]:
    """The agent's `limit` most recently active sessions in the period, and whether there are more.

    Walks the agent's invocations newest first (index on agent, queued_at) in
    pages, keyset-paginated: usually one short query (sessions have a few
    turns each), never a scan of the period.
    """
    chosen: list[int] = []
    newest_first = _period_invocations(agent, period).order_by("-queued_at", "-id")
    page_size = 8 * (limit + 1)
    after = None
    while True:
        page = newest_first
        if after is not None:
            page = page.filter(Q(queued_at__lt=after[0]) | Q(queued_at=after[0], pk__lt=after[1]))
        rows = list(page.values_list("session_id", "queued_at", "pk")[:page_size])
        for session_id, _, _ in rows:
            if session_id not in chosen:
                chosen.append(session_id)
                if len(chosen) > limit:
                    return chosen[:limit], True
        if len(rows) < page_size:
            return chosen, False
        after = rows[-1][1:]
        page_size *= 4


def agent_cache_sessions(*, agent: Agent, period: Period, limit: int) -> tuple[list[SessionCacheSummary], bool]:
    """The `limit` sessions most recently active in the period (newest first), and whether there are more."""
    chosen, has_more = _recent_session_ids(agent, period, limit)
    if not chosen:
        return [], has_more
    # By session only (the sessions are the agent's): the (session, queued_at) index then serves the IN list.
    rows = (
        Invocation.objects.filter(session_id__in=chosen, queued_at__gte=period.start, queued_at__lt=period.end)
        .order_by("session_id", "queued_at", "id")
        .values_list(*SESSION_ROW_FIELDS)
    )
    by_id = {summary.id: summary for summary in _summaries(rows)}
    return [by_id[session_id] for session_id in chosen if session_id in by_id], has_more


# --- CSV exports (rows; the API streams them) ----------------------------------------------------

INVOCATION_CSV_FIELDS = (
    "id",
    "session__session_id",
    "status",
    "queued_at",
    "started_at",
    "finished_at",
    "model_id",
    "caching_enabled",
    "cache_hit",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    *MONEY_FIELDS,
)
SESSION_CSV_FIELDS = (
    "session_id",
    "invocations",
    "failed_invocations",
    "first_invoked_at",
    "last_invoked_at",
    "first_write_tokens",
    "later_read_tokens",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cached_tokens",
    "uncached_tokens",
    "efficiency_ratio",
    "cache_hits",
    "net_savings",
    "cache_expirations",
    "cache_expired",
    "max_idle_seconds",
)


def _csv_value(value):
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).isoformat()
    if value is None:
        return ""
    return value


def invocation_csv_rows(*, agent: Agent, period: Period) -> Iterator[list]:
    """The header, then every invocation of the agent in the period, oldest first, read in chunks."""
    yield ["session_id" if name == "session__session_id" else name for name in INVOCATION_CSV_FIELDS]
    rows = _period_invocations(agent, period).order_by("queued_at", "id").values_list(*INVOCATION_CSV_FIELDS)
    for row in rows.iterator(chunk_size=2000):
        yield [_csv_value(value) for value in row]


def session_csv_rows(*, agent: Agent, period: Period) -> Iterator[list]:
    """The header, then one row per session active in the period (figures over the period's invocations)."""
    yield list(SESSION_CSV_FIELDS)
    rows = _period_invocations(agent, period).order_by("session_id", "queued_at", "id").values_list(*SESSION_ROW_FIELDS)
    for summary in _summaries(rows.iterator(chunk_size=2000)):
        data = summary.as_json()
        yield [_csv_value(data[name]) for name in SESSION_CSV_FIELDS]


# --- Reports -------------------------------------------------------------------------------------

REPORT_CSV_FIELDS = (
    "total_invocations",
    "failed_invocations",
    "caching_enabled_invocations",
    "cache_hits",
    "hit_rate",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "efficiency_ratio",
    *MONEY_FIELDS,
)


def cache_report_list(*, tenant: Tenant) -> QuerySet[CacheReport]:
    return CacheReport.objects.filter(tenant=tenant)


def cache_report_csv_rows(report: CacheReport) -> Iterator[list]:
    """A report as one table: the total, then one row per day, per model family and per agent."""
    stats = report.stats
    yield ["section", "key", "name", *REPORT_CSV_FIELDS]

    def row(section, key, name, data):
        return [section, key, name, *(data.get(f, "") for f in REPORT_CSV_FIELDS)]

    yield row("total", f"{report.period_start}..{report.period_end}", report.tenant.name, stats)
    for day in stats.get("by_day", []):
        yield row("day", day["day"], "", day)
    for family in stats.get("by_family", []):
        yield row("family", family["family"], family["name"], family)
    for item in stats.get("agents", stats.get("top_agents", [])):
        yield row("agent", item["agent"]["id"], item["agent"]["name"], item)


# --- Metrics -------------------------------------------------------------------------------------


def cache_totals_by_agent(*, today: dt.date | None = None) -> list[tuple[Agent, CacheTotals]]:
    """All-time totals of every agent of every tenant (for `/metrics`): six queries, however many tenants."""
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
    grouped = grouped_cache_totals(tenant_from=tenant_from, day_to=today, keys=("agent_id",), today=today)
    agents = Agent.objects.filter(pk__in=[key[0] for key in grouped]).select_related("tenant", "model")
    return [(agent, grouped[(agent.pk,)]) for agent in agents.order_by("tenant__slug", "name")]
