"""Who pays: who asked for an invocation, and hard monthly budgets (the running month's spend, and the check
that refuses an invocation once the budget is spent).

The spend is kept running (`MonthlySpend`, one row per agent and UTC month),
added to in the transaction that stores each invocation's costs, so the check
reads one or a few small rows however many invocations the month holds. The
month of an invocation is that of its `queued_at`, as the cache reports count
days. Invocations already queued when the budget runs out still run, so a
month may end a few invocations over; nothing new starts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from agent_platform.errors import ApplicationError
from agent_platform.tenancy import KeyPrincipal
from agents_app.models import Agent, Budget, MonthlySpend
from pricing.costs import Costs, money, spend

# A refusal the caller fixes by raising the budget or waiting for the month to turn: 402, as a bill unpaid.
BUDGET_EXHAUSTED_STATUS = 402


def requester_fields(actor) -> dict:
    """Who asked for an invocation, as it records it (spend is broken down by it): the API key of a key
    principal, or the person using the admin; nothing for a command or the system."""
    if isinstance(actor, KeyPrincipal):
        return {"api_key_id": actor.key_id or None}
    if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) is not None:
        return {"requested_by_id": actor.pk}
    return {}


def month_of(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date().replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class BudgetState:
    budget: Budget
    month: dt.date
    spent: Decimal

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget.monthly_limit

    @property
    def scope(self) -> str:
        return f"agent {self.budget.agent_id}" if self.budget.agent_id else "tenant"


def month_spend(*, tenant_id: int, month: dt.date, agent_id: int | None = None) -> Decimal:
    """The month's spend of the tenant, or of one of its agents, from the running totals."""
    rows = MonthlySpend.objects.filter(tenant_id=tenant_id, month=month)
    if agent_id is not None:
        rows = rows.filter(agent_id=agent_id)
    return rows.aggregate(total=Sum("spend"))["total"] or Decimal(0)


def budget_states(*, agent: Agent, now: dt.datetime | None = None) -> list[BudgetState]:
    """The hard budgets that apply to an invocation of `agent` (its tenant's and its own), with this month's spend."""
    month = month_of(now or timezone.now())
    budgets = Budget.objects.filter(Q(agent__isnull=True) | Q(agent_id=agent.pk), tenant_id=agent.tenant_id)
    return [
        BudgetState(
            budget=budget,
            month=month,
            spent=month_spend(tenant_id=agent.tenant_id, month=month, agent_id=budget.agent_id),
        )
        for budget in budgets
    ]


def budget_check(*, agent: Agent, now: dt.datetime | None = None) -> None:
    """Refuse (`budget_exhausted`, 402) an invocation whose tenant or agent has spent its hard monthly budget.

    One query when no budget is set (the usual case), one more per budget.
    """
    for state in budget_states(agent=agent, now=now):
        if state.exhausted:
            ends = next_month(state.month)
            error = ApplicationError(
                f"The {state.scope}'s hard monthly budget of ${money(state.budget.monthly_limit)} for "
                f"{state.month:%Y-%m} is spent (${money(state.spent)}); new invocations are refused until "
                f"{ends.isoformat()} (UTC) or until the budget is raised.",
                "budget_exhausted",
                status=BUDGET_EXHAUSTED_STATUS,
            )
            error.errors["budget"] = {
                "scope": "agent" if state.budget.agent_id else "tenant",
                "agent_id": state.budget.agent_id,
                "monthly_limit": money(state.budget.monthly_limit),
                "spent": money(state.spent),
                "period": f"{state.month:%Y-%m}",
                "period_start": state.month.isoformat(),
                "resets_on": ends.isoformat(),
            }
            raise error


def monthly_spend_add(*, tenant_id: int, agent_id: int, queued_at: dt.datetime, costs: Costs) -> None:
    """Add a finished invocation's spend to its agent's month. Call it in the transaction that stores the costs."""
    amount = spend(costs.cost_with_cache, costs.output_cost)
    if not amount:
        return
    month = month_of(queued_at)
    row, _ = MonthlySpend.objects.get_or_create(agent_id=agent_id, month=month, defaults={"tenant_id": tenant_id})
    MonthlySpend.objects.filter(pk=row.pk).update(spend=F("spend") + amount)
