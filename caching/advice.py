"""Cache advice: what each caching set-up would have cost on an agent's own traffic, and what to change.

The agent's stored history of a period (`caching.advice_history`) is replayed
in-process through Bedrock's prompt-cache rules (`bedrock.replay`) under no
caching, explicit, automatic and combined with 5-minute and 1-hour TTLs, under
the set-up each turn actually ran with, and under the oracle placement
(`bedrock.oracle`). Every set-up's tokens are priced with the prices stored on
each invocation (`pricing.costs.invocation_costs`), so a price change never
rewrites a past period. Costs are input-side: caching does not change output.

From those figures (`advice_data`, the JSON stored on `CacheAdvice.data`):

- the cheapest set-up and its saving against the current one, over the period
  and projected to 30 days (the saving per day of traffic, times 30);
- the 1-hour TTL verdict: whether the cheapest 1-hour set-up beats the cheapest
  5-minute one, with the observed gaps between reuses that explain it (a
  1-hour write costs 2x input, so it pays only when enough reuses come between
  5 and 60 minutes apart);
- the money left on the table: the current cost above the oracle's, in dollars
  and percent (the oracle is the lower of its own placement and every set-up,
  so no configuration beats it);
- a self-check: how many invocations the replay of the actual set-up
  reproduces exactly (input, read and write tokens), and its cost against the
  stored cost.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max

from agent_platform.models import Tenant
from agents_app.models import Agent, Invocation
from agents_app.selectors import agent_check
from bedrock.misses import count_reasons
from bedrock.oracle import replay_oracle
from bedrock.replay import ACTUAL, SETUPS, Replay, Setup, SetupResult
from caching.advice_history import History, period_invocations
from caching.models import CacheAdvice
from caching.periods import UTC, Period
from pricing.costs import TokenUsage, invocation_costs, money, ratio

ACTUAL_SETUP = Setup("actual", ACTUAL)
PROJECTION_DAYS = 30
ZERO = Decimal(0)


@dataclass
class Priced:
    name: str
    cost: Decimal
    tokens: tuple[int, int, int, int]  # input, cache read, cache write, of which 1-hour write
    result: SetupResult


def _price(result: SetupResult, history: History) -> Priced:
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    prices = {}
    for turn in result.turns:
        p = history.prices[turn.key]
        prices[id(p)] = p
        for i, value in enumerate(turn.totals()):
            sums[id(p)][i] += value
    cost = ZERO
    for key, (inp, read, write, write_1h) in sums.items():
        usage = TokenUsage(
            input_tokens=inp, cache_read_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=write_1h
        )
        cost += invocation_costs(usage, prices[key]).cost_with_cache
    tokens = tuple(sum(s[i] for s in sums.values()) for i in range(4))
    return Priced(result.setup.name, cost, tokens, result)  # type: ignore[arg-type]


def _setup_json(priced: Priced) -> dict:
    setup, result = priced.result.setup, priced.result
    inp, read, write, write_1h = priced.tokens
    return {
        "name": priced.name,
        "strategy": setup.strategy if setup.strategy not in (ACTUAL, "oracle") else None,
        "ttl": setup.ttl if setup.strategy not in (None, ACTUAL, "oracle") else None,
        "available": True,
        "cost": money(priced.cost),
        "input_tokens": inp,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
        "cache_write_1h_tokens": write_1h,
        "miss_reasons": count_reasons(t.reason for t in result.turns if t.reason is not None),
    }


def _reuse_gaps(replay: Replay) -> dict[str, int]:
    """Gaps between a prefix's uses: a conversation's turn after its previous one, a conversation's first turn
    after the agent's previous turn on the same head; counted under 5 minutes, 5 to 60, over 60."""
    gaps = {"under_5m": 0, "5m_to_60m": 0, "over_60m": 0}
    last_by_head: dict[str, float] = {}
    for i in replay.turn_order:
        turn = replay.turns[i]
        previous = replay.previous[i]
        before = replay.turns[previous].finished if previous is not None else last_by_head.get(turn.head.identity)
        last_by_head[turn.head.identity] = turn.finished
        if before is None:
            continue
        gap = turn.started - before
        key = "under_5m" if gap < 300 else "5m_to_60m" if gap < 3600 else "over_60m"
        gaps[key] += 1
    return gaps


def _current_name(replay: Replay) -> str:
    strategies = {turn.head.actual for turn in replay.turns}
    if len(strategies) != 1:
        return "actual"
    strategy = strategies.pop()
    # The runtime asks for no TTL: Bedrock's default, 5 minutes.
    return f"{strategy}-5m" if strategy else "none"


def _self_check(actual: Priced, history: History) -> dict:
    exact = 0
    stored_cost = ZERO
    for turn in actual.result.turns:
        stored = history.stored[turn.key]
        stored_cost += stored.cost_with_cache
        inp, read, write, _ = turn.totals()
        exact += (inp, read, write) == (stored.input_tokens, stored.cache_read_tokens, stored.cache_write_tokens)
    compared = len(actual.result.turns)
    return {
        "compared_invocations": compared,
        "exact_invocations": exact,
        "exact_ratio": ratio(exact, compared),
        "stored_cost": money(stored_cost),
        "replayed_cost": money(actual.cost),
        "cost_difference_ratio": float(ratio(abs(actual.cost - stored_cost), stored_cost)),
    }


def _days(history: History, period: Period) -> int:
    """Days of traffic the period's costs stand for: from its first invocation's day (or the period's) to its end."""
    first = dt.datetime.fromtimestamp(history.first_at, UTC).date() if history.first_at else period.day_from
    return max(1, (period.day_to - max(first, period.day_from)).days + 1)


def _per_30_days(amount: Decimal, days: int) -> Decimal:
    return amount * PROJECTION_DAYS / days


def _summary(cheapest: Priced, current: Priced, saving_30d: Decimal, one_hour: dict) -> str:
    if cheapest.name == current.name or cheapest.cost >= current.cost:
        return "Keep the current set-up: no other set-up would have cost less on this traffic."
    text = f"Switch to {cheapest.name}: about ${saving_30d:.2f} less input cost per 30 days."
    if one_hour["verdict"] == "pays":
        text += " A 1-hour TTL pays here: enough reuses come 5 to 60 minutes apart."
    return text


def advice_data(history: History, *, on_progress: Callable[[float], None] | None = None, period: Period) -> dict:
    """Replay the history under every set-up and the oracle, price them and draw the advice (JSON-ready)."""
    progress = on_progress or (lambda fraction: None)
    base = {
        "invocations": history.invocations,
        "replayed_invocations": history.replayed,
        "skipped_invocations": history.skipped,
        "sessions": history.sessions,
        "through_invocation_id": history.through_id,
        "currency": "USD",
    }
    if not history.replayed:
        return {**base, "setups": [], "advice": None}
    replay = Replay(history.conversations)
    progress(0.1)
    steps = len(SETUPS) + 2
    priced: list[Priced] = []
    setups_json = []
    for step, setup in enumerate(SETUPS, start=1):
        result = replay.run(setup)
        if result.available:
            priced.append(_price(result, history))
            setups_json.append(_setup_json(priced[-1]))
        else:
            setups_json.append({"name": setup.name, "available": False, "why_unavailable": result.why_unavailable})
        progress(0.1 + 0.9 * step / steps)
    current = _price(replay.run(ACTUAL_SETUP), history)
    current.name = _current_name(replay)
    progress(0.1 + 0.9 * (steps - 1) / steps)
    oracle = _price(replay_oracle(replay, history.rates()), history)
    progress(1.0)

    cheapest = min(priced, key=lambda p: p.cost)
    floor = min([oracle, current, *priced], key=lambda p: p.cost)
    days = _days(history, period)
    saving = max(current.cost - cheapest.cost, ZERO)
    left = current.cost - floor.cost
    one_hour = _one_hour_verdict(priced, replay)
    oracle_json = {
        **_setup_json(oracle),
        "name": "oracle",
        "placement_from": floor.name if floor is not oracle else "oracle",
    }
    if floor is not oracle:
        oracle_json.update({k: v for k, v in _setup_json(floor).items() if k not in ("name", "strategy", "ttl")})
    return {
        **base,
        "days": days,
        "model_calls": len(replay.calls),
        "setups": setups_json,
        "actual": {**_setup_json(current), "self_check": _self_check(current, history)},
        "oracle": oracle_json,
        "advice": {
            "current": current.name,
            "current_cost": money(current.cost),
            "cheapest": cheapest.name,
            "cheapest_cost": money(cheapest.cost),
            "saving": money(saving),
            "saving_30d": money(_per_30_days(saving, days)),
            "one_hour_ttl": one_hour,
            "oracle_cost": money(floor.cost),
            "left_on_table": money(left),
            "left_on_table_30d": money(_per_30_days(left, days)),
            "left_on_table_ratio": float(ratio(left, current.cost)),
            "cheapest_above_oracle": money(cheapest.cost - floor.cost),
            "summary": _summary(cheapest, current, _per_30_days(saving, days), one_hour),
        },
    }


def _one_hour_verdict(priced: list[Priced], replay: Replay) -> dict:
    gaps = _reuse_gaps(replay)
    five = [p for p in priced if p.result.setup.ttl == "5m" and p.result.setup.strategy]
    hour = [p for p in priced if p.result.setup.ttl == "1h"]
    verdict = {"reuse_gaps": gaps, "write_cost_vs_input": "2x (5-minute writes: 1.25x)"}
    if not hour:
        return {**verdict, "verdict": "unavailable", "reason": "The agent's model takes no 1-hour TTL."}
    best_hour, best_five = min(hour, key=lambda p: p.cost), min(five, key=lambda p: p.cost)
    pays = best_hour.cost < best_five.cost
    reused = gaps["5m_to_60m"]
    reason = (
        f"{reused} of {sum(gaps.values())} reuses came 5 to 60 minutes apart, where only a 1-hour entry survives"
        + ("; that repays its dearer writes." if pays else "; too few to repay writes at 2x input.")
    )
    return {
        **verdict,
        "verdict": "pays" if pays else "does_not_pay",
        "best_1h": best_hour.name,
        "best_5m": best_five.name,
        "difference": money(best_five.cost - best_hour.cost),
        "reason": reason,
    }


# --- Reads of stored advice ---------------------------------------------------------------------


@dataclass(frozen=True)
class DataMark:
    """What a period's advice would be computed from now: how many invocations, up to which id."""

    invocations: int
    through_id: int


def advice_data_mark(*, agent: Agent, period: Period) -> DataMark:
    found = period_invocations(agent=agent, period=period).aggregate(count=Count("pk"), top=Max("pk"))
    return DataMark(found["count"] or 0, found["top"] or 0)


def advice_data_marks(*, tenant: Tenant, period: Period, agent: Agent | None = None) -> dict[int, DataMark]:
    """`advice_data_mark` of every agent of the tenant with succeeded invocations in the period, in one query."""
    invocations = Invocation.objects.filter(
        tenant=tenant, status=Invocation.Status.SUCCEEDED, queued_at__gte=period.start, queued_at__lt=period.end
    )
    if agent is not None:
        invocations = invocations.filter(agent=agent_check(tenant=tenant, agent=agent))
    rows = invocations.values("agent_id").annotate(count=Count("pk"), top=Max("pk")).order_by()
    return {row["agent_id"]: DataMark(row["count"], row["top"]) for row in rows}


def advice_is_current(advice: CacheAdvice, mark: DataMark) -> bool:
    return (
        advice.status == CacheAdvice.Status.READY
        and advice.invocations == mark.invocations
        and advice.through_invocation_id == mark.through_id
    )


def agents_with_traffic(*, tenant: Tenant, period: Period) -> list[Agent]:
    """The tenant's agents with succeeded invocations in the period."""
    agents = Agent.objects.filter(
        tenant=tenant,
        invocations__status="succeeded",
        invocations__queued_at__gte=period.start,
        invocations__queued_at__lt=period.end,
    )
    return list(agents.distinct().select_related("model__family").order_by("name"))
