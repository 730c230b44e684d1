"""Spend columns of the agents, sessions and invocations admin lists: cost, savings, hit rate, tokens.

Agents: each agent's figures over the last `SPEND_DAYS` whole UTC days, today
included (the cache-stats API's `30d`). Reporting registers its rollup-backed
reader at start-up (`agent_spend_reader_set`, from `caching.admin`): the same
figures as `/cache-stats`, in a few queries whatever the volume, since the
engine sums by tenant (an agent's figures cost about what its tenant's do).
This app may not import reporting (it sits below it), hence the registration;
without a reader the figures are summed from the invocation rows this app
owns. The list as first shown reads the page's agents after paging. Sorted by
a spend column, it reads every agent the filters leave (the same one read),
sorts them by the figures shown, and pages that order: no SQL can sort by
figures that come from rollups and live rows, and a subquery over the raw rows
would sum every invocation of the period for every agent.

Sessions: their running totals (`agents_app.sessions`), plain columns of the
session row, kept as its invocations finish. Invocations: their own figures.
Both sort in SQL.

What counts is reporting's rule (`caching.sums`): succeeded invocations
only; the hit rate is cache hits over succeeded invocations with caching on,
shown as "-" when none had caching on; cost is input with cache plus output,
each rounded once and their sum shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, Expression, F, FloatField, OrderBy, Q, Sum
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from agents_app import admin_lists
from agents_app.models import COST_SUM, Invocation
from pricing.costs import money, percent, ratio, total_input_tokens, usd

SPEND_DAYS = 30


def spend_since(today: dt.date | None = None) -> dt.datetime:
    """The start of the agents list's period: `SPEND_DAYS` whole UTC days ending today."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=SPEND_DAYS - 1)
    return dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)


@dataclass(frozen=True)
class AgentSpend:
    input_cost: Decimal = Decimal(0)  # input with the cache
    output_cost: Decimal = Decimal(0)
    net_savings: Decimal = Decimal(0)
    hit_rate: float | None = None  # None: no succeeded invocation had caching on

    @property
    def cost(self) -> Decimal:
        """As shown: the two parts each rounded once, then added."""
        return Decimal(money(self.input_cost)) + Decimal(money(self.output_cost))


# ({agent id: its tenant's id}, first day, last day) -> {agent id: AgentSpend}; agents without invocations may be
# left out.
AgentSpendReader = Callable[[dict[int, int], dt.date, dt.date], dict[int, AgentSpend]]
_agent_spend_reader: AgentSpendReader | None = None


def agent_spend_reader_set(reader: AgentSpendReader | None) -> None:
    global _agent_spend_reader
    _agent_spend_reader = reader


def agent_spend_from_rows(agent_tenants: dict[int, int], day_from: dt.date, day_to: dt.date) -> dict[int, AgentSpend]:
    """The agents' figures summed from their invocation rows, one grouped query."""
    start = dt.datetime.combine(day_from, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    rows = (
        Invocation.objects.filter(
            agent__in=list(agent_tenants),
            queued_at__gte=start,
            queued_at__lt=end,
            status=Invocation.Status.SUCCEEDED,
        )
        .values("agent_id")
        .annotate(
            input_cost=Sum("cost_with_cache"),
            output_cost=Sum("output_cost"),
            net_savings=Sum("net_savings"),
            hits=Count("pk", filter=Q(cache_hit=True)),
            enabled=Count("pk", filter=Q(caching_enabled=True)),
        )
        .order_by()
    )
    return {
        row["agent_id"]: AgentSpend(
            row["input_cost"],
            row["output_cost"],
            row["net_savings"],
            ratio(row["hits"], row["enabled"]) if row["enabled"] else None,
        )
        for row in rows
    }


def agent_spend(agent_tenants: dict[int, int], *, today: dt.date | None = None) -> dict[int, AgentSpend]:
    first = spend_since(today).date()
    last = first + dt.timedelta(days=SPEND_DAYS - 1)
    reader = _agent_spend_reader or agent_spend_from_rows
    return reader(agent_tenants, first, last) if agent_tenants else {}


class AgentSpendOrder(Expression):
    """What an agent spend column sorts by: one of `AgentSpend`'s figures. The agents list sorts by it in Python
    (`AgentSpendChangeList`); it is never SQL."""

    def __init__(self, figure: str):
        super().__init__(output_field=FloatField())
        self.figure = figure

    def resolve_expression(self, *args, **kwargs):
        raise TypeError(f"agent spend ({self.figure}) is sorted by the agents list, not by the database")


def _spend_key(spend: AgentSpend, figure: str):
    value = getattr(spend, figure)
    return (value is not None, value or 0)  # no hit rate sorts below 0 %, as "-" reads


def _spend_orders(ordering) -> list[tuple[str, bool]]:
    return [
        (item.expression.figure, item.descending)
        for item in ordering
        if isinstance(item, OrderBy) and isinstance(item.expression, AgentSpendOrder)
    ]


class AgentSpendChangeList(admin_lists.CountOnceChangeList):
    """The agents list, each agent of the page carrying its `spend` (one read for the page). Sorted by a spend
    column, the spend columns sort first (in the order asked) and the other columns break ties."""

    spend_orders: list[tuple[str, bool]] = []  # (figure, descending)

    def get_ordering(self, request, queryset):
        ordering = super().get_ordering(request, queryset)
        self.spend_orders = _spend_orders(ordering)
        return [item for item in ordering if not _spend_orders([item])]

    def get_results(self, request):
        if self.spend_orders:
            found = self._results_by_spend(request)
        else:
            super().get_results(request)  # counted once when nothing narrows the list
            self.result_list = list(self.result_list)
            found = agent_spend({agent.pk: agent.tenant_id for agent in self.result_list})
        for agent in self.result_list:
            agent.spend = found.get(agent.pk, AgentSpend())

    def _results_by_spend(self, request) -> dict[int, AgentSpend]:
        """ChangeList.get_results over the filtered agents' ids, sorted by their figures in Python."""
        agent_tenants = dict(self.queryset.values_list("pk", "tenant_id"))  # in the other columns' order
        found = agent_spend(agent_tenants)
        ids = list(agent_tenants)
        for figure, descending in reversed(self.spend_orders):  # stable sorts: the first column asked wins
            ids.sort(key=lambda pk: _spend_key(found.get(pk, AgentSpend()), figure), reverse=descending)
        admin_lists.changelist_results(self, request, ids)
        agents = self.queryset.filter(pk__in=self.result_list).in_bulk()
        self.result_list = [agents[pk] for pk in self.result_list if pk in agents]
        return found


# Sessions sort by their running totals (`agents_app.sessions`), plain columns of the row; invocations by their
# own figures. Both carry the same names.
TOKENS_IN_ORDER = F("input_tokens") + F("cache_read_tokens") + F("cache_write_tokens")
HIT_RATE_ORDER = Cast(F("cache_hits"), FloatField()) / NullIf(Cast(F("caching_enabled_invocations"), FloatField()), 0.0)
CACHED_RATIO_ORDER = Cast(F("cache_read_tokens"), FloatField()) / NullIf(Cast(TOKENS_IN_ORDER, FloatField()), 0.0)
COST_ORDER = COST_SUM  # indexed on both tables


# --- Columns (list_display entries) ----------------------------------------------------------


def _usd(value) -> str:
    return usd(money(value or 0))


def _cost(row) -> str:
    """Input with the cache plus output, each rounded once and their sum shown."""
    return usd(Decimal(money(row.cost_with_cache)) + Decimal(money(row.output_cost)))


def _rate(value) -> str:
    return "-" if value is None else percent(round(value, 6))


@admin.display(description=f"Cost, {SPEND_DAYS} days", ordering=AgentSpendOrder("cost"))
def agent_cost(agent) -> str:
    return usd(agent.spend.cost)


@admin.display(description=f"Net savings, {SPEND_DAYS} days", ordering=AgentSpendOrder("net_savings"))
def agent_net_savings(agent) -> str:
    return _usd(agent.spend.net_savings)


@admin.display(description=f"Hit rate, {SPEND_DAYS} days", ordering=AgentSpendOrder("hit_rate"))
def agent_hit_rate(agent) -> str:
    return _rate(agent.spend.hit_rate)


@admin.display(description="Turns", ordering="succeeded_invocations")
def session_turns(session) -> int:
    return session.succeeded_invocations


@admin.display(description="Tokens in / out", ordering=TOKENS_IN_ORDER)
def session_tokens(session) -> str:
    tokens_in = total_input_tokens(session.input_tokens, session.cache_read_tokens, session.cache_write_tokens)
    return f"{tokens_in:,} / {session.output_tokens:,}"


@admin.display(description="Cost", ordering=COST_ORDER)
def session_cost(session) -> str:
    return _cost(session)


@admin.display(description="Net savings", ordering="net_savings")
def session_net_savings(session) -> str:
    return _usd(session.net_savings)


@admin.display(description="Hit rate", ordering=HIT_RATE_ORDER)
def session_hit_rate(session) -> str:
    enabled = session.caching_enabled_invocations
    return _rate(ratio(session.cache_hits, enabled) if enabled else None)


@admin.display(description="Cached ratio", ordering=CACHED_RATIO_ORDER)
def session_cached_ratio(session) -> str:
    tokens_in = total_input_tokens(session.input_tokens, session.cache_read_tokens, session.cache_write_tokens)
    return _rate(ratio(session.cache_read_tokens, tokens_in) if tokens_in else None)


@admin.display(description="Cache read / write tokens", ordering="cache_read_tokens")
def invocation_cache_tokens(invocation) -> str:
    return f"{invocation.cache_read_tokens:,} / {invocation.cache_write_tokens:,}"


@admin.display(description="Cost", ordering=COST_ORDER)
def invocation_cost(invocation) -> str:
    return _cost(invocation)


@admin.display(description="Net savings", ordering="net_savings")
def invocation_net_savings(invocation) -> str:
    return _usd(invocation.net_savings)
