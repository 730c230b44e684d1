"""Invocations with known tokens and prices, for the cache-stats tests, and the hand-computed answer.

Prices (USD per million tokens), like Claude Sonnet: input 3, cache read 0.30
(0.1x), cache write 3.75 (1.25x), output 15. One invocation was priced earlier
at an input price of 2: the stats must sum what was stored, not reprice it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from agents_app.models import Agent, AgentSession, Invocation
from agents_app.sessions import session_totals_failed, session_totals_succeeded
from caching.periods import UTC, utc_today
from pricing.costs import Costs, TokenUsage, invocation_costs
from pricing.prices import Prices

PRICES = Prices(
    input=Decimal("3"),
    output=Decimal("15"),
    cache_read=Decimal("0.3"),
    cache_write=Decimal("3.75"),
    cache_write_1h=Decimal("6"),
)
OLD_PRICES = Prices(
    input=Decimal("2"),
    output=Decimal("15"),
    cache_read=Decimal("0.2"),
    cache_write=Decimal("2.5"),
    cache_write_1h=Decimal("4"),
)


def at(day: dt.date, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


def add_invocation(
    agent: Agent,
    when: dt.datetime,
    *,
    session: str = "s1",
    status: str = Invocation.Status.SUCCEEDED,
    input: int = 0,
    read: int = 0,
    write: int = 0,
    output: int = 0,
    caching: bool = True,
    prices: Prices = PRICES,
    duration: dt.timedelta = dt.timedelta(seconds=10),
    attempts: int | None = None,
    lost: int = 0,
    latency_ms: int | None = None,
    queue_wait_ms: int | None = None,
) -> Invocation:
    """One invocation as the pipeline stores it, costs included, queued at `when` (UTC).

    `attempts` defaults to 1 once it started (`lost` of them lost with a dead worker, each tried again)."""
    session_obj, _ = AgentSession.objects.get_or_create(tenant=agent.tenant, agent=agent, session_id=session)
    costs = invocation_costs(TokenUsage(input, output, read, write), prices).as_dict()
    finished = status in (Invocation.Status.SUCCEEDED, Invocation.Status.FAILED)
    invocation = Invocation.objects.create(
        tenant=agent.tenant,
        agent=agent,
        session=session_obj,
        model_id=agent.model.model_id,
        prompt="hello",
        status=status,
        caching_enabled=caching,
        input_tokens=input,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_hit=(read > 0) if caching else None,
        prices=prices.as_dict(),
        started_at=when + dt.timedelta(seconds=1) if status != Invocation.Status.QUEUED else None,
        finished_at=when + duration if finished else None,
        attempts=(0 if status == Invocation.Status.QUEUED else 1 + lost) if attempts is None else attempts,
        lost_attempts=lost,
        latency_ms=latency_ms,
        queue_wait_ms=queue_wait_ms,
        **costs,
    )
    # queued_at is auto_now_add: set the time we want afterwards.
    Invocation.objects.filter(pk=invocation.pk).update(queued_at=when)
    invocation.queued_at = when
    # The session's running totals, as the service finishing an invocation keeps them.
    if status == Invocation.Status.SUCCEEDED:
        totals = session_totals_succeeded(
            usage=TokenUsage(input, output, read, write),
            costs=Costs(**costs),
            caching_enabled=caching,
            cache_hit=invocation.cache_hit,
        )
        AgentSession.objects.filter(pk=session_obj.pk).update(**totals)
    elif status == Invocation.Status.FAILED:
        AgentSession.objects.filter(pk=session_obj.pk).update(**session_totals_failed())
    return invocation


@dataclass
class Seeded:
    today: dt.date
    yesterday: dt.date
    invocations: dict[str, Invocation]


def seed_support_agent(agent: Agent, today: dt.date | None = None) -> Seeded:
    """The worked example of EXPECTED below, on `agent` (caching on): yesterday and today."""
    today = today or utc_today()
    y = today - dt.timedelta(days=1)
    inv = {
        # Session s1: a write, a read a minute later, then idle 18 minutes (past the 5-minute TTL) and a write again.
        "first": add_invocation(agent, at(y, 10, 0), session="s1", input=100, write=2000, output=100),
        "hit": add_invocation(agent, at(y, 10, 1), session="s1", input=100, read=2000, output=150),
        "expired": add_invocation(agent, at(y, 10, 20), session="s1", input=100, write=2000, output=200),
        # Failed: its tokens count nowhere, only in failed_invocations.
        "failed": add_invocation(
            agent, at(y, 11, 0), session="s1", status=Invocation.Status.FAILED, input=999, write=999
        ),
        # Caching off, priced before a price change (input 2, not 3).
        "uncached": add_invocation(
            agent, at(y, 12, 0), session="s3", input=1000, output=50, caching=False, prices=OLD_PRICES
        ),
        # Today: a new session reading a prefix and writing a little more.
        "today": add_invocation(agent, at(today, 0, 0, 5), session="s2", input=50, read=2000, write=500, output=100),
    }
    return Seeded(today=today, yesterday=y, invocations=inv)


# The hand computation. Per invocation, with prices per million tokens (÷ 1,000,000):
#   first:    without = (100 + 0 + 2000) × 3            = 6300 → 0.0063
#             with    = 100 × 3 + 2000 × 3.75           = 7800 → 0.0078
#             gross   = 0;  premium = 2000 × (3.75 − 3) = 1500 → 0.0015;  net = −0.0015
#             output  = 100 × 15                        = 1500 → 0.0015
#   hit:      without = 2100 × 3 = 6300 → 0.0063;  with = 100 × 3 + 2000 × 0.3 = 900 → 0.0009
#             gross   = 2000 × (3 − 0.3) = 5400 → 0.0054;  premium 0;  net 0.0054;  output 150 × 15 → 0.00225
#   expired:  as first, output 200 × 15 → 0.003
#   uncached: (old price 2) without = with = 1000 × 2 → 0.002; no saving; output 50 × 15 → 0.00075
#   today:    without = (50 + 2000 + 500) × 3 = 7650 → 0.00765
#             with    = 50 × 3 + 2000 × 0.3 + 500 × 3.75 = 150 + 600 + 1875 = 2625 → 0.002625
#             gross   = 5400 → 0.0054;  premium = 500 × 0.75 = 375 → 0.000375;  net 0.005025
#             output  = 100 × 15 → 0.0015
#   failed:   not counted (but failed_invocations = 1)
#
# Totals over the five succeeded invocations:
#   invocations 5, caching enabled 4 (all but uncached), hits 2 (hit, today): hit rate 2/4 = 0.5
#   input  100 + 100 + 100 + 1000 + 50 = 1350;  read 2000 + 2000 = 4000;  write 2000 + 2000 + 500 = 4500
#   output 100 + 150 + 200 + 50 + 100 = 600;  total input 1350 + 4000 + 4500 = 9850
#   efficiency 4000 / 9850 = 0.406091 (rounded)
#   with    0.0078 + 0.0009 + 0.0078 + 0.002 + 0.002625 = 0.021125
#   without 0.0063 × 3 + 0.002 + 0.00765               = 0.02855
#   gross   0.0054 + 0.0054 = 0.0108   (seed formula: 4000 × (3 − 0.3) / 1e6 = 0.0108)
#   premium 0.0015 + 0.0015 + 0.000375 = 0.003375
#   net     0.0108 − 0.003375 = 0.007425   (= without − with = 0.02855 − 0.021125)
#   output  0.0015 + 0.00225 + 0.003 + 0.00075 + 0.0015 = 0.009
EXPECTED = {
    "total_invocations": 5,
    "failed_invocations": 1,
    "caching_enabled_invocations": 4,
    "cache_hits": 2,
    "hit_rate": 0.5,
    "no_cache_activity_invocations": 0,
    "input_tokens": 1350,
    "cache_read_tokens": 4000,
    "cache_write_tokens": 4500,
    "total_input_tokens": 9850,
    "output_tokens": 600,
    "efficiency_ratio": 0.406091,
    "cost_with_cache": "0.021125",
    "cost_without_cache": "0.028550",
    "gross_savings": "0.010800",
    "write_premium": "0.003375",
    "net_savings": "0.007425",
    "output_cost": "0.009000",
}
# Yesterday alone (first, hit, expired, uncached; failed): with 0.0078 + 0.0009 + 0.0078 + 0.002 = 0.0185,
# without 0.0189 + 0.002 = 0.0209, gross 0.0054, premium 0.003, net 0.0024, output 0.0075.
EXPECTED_YESTERDAY = {
    "total_invocations": 4,
    "failed_invocations": 1,
    "caching_enabled_invocations": 3,
    "cache_hits": 1,
    "hit_rate": 0.333333,
    "input_tokens": 1300,
    "cache_read_tokens": 2000,
    "cache_write_tokens": 4000,
    "output_tokens": 500,
    "cost_with_cache": "0.018500",
    "cost_without_cache": "0.020900",
    "gross_savings": "0.005400",
    "write_premium": "0.003000",
    "net_savings": "0.002400",
    "output_cost": "0.007500",
}
EXPECTED_TODAY = {
    "total_invocations": 1,
    "cache_hits": 1,
    "cache_read_tokens": 2000,
    "cache_write_tokens": 500,
    "cost_with_cache": "0.002625",
    "net_savings": "0.005025",
}
