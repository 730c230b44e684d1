"""Cache advice writes: compute an agent's advice for a period and store it, now or in a Celery task.

`cache_advice_request` answers with the stored advice while it is current (no
invocation of the period is newer or missing), computes it at once when the
period holds few invocations (`CACHE_ADVICE_SYNC_INVOCATIONS`), and otherwise
queues `caching.tasks.cache_advice_refresh`, which reports its progress on the
row. The row is claimed with a conditional update before a task computes it,
so two copies of the task never compute it twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agent_platform.models import Tenant
from agents_app.models import Agent
from agents_app.selectors import agent_check
from caching.advice import advice_data, advice_data_mark, advice_data_marks, advice_is_current
from caching.advice_history import agent_history
from caching.models import CacheAdvice
from caching.periods import Period

logger = logging.getLogger(__name__)

# A queued computation not started after this long is sent again (a lost message, a dead worker).
REQUEUE_AFTER = timedelta(minutes=10)
PROGRESS_STEP = 0.05


def sync_limit() -> int:
    return int(getattr(settings, "CACHE_ADVICE_SYNC_INVOCATIONS", 2000))


def cache_advice_request(
    *, tenant: Tenant, agent: Agent, period: Period, force: bool = False, compute_up_to: int | None = None
) -> CacheAdvice:
    """The agent's advice for the period: the stored one while current, else computed now when the period has
    at most `compute_up_to` invocations (default `CACHE_ADVICE_SYNC_INVOCATIONS`), else queued."""
    agent_check(tenant=tenant, agent=agent)
    mark = advice_data_mark(agent=agent, period=period)
    advice, created = CacheAdvice.objects.get_or_create(
        agent=agent,
        period_from=period.day_from,
        period_to=period.day_to,
        defaults={"tenant": tenant, "requested_at": timezone.now()},
    )
    if not force and advice_is_current(advice, mark):
        return advice
    if mark.invocations <= (sync_limit() if compute_up_to is None else compute_up_to):
        return cache_advice_compute(advice=advice)
    return _queue(advice, sent=not created)


def _queue(advice: CacheAdvice, *, sent: bool) -> CacheAdvice:
    """Queue the computation, unless a task for it was sent a short while ago (`sent`)."""
    now = timezone.now()
    if sent and _in_flight(advice, now):
        return advice  # the queued task reads the newest invocations when it runs
    CacheAdvice.objects.filter(pk=advice.pk).update(status=CacheAdvice.Status.PENDING, requested_at=now, progress=0)
    advice.refresh_from_db()
    transaction.on_commit(partial(cache_advice_enqueue, advice.agent_id, advice.period_from, advice.period_to))
    return advice


def _in_flight(advice: CacheAdvice, now) -> bool:
    return (
        advice.status in (CacheAdvice.Status.PENDING, CacheAdvice.Status.RUNNING)
        and advice.requested_at > now - REQUEUE_AFTER
    )


def cache_advice_enqueue(agent_id: int, day_from, day_to) -> None:
    from caching import tasks  # the tasks module imports this one

    try:
        tasks.cache_advice_refresh.delay(agent_id, day_from.isoformat(), day_to.isoformat())
    except Exception:
        logger.warning("could not enqueue cache advice of agent %s; the next request sends it again", agent_id)


def cache_advice_compute(*, advice: CacheAdvice) -> CacheAdvice:
    """Replay the advice's period and store the figures (a failure is stored too, and raised)."""
    now = timezone.now()
    CacheAdvice.objects.filter(pk=advice.pk).update(status=CacheAdvice.Status.RUNNING, started_at=now, progress=0)
    period = Period(advice.period_from, advice.period_to)
    reported = [0.0]

    def on_progress(fraction: float) -> None:
        if fraction - reported[0] >= PROGRESS_STEP or fraction >= 1:
            reported[0] = fraction
            CacheAdvice.objects.filter(pk=advice.pk).update(progress=round(fraction, 3))

    try:
        history = agent_history(tenant=advice.tenant, agent=advice.agent, period=period)
        data = advice_data(history, on_progress=on_progress, period=period)
    except Exception as exc:
        CacheAdvice.objects.filter(pk=advice.pk).update(
            status=CacheAdvice.Status.FAILED, error=f"{type(exc).__name__}: {exc}", computed_at=timezone.now()
        )
        raise
    left = (data.get("advice") or {}).get("left_on_table") or "0"
    CacheAdvice.objects.filter(pk=advice.pk).update(
        status=CacheAdvice.Status.READY,
        progress=1,
        computed_at=timezone.now(),
        invocations=history.invocations,
        through_invocation_id=history.through_id,
        left_on_table=left,
        data=data,
        error="",
    )
    advice.refresh_from_db()
    return advice


def cache_advice_refresh(*, agent_id: int, day_from, day_to) -> CacheAdvice | None:
    """The task's work: the agent's advice for the period, computed unless current or being computed."""
    agent = Agent.objects.select_related("tenant").filter(pk=agent_id).first()
    if agent is None:
        return None
    period = Period(day_from, day_to)
    advice, _ = CacheAdvice.objects.get_or_create(
        agent=agent,
        period_from=day_from,
        period_to=day_to,
        defaults={"tenant": agent.tenant, "requested_at": timezone.now()},
    )
    if advice_is_current(advice, advice_data_mark(agent=agent, period=period)):
        return advice
    now = timezone.now()
    # Claimed once: a copy of the task that finds it running (and not abandoned) leaves it alone.
    running = Q(status=CacheAdvice.Status.RUNNING, started_at__gt=now - REQUEUE_AFTER)
    claimed = (
        CacheAdvice.objects.filter(pk=advice.pk)
        .exclude(running)
        .update(status=CacheAdvice.Status.RUNNING, started_at=now)
    )
    if not claimed:
        return None
    return cache_advice_compute(advice=advice)


def tenant_cache_advice_request(
    *, tenant: Tenant, period: Period, agents, budget: int | None = None
) -> list[CacheAdvice]:
    """Every agent's advice for the period: current ones as stored; the rest computed now while their
    invocations fit in one synchronous budget (default `CACHE_ADVICE_SYNC_INVOCATIONS` in all), the others
    queued."""
    budget = sync_limit() if budget is None else budget
    found = []
    for agent in agents:
        stored = CacheAdvice.objects.filter(agent=agent, period_from=period.day_from, period_to=period.day_to)
        before = stored.values_list("computed_at", flat=True).first()
        advice = cache_advice_request(tenant=tenant, agent=agent, period=period, compute_up_to=budget)
        if advice.computed_at != before:
            budget = max(0, budget - advice.invocations)
        found.append(advice)
    return found


def cache_advice_queue(*, tenant: Tenant, period: Period, agent: Agent | None = None) -> list[CacheAdvice]:
    """For pages: the stored advice of the period's agents (or of `agent`), queueing the missing and stale ones.

    Nothing is computed while the page waits: two queries however many agents the tenant has, and a few more
    when some advice is missing or stale. A missing one is stored as pending and a stale one marked pending,
    with the task on its way: that pending row is the marker, so the next views queue nothing more for it
    until it is computed, or `REQUEUE_AFTER` has passed (a lost message).
    """
    marks = advice_data_marks(tenant=tenant, period=period, agent=agent)
    if not marks:
        return []
    rows = {
        advice.agent_id: advice
        for advice in CacheAdvice.objects.filter(
            tenant=tenant, period_from=period.day_from, period_to=period.day_to, agent_id__in=list(marks)
        ).select_related("agent__model__family", "tenant")
    }
    now = timezone.now()
    missing = [agent_id for agent_id in marks if agent_id not in rows]
    if missing:
        agents = [agent] if agent is not None else Agent.objects.filter(pk__in=missing).select_related("model__family")
        placeholders = [
            CacheAdvice(
                tenant=tenant, agent=found, period_from=period.day_from, period_to=period.day_to, requested_at=now
            )
            for found in agents
        ]
        # Another view may have stored the same one meanwhile: then its task is on its way too.
        CacheAdvice.objects.bulk_create(placeholders, ignore_conflicts=True)
        rows.update({advice.agent_id: advice for advice in placeholders})
    due = [
        advice
        for advice in rows.values()
        if advice.pk is None or not (advice_is_current(advice, marks[advice.agent_id]) or _in_flight(advice, now))
    ]
    stale = [advice for advice in due if advice.pk is not None]
    if stale:
        CacheAdvice.objects.filter(pk__in=[advice.pk for advice in stale]).update(
            status=CacheAdvice.Status.PENDING, requested_at=now, progress=0
        )
        for advice in stale:
            advice.status, advice.requested_at, advice.progress = CacheAdvice.Status.PENDING, now, 0
    for advice in due:
        transaction.on_commit(partial(cache_advice_enqueue, advice.agent_id, period.day_from, period.day_to))
    return list(rows.values())
