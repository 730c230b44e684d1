"""Each kind of alert rule as a function: its scope's figures now, and whether the condition holds.

Every figure comes from reporting's reads: rolling windows (at most a day)
from `caching.windows` (the live rows, through their indexes), spend per UTC
day or month from `caching.totals` (rollups for closed days, live rows for
the rest). A window with fewer than the rule's `min_invocations` is too small
to judge, and the condition does not hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from agents_app.models import Agent, Deployment
from alerts.models import AlertRule
from caching.periods import UTC
from caching.totals import CacheTotals, grouped_cache_totals
from caching.windows import window_totals
from pricing.costs import money, percent

Kind = AlertRule.Kind
# The days the write storm's "usual for that hour" averages.
STORM_BASELINE_DAYS = 7
# How long after a deployment its hit rate is compared with the one before.
DEPLOY_WATCH = dt.timedelta(days=1)


@dataclass
class Condition:
    holds: bool
    value: Decimal
    summary: str
    details: dict = field(default_factory=dict)


def scope_label(rule: AlertRule) -> str:
    parts = []
    if rule.agent_id:
        parts.append(f"agent {rule.agent.name}")
    if rule.api_key_id:
        parts.append(f"API key {rule.api_key.prefix} ({rule.api_key.name})")
    return " by ".join(parts) if parts else f"tenant {rule.tenant.name}"


def _window(rule: AlertRule, now: dt.datetime, *, days_back: int = 0, agent_id: int | None = None) -> CacheTotals:
    length = dt.timedelta(minutes=rule.window_minutes)
    ranges = [(now - length - n * dt.timedelta(days=1), now - n * dt.timedelta(days=1)) for n in range(days_back)]
    return window_totals(
        tenant_id=rule.tenant_id,
        ranges=ranges or [(now - length, now)],
        agent_id=agent_id if agent_id is not None else rule.agent_id,
        api_key_id=rule.api_key_id,
    )


def _too_few(rule: AlertRule, count: int, what: str) -> Condition | None:
    if count < rule.min_invocations:
        return Condition(
            False,
            Decimal(count),
            f"{count} {what} in the last {rule.window_minutes} min, fewer than {rule.min_invocations}: not judged.",
        )
    return None


def hit_rate_below(rule: AlertRule, now: dt.datetime, memo: dict) -> Condition:
    totals = _window(rule, now)
    if quiet := _too_few(rule, totals.caching_enabled_invocations, "invocations with caching on"):
        return quiet
    rate = Decimal(str(totals.hit_rate * 100))
    return Condition(
        rate < rule.threshold,
        rate,
        f"Hit rate of {scope_label(rule)} is {percent(totals.hit_rate)} over the last {rule.window_minutes} min "
        f"({totals.cache_hits} hits in {totals.caching_enabled_invocations} invocations with caching on); "
        f"the rule's floor is {rule.threshold.normalize():f}%.",
        {"hit_rate": totals.hit_rate, "invocations": totals.caching_enabled_invocations},
    )


def premium_above_savings(rule: AlertRule, now: dt.datetime, memo: dict) -> Condition:
    totals = _window(rule, now)
    if quiet := _too_few(rule, totals.total_invocations, "invocations"):
        return quiet
    excess = totals.write_premium - totals.gross_savings
    return Condition(
        excess > rule.threshold,
        excess,
        f"Caching of {scope_label(rule)} cost more than it saved over the last {rule.window_minutes} min: "
        f"cache writes cost ${money(totals.write_premium)} above plain input, reads saved "
        f"${money(totals.gross_savings)} (net ${money(totals.net_savings)}).",
        {"write_premium": money(totals.write_premium), "gross_savings": money(totals.gross_savings)},
    )


def write_storm(rule: AlertRule, now: dt.datetime, memo: dict) -> Condition:
    totals = _window(rule, now)
    if quiet := _too_few(rule, totals.total_invocations, "invocations"):
        return quiet
    earlier = _window(rule, now - dt.timedelta(days=1), days_back=STORM_BASELINE_DAYS)
    if not (earlier.total_invocations or earlier.failed_invocations):
        return Condition(False, Decimal(0), f"No traffic at this hour in the previous {STORM_BASELINE_DAYS} days.")
    usual = Decimal(earlier.cache_write_tokens) / STORM_BASELINE_DAYS
    writes = Decimal(totals.cache_write_tokens)
    ratio = (writes / usual).quantize(Decimal("0.01")) if usual else None
    return Condition(
        writes > rule.threshold * usual and writes > 0,
        ratio if ratio is not None else writes,
        f"Cache writes of {scope_label(rule)} reached {int(writes):,} tokens in the last {rule.window_minutes} min, "
        + (f"{ratio}x the usual {int(usual):,} for this hour" if usual else "where this hour usually has none")
        + f" (mean of the previous {STORM_BASELINE_DAYS} days); the rule fires above {rule.threshold.normalize():f}x.",
        {"cache_write_tokens": int(writes), "usual": str(usual.quantize(Decimal("0.1")))},
    )


def hit_rate_drop_after_deploy(rule: AlertRule, now: dt.datetime, memo: dict) -> Condition:
    """Each agent in scope whose current deployment finished within DEPLOY_WATCH: its hit rate over the window
    before the deployment against the one since (at most the window); the worst drop decides."""
    length = dt.timedelta(minutes=rule.window_minutes)
    agents = Agent.objects.filter(tenant_id=rule.tenant_id)
    if rule.agent_id:
        agents = agents.filter(pk=rule.agent_id)
    deployments = (
        Deployment.objects.filter(
            agent__in=agents, status=Deployment.Status.DEPLOYED, finished_at__gte=now - DEPLOY_WATCH
        )
        .select_related("agent")
        .order_by("agent_id", "-version")
    )
    worst: Condition | None = None
    seen = set()
    for deployment in deployments:
        if deployment.agent_id in seen:
            continue  # an older deployment of the same agent
        seen.add(deployment.agent_id)
        at = deployment.finished_at
        before = window_totals(
            tenant_id=rule.tenant_id,
            ranges=[(at - length, at)],
            agent_id=deployment.agent_id,
            api_key_id=rule.api_key_id,
        )
        after = window_totals(
            tenant_id=rule.tenant_id,
            ranges=[(max(at, now - length), now)],
            agent_id=deployment.agent_id,
            api_key_id=rule.api_key_id,
        )
        if min(before.caching_enabled_invocations, after.caching_enabled_invocations) < rule.min_invocations:
            continue
        drop = Decimal(str(round((before.hit_rate - after.hit_rate) * 100, 4)))
        condition = Condition(
            drop >= rule.threshold,
            drop,
            f"Hit rate of agent {deployment.agent.name} fell from {percent(before.hit_rate)} to "
            f"{percent(after.hit_rate)} ({drop.normalize():f} points) after deployment v{deployment.version} "
            f"(deployed {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC); the rule fires at "
            f"{rule.threshold.normalize():f} points.",
            {
                "agent_id": deployment.agent_id,
                "deployment_id": deployment.pk,
                "deployment_version": deployment.version,
                "hit_rate_before": before.hit_rate,
                "hit_rate_after": after.hit_rate,
            },
        )
        if worst is None or condition.value > worst.value:
            worst = condition
    return worst or Condition(False, Decimal(0), "No deployment to compare in the watch period.")


def month_by_scope(tenant_id: int, today: dt.date, memo: dict) -> dict[tuple, CacheTotals]:
    """The tenant's month so far by (day, agent, key), read once per evaluation for all its spend rules: one
    freshness check, one query over the per-key rollup, one over today's live rows."""
    key = ("month", tenant_id, today)
    if key not in memo:
        memo[key] = grouped_cache_totals(
            tenant_from={tenant_id: today.replace(day=1)},
            day_to=today,
            keys=("day", "agent_id", "api_key_id"),
            today=today,
        )
    return memo[key]


def spend_above_budget(rule: AlertRule, now: dt.datetime, memo: dict) -> Condition:
    today = now.astimezone(UTC).date()
    start = today.replace(day=1) if rule.budget_period == AlertRule.BudgetPeriod.MONTH else today
    spent = CacheTotals.total(
        totals
        for (day, agent_id, api_key_id), totals in month_by_scope(rule.tenant_id, today, memo).items()
        if day >= start
        and (rule.agent_id is None or agent_id == rule.agent_id)
        and (rule.api_key_id is None or api_key_id == rule.api_key_id)
    ).spend
    period = f"{start:%Y-%m}" if rule.budget_period == AlertRule.BudgetPeriod.MONTH else start.isoformat()
    return Condition(
        spent > rule.threshold,
        spent,
        f"Spend of {scope_label(rule)} in {period} (UTC) is ${money(spent)}, "
        f"{'above' if spent > rule.threshold else 'within'} the budget of ${money(rule.threshold)}.",
        {"spend": money(spent), "budget": money(rule.threshold), "period": period},
    )


# Each takes the rule, the time, and the evaluation's memo (reads shared by the rules of one evaluation).
CHECKS = {
    Kind.HIT_RATE_BELOW: hit_rate_below,
    Kind.PREMIUM_ABOVE_SAVINGS: premium_above_savings,
    Kind.WRITE_STORM: write_storm,
    Kind.HIT_RATE_DROP_AFTER_DEPLOY: hit_rate_drop_after_deploy,
    Kind.SPEND_ABOVE_BUDGET: spend_above_budget,
}


def rule_condition(rule: AlertRule, now: dt.datetime, memo: dict | None = None) -> Condition:
    """The rule's condition at `now`; `memo` shares reads between the rules of one evaluation."""
    return CHECKS[rule.kind](rule, now, {} if memo is None else memo)
