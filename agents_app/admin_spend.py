"""Spend columns of the agents, sessions and invocations admin lists: cost, savings, hit rate, tokens.

Agents: each agent's figures over the last `SPEND_DAYS` whole UTC days, today
included (the cache-stats API's `30d`), read for the page's agents only, after
pagination. Reporting registers its rollup-backed reader at start-up
(`agent_spend_reader_set`, from `caching.admin`): the same figures as
`/cache-stats`, in a few queries whatever the volume. This app may not import
reporting (it sits below it), hence the registration; without a reader the
figures are summed from the invocation rows this app owns. Sorting by a column
orders by a subquery over the invocation rows (the same sums; evaluated only
when that sort is asked for).

Sessions and invocations: annotations over their own invocation rows (a
session's few turns, through the `(session, queued_at)` index), sortable and
evaluated for the page's rows only.

What counts is reporting's rule (`caching.totals`): succeeded invocations
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
from django.contrib.admin.views.main import ChangeList
from django.db.models import (
    Count,
    DecimalField,
    Expression,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from agents_app.models import Agent, Invocation
from pricing.costs import money, percent, ratio, usd

SPEND_DAYS = 30
MONEY_SUM = DecimalField(max_digits=26, decimal_places=12)
TOTAL_INPUT = F("input_tokens") + F("cache_read_tokens") + F("cache_write_tokens")
COST = F("cost_with_cache") + F("output_cost")
HIT_RATE = Cast(Count("pk", filter=Q(cache_hit=True)), FloatField()) / NullIf(
    Cast(Count("pk", filter=Q(caching_enabled=True)), FloatField()), 0.0
)


def spend_since(today: dt.date | None = None) -> dt.datetime:
    """The start of the agents list's period: `SPEND_DAYS` whole UTC days ending today."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=SPEND_DAYS - 1)
    return dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)


def _per_owner(owner: str, since: dt.datetime | None):
    """A one-row subquery template: the owner's succeeded invocations, grouped by the owner."""
    rows = Invocation.objects.filter(**{owner: OuterRef("pk")}, status=Invocation.Status.SUCCEEDED)
    if since is not None:
        rows = rows.filter(queued_at__gte=since)
    return rows.order_by().values(owner)


def _sum(rows, expression, field):
    return Subquery(rows.annotate(value=expression).values("value")[:1], output_field=field)


def _cost_annotations(rows) -> dict:
    """Input cost with the cache and output cost apart, each rounded once for display and their sum shown (the
    figures add up as on every other page); sorting by cost orders by the two together."""
    zero = Value(0, output_field=MONEY_SUM)
    return {
        "spend_input_cost": Coalesce(_sum(rows, Sum("cost_with_cache"), MONEY_SUM), zero),
        "spend_output_cost": Coalesce(_sum(rows, Sum("output_cost"), MONEY_SUM), zero),
        "spend_net_savings": Coalesce(_sum(rows, Sum("net_savings"), MONEY_SUM), zero),
    }


@dataclass(frozen=True)
class AgentSpend:
    input_cost: Decimal = Decimal(0)  # input with the cache
    output_cost: Decimal = Decimal(0)
    net_savings: Decimal = Decimal(0)
    hit_rate: float | None = None  # None: no succeeded invocation had caching on


# (agents, first day, last day) -> {agent id: AgentSpend}; agents without invocations may be left out.
AgentSpendReader = Callable[[list[Agent], dt.date, dt.date], dict[int, AgentSpend]]
_agent_spend_reader: AgentSpendReader | None = None


def agent_spend_reader_set(reader: AgentSpendReader | None) -> None:
    global _agent_spend_reader
    _agent_spend_reader = reader


def agent_spend_from_rows(agents: list[Agent], day_from: dt.date, day_to: dt.date) -> dict[int, AgentSpend]:
    """The agents' figures summed from their invocation rows, one grouped query."""
    start = dt.datetime.combine(day_from, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(day_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    rows = (
        Invocation.objects.filter(
            agent__in=agents, queued_at__gte=start, queued_at__lt=end, status=Invocation.Status.SUCCEEDED
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


def agent_spend(agents: list[Agent], *, today: dt.date | None = None) -> dict[int, AgentSpend]:
    first = spend_since(today).date()
    last = first + dt.timedelta(days=SPEND_DAYS - 1)
    reader = _agent_spend_reader or agent_spend_from_rows
    return reader(agents, first, last) if agents else {}


class AgentSpendChangeList(ChangeList):
    """The agents list, each agent of the page carrying its `spend` (one read for the page, after paging)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        found = agent_spend(self.result_list)
        for agent in self.result_list:
            agent.spend = found.get(agent.pk, AgentSpend())


class AgentSpendOrder(Expression):
    """Sorting by an agent column: the same sum as a subquery over the agent's invocation rows of the period,
    built when the query is (the period ends today), and evaluated only when that sort is asked for."""

    def __init__(self, expression, output_field):
        super().__init__(output_field=output_field)
        self.expression = expression

    def resolve_expression(self, *args, **kwargs):
        rows = _per_owner("agent", spend_since())
        zero = Value(0, output_field=self.output_field)
        return Coalesce(_sum(rows, self.expression, self.output_field), zero).resolve_expression(*args, **kwargs)


def session_spend_annotations() -> dict:
    rows = _per_owner("session", None)
    zero = Value(0, output_field=IntegerField())
    return {
        "spend_turns": Coalesce(_sum(rows, Count("pk"), IntegerField()), zero),
        "spend_input_tokens": Coalesce(_sum(rows, Sum(TOTAL_INPUT), IntegerField()), zero),
        "spend_output_tokens": Coalesce(_sum(rows, Sum("output_tokens"), IntegerField()), zero),
        **_cost_annotations(rows),
        # What sorting by cost orders by: one subquery, rather than the two parts' each again for every session.
        "spend_cost": Coalesce(_sum(rows, Sum(COST), MONEY_SUM), Value(0, output_field=MONEY_SUM)),
        "spend_hit_rate": _sum(rows, HIT_RATE, FloatField()),
        "spend_cached_ratio": _sum(
            rows,
            Cast(Sum("cache_read_tokens"), FloatField()) / NullIf(Cast(Sum(TOTAL_INPUT), FloatField()), 0.0),
            FloatField(),
        ),
    }


def invocation_spend_annotations() -> dict:
    return {"spend_input_cost": F("cost_with_cache"), "spend_output_cost": F("output_cost")}


# --- Columns (list_display entries; each reads an annotation above) ----------------------------


COST_ORDER = F("spend_input_cost") + F("spend_output_cost")  # invocations: two columns of the row


def _usd(value) -> str:
    return usd(money(value or 0))


def _cost(row) -> str:
    return usd(Decimal(money(row.spend_input_cost or 0)) + Decimal(money(row.spend_output_cost or 0)))


def _rate(value) -> str:
    return "-" if value is None else percent(round(value, 6))


@admin.display(description=f"Cost, {SPEND_DAYS} days", ordering=AgentSpendOrder(Sum(COST), MONEY_SUM))
def agent_cost(agent) -> str:
    return usd(Decimal(money(agent.spend.input_cost)) + Decimal(money(agent.spend.output_cost)))


@admin.display(description=f"Net savings, {SPEND_DAYS} days", ordering=AgentSpendOrder(Sum("net_savings"), MONEY_SUM))
def agent_net_savings(agent) -> str:
    return _usd(agent.spend.net_savings)


@admin.display(description=f"Hit rate, {SPEND_DAYS} days", ordering=AgentSpendOrder(HIT_RATE, FloatField()))
def agent_hit_rate(agent) -> str:
    return _rate(agent.spend.hit_rate)


@admin.display(description="Turns", ordering="spend_turns")
def session_turns(session) -> int:
    return session.spend_turns


@admin.display(description="Tokens in / out", ordering="spend_input_tokens")
def session_tokens(session) -> str:
    return f"{session.spend_input_tokens:,} / {session.spend_output_tokens:,}"


@admin.display(description="Cost", ordering="spend_cost")
def session_cost(session) -> str:
    return _cost(session)


@admin.display(description="Net savings", ordering="spend_net_savings")
def session_net_savings(session) -> str:
    return _usd(session.spend_net_savings)


@admin.display(description="Hit rate", ordering="spend_hit_rate")
def session_hit_rate(session) -> str:
    return _rate(session.spend_hit_rate)


@admin.display(description="Cached ratio", ordering="spend_cached_ratio")
def session_cached_ratio(session) -> str:
    return _rate(session.spend_cached_ratio)


@admin.display(description="Cache read / write tokens", ordering="cache_read_tokens")
def invocation_cache_tokens(invocation) -> str:
    return f"{invocation.cache_read_tokens:,} / {invocation.cache_write_tokens:,}"


@admin.display(description="Cost", ordering=COST_ORDER)
def invocation_cost(invocation) -> str:
    return _cost(invocation)


@admin.display(description="Net savings", ordering="net_savings")
def invocation_net_savings(invocation) -> str:
    return _usd(invocation.net_savings)
