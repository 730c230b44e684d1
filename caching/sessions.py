"""An agent's sessions over a period: the cache stats' recent sessions and the sessions CSV.

What a session's figures are is defined once, in `agents_app.sessions`; these
reads choose the sessions and the period's invocations to feed it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q, QuerySet

from agent_platform.models import Tenant
from agents_app.models import Agent, AgentSession, Invocation
from agents_app.selectors import agent_check
from agents_app.sessions import SESSION_ROW_FIELDS, SessionCacheSummary, session_rows, session_summaries
from caching.periods import Period
from caching.statements import Statement, unfiltered


def queued_in(period: Period) -> Q:
    """Invocations queued in the period."""
    return Q(queued_at__gte=period.start, queued_at__lt=period.end)


def period_invocations(*, tenant: Tenant, agent: Agent, period: Period) -> QuerySet[Invocation]:
    """The agent's invocations queued in the period; another tenant's agent is refused (`Agent.DoesNotExist`)."""
    agent_check(tenant=tenant, agent=agent)
    return Invocation.objects.filter(queued_in(period), agent=agent)


def _recent_session_ids(invocations: Q, limit: int) -> tuple[list[int], bool]:
    """The `limit` most recently active sessions among the invocations matching `invocations`, and whether
    there are more.

    Walks the agent's invocations newest first (index on agent, queued_at) in
    pages, keyset-paginated: usually one short query (sessions have a few
    turns each), never a scan of the period.
    """
    chosen: dict[int, None] = {}  # ordered, with a set's lookups
    page_size = 8 * (limit + 1)
    after = None
    while True:
        page = invocations
        if after is not None:
            page = page & (Q(queued_at__lt=after[0]) | Q(queued_at=after[0], pk__lt=after[1]))
        # Session ids only: the place to go on from is read once, when a page was not enough.
        rows = _newest_first(page_size, connections[DEFAULT_DB_ALIAS].vendor).rows(page)
        for session_id, _ in rows:
            chosen[session_id] = None
            if len(chosen) > limit:
                return list(chosen)[:limit], True
        if len(rows) < page_size:
            return list(chosen), False
        after = Invocation.objects.filter(pk=rows[-1][1]).values_list("queued_at", "pk").get()
        page_size *= 4


# The reads of every cache-stats request of an agent, compiled once (`caching.statements`).
@functools.cache
def _newest_first(page_size: int, vendor: str) -> Statement:
    """(session, invocation) ids of invocations, newest first, a page of them."""
    return unfiltered(Invocation.objects.order_by("-queued_at", "-id").values_list("session_id", "pk")[:page_size])


@functools.cache
def _session_rows(vendor: str) -> Statement:
    return unfiltered(session_rows(Invocation.objects.all()))


@functools.cache
def _session_names(vendor: str) -> Statement:
    """(id, the session's own id) of sessions."""
    return unfiltered(AgentSession.objects.values_list("pk", "session_id").order_by())


def agent_cache_sessions(
    *, tenant: Tenant, agent: Agent, period: Period, limit: int
) -> tuple[list[SessionCacheSummary], bool]:
    """The `limit` sessions most recently active in the period (newest first), and whether there are more.

    Their figures are over the period's invocations only.
    """
    agent_check(tenant=tenant, agent=agent)
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    in_period = queued_in(period)
    chosen, has_more = _recent_session_ids(Q(agent_id=agent.pk) & in_period, limit)
    if not chosen:
        return [], has_more
    # By session only (the sessions are the agent's): the (session, queued_at) index then serves the IN list.
    invocations = Q(session_id__in=chosen) & in_period
    rows = [dict(zip(SESSION_ROW_FIELDS, row, strict=True)) for row in _session_rows(vendor).converted(invocations)]
    names = dict(_session_names(vendor).rows(Q(pk__in=chosen)))
    by_id = {summary.id: summary for summary in session_summaries(rows, names)}
    return [by_id[session_id] for session_id in chosen if session_id in by_id], has_more


def agent_period_sessions(*, tenant: Tenant, agent: Agent, period: Period) -> Iterator[SessionCacheSummary]:
    """Every session active in the period, by session id, its figures over the period; read in chunks."""
    rows = session_rows(period_invocations(tenant=tenant, agent=agent, period=period), names=True)
    return session_summaries(rows.iterator(chunk_size=2000))
