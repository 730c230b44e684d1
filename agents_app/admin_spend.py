"""Spend columns of the agents, sessions and invocations admin lists: cost, savings, hit rate, tokens.

The figures are summed in SQL from the invocation rows this app owns, as
correlated subqueries annotated on the list's queryset. Why not reporting's
rollup-backed totals (`caching.totals`): this app sits below reporting and may
not import it, and an annotation keeps every column sortable and costs no
query per row (a subquery per column, evaluated for the page's rows only,
through the `(agent, queued_at)` and `(session, queued_at)` indexes).

What counts is reporting's rule (`caching.totals`): succeeded invocations
only; the hit rate is cache hits over succeeded invocations with caching on,
shown as "-" when none had caching on; cost is input with cache plus output.
Agents are summed over the last `SPEND_DAYS` whole UTC days, today included
(the dashboard's and the API's `30d`); sessions over all their turns.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, DecimalField, F, FloatField, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, NullIf
from django.utils import timezone

from agents_app.models import Invocation
from pricing.costs import money, percent, usd

SPEND_DAYS = 30
MONEY_SUM = DecimalField(max_digits=26, decimal_places=12)
TOTAL_INPUT = F("input_tokens") + F("cache_read_tokens") + F("cache_write_tokens")


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


def agent_spend_annotations(since: dt.datetime) -> dict:
    rows = _per_owner("agent", since)
    enabled = Count("pk", filter=Q(caching_enabled=True))
    return {
        **_cost_annotations(rows),
        "spend_hit_rate": _sum(
            rows,
            Cast(Count("pk", filter=Q(cache_hit=True)), FloatField()) / NullIf(Cast(enabled, FloatField()), 0.0),
            FloatField(),
        ),
    }


def session_spend_annotations() -> dict:
    rows = _per_owner("session", None)
    zero = Value(0, output_field=IntegerField())
    return {
        "spend_turns": Coalesce(_sum(rows, Count("pk"), IntegerField()), zero),
        "spend_input_tokens": Coalesce(_sum(rows, Sum(TOTAL_INPUT), IntegerField()), zero),
        "spend_output_tokens": Coalesce(_sum(rows, Sum("output_tokens"), IntegerField()), zero),
        **_cost_annotations(rows),
        "spend_cached_ratio": _sum(
            rows,
            Cast(Sum("cache_read_tokens"), FloatField()) / NullIf(Cast(Sum(TOTAL_INPUT), FloatField()), 0.0),
            FloatField(),
        ),
    }


def invocation_spend_annotations() -> dict:
    return {"spend_input_cost": F("cost_with_cache"), "spend_output_cost": F("output_cost")}


# --- Columns (list_display entries; each reads an annotation above) ----------------------------


COST_ORDER = F("spend_input_cost") + F("spend_output_cost")


def _usd(value) -> str:
    return usd(money(value or 0))


def _cost(row) -> str:
    return usd(Decimal(money(row.spend_input_cost or 0)) + Decimal(money(row.spend_output_cost or 0)))


def _rate(value) -> str:
    return "-" if value is None else percent(round(value, 6))


@admin.display(description=f"Cost, {SPEND_DAYS} days", ordering=COST_ORDER)
def agent_cost(agent) -> str:
    return _cost(agent)


@admin.display(description=f"Net savings, {SPEND_DAYS} days", ordering="spend_net_savings")
def agent_net_savings(agent) -> str:
    return _usd(agent.spend_net_savings)


@admin.display(description=f"Hit rate, {SPEND_DAYS} days", ordering="spend_hit_rate")
def agent_hit_rate(agent) -> str:
    return _rate(agent.spend_hit_rate)


@admin.display(description="Turns", ordering="spend_turns")
def session_turns(session) -> int:
    return session.spend_turns


@admin.display(description="Tokens in / out", ordering="spend_input_tokens")
def session_tokens(session) -> str:
    return f"{session.spend_input_tokens:,} / {session.spend_output_tokens:,}"


@admin.display(description="Cost", ordering=COST_ORDER)
def session_cost(session) -> str:
    return _cost(session)


@admin.display(description="Net savings", ordering="spend_net_savings")
def session_net_savings(session) -> str:
    return _usd(session.spend_net_savings)


@admin.display(description="Cached ratio", ordering="spend_cached_ratio")
def session_cached_ratio(session) -> str:
    return _rate(session.spend_cached_ratio)


@admin.display(description="Cost", ordering=COST_ORDER)
def invocation_cost(invocation) -> str:
    return _cost(invocation)


@admin.display(description="Net savings", ordering="net_savings")
def invocation_net_savings(invocation) -> str:
    return _usd(invocation.net_savings)
