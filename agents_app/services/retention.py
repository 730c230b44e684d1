"""Content retention: an invocation's prompt and response go after `INVOCATION_CONTENT_RETENTION_DAYS`; its
figures stay.

What is content: the invocation's `prompt` and `response`, and a session's
stored conversation (`messages`, every turn's prompt and answer), which goes
once the session's newest turn is older than the retention period (a later turn
in that session starts from an empty conversation). What stays, for reporting
and audit: status, times, tokens, costs and prices, cache figures and miss
reasons, attempts and errors. Rollups never read content, so reporting is
unchanged. Only finished invocations are blanked: an open one still needs its
prompt to run.

The beat task (`invocation_contents_purge`, daily, on the housekeeping queue)
looks back `PURGE_LOOKBACK_DAYS` before the cutoff, so each run reads a few
days of rows through the `(tenant, queued_at)` index, not the whole history;
after turning retention on for an existing database, run it once with the
whole history (`whole_history=True` from a shell), or archive old months
(`invocation_partitions --detach`) instead.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from agent_platform.models import Tenant
from agents_app.models import AgentSession, Invocation

PURGE_LOOKBACK_DAYS = 7
BATCH = 2000
FINISHED = (Invocation.Status.SUCCEEDED, Invocation.Status.FAILED)


def invocation_contents_purge(
    *, now: dt.datetime | None = None, whole_history: bool = False, batch: int = BATCH
) -> dict[str, int]:
    """Blank the content of finished invocations (and idle sessions) older than the retention period.

    Looks back PURGE_LOOKBACK_DAYS before the cutoff, or with `whole_history`
    at everything before it. Returns how many invocations and sessions were
    blanked. Idempotent; a no-op with retention off (0 days).
    """
    days = settings.INVOCATION_CONTENT_RETENTION_DAYS
    if not days:
        return {"invocations": 0, "sessions": 0}
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    since = None if whole_history else cutoff - dt.timedelta(days=PURGE_LOOKBACK_DAYS)
    with_content = ~Q(prompt="") | ~Q(response="")
    invocations = 0
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        # By tenant, so the (tenant, queued_at) index finds the window's rows.
        old = Invocation.objects.filter(tenant_id=tenant_id, queued_at__lt=cutoff, status__in=FINISHED)
        if since is not None:
            old = old.filter(queued_at__gte=since)
        while ids := list(old.filter(with_content).values_list("pk", flat=True)[:batch]):
            # The time bound lets PostgreSQL skip the partitions of recent months.
            invocations += Invocation.objects.filter(pk__in=ids, queued_at__lt=cutoff).update(prompt="", response="")
    sessions = AgentSession.objects.filter(last_invoked_at__lt=cutoff).exclude(messages=[])
    if since is not None:
        sessions = sessions.filter(last_invoked_at__gte=since)
    return {"invocations": invocations, "sessions": sessions.update(messages=[])}
