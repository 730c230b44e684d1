"""Invocations: queue one, then run it exactly once, in its session's order, and store what it cost.

Exactly once, without locks held across a model call:
- a finished invocation is never run again (a redelivered task is a no-op);
- a session's turns run one at a time, oldest first: a worker takes the
  session's lease (a conditional UPDATE, healthchecks-style) before it runs a
  turn, and only the holder of the lease token can store the result;
- a worker renews its lease while the turn runs (`agents_app.services.leases`);
  one that dies mid-turn stores nothing, its lease lapses within
  `INVOCATION_LEASE_SECONDS`, and the task sent again by the sweeper (or
  redelivered) runs the turn again from the stored conversation, recording the
  lost attempt (`lost_attempts`, and in `retries`).

Attempts: `attempts` counts every attempt at the model calls, the service's
runs and the retries botocore makes inside a run alike, and `retries` lists
each failed attempt that was tried again (its error, when, and whether botocore
or the service retried it). `INVOCATION_MAX_ATTEMPTS` bounds the service's runs.

A run holds no database connection while the model answers (PostgreSQL's pool
has far fewer connections than a worker has threads), and the model calls are
cancelled after `INVOCATION_TIME_LIMIT` seconds, in code, whatever the pool.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from botocore.config import Config as BotocoreConfig
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents_app import budgets, deployers, selectors
from agents_app.budgets import requester_fields
from agents_app.cache_misses import invocation_miss_reason
from agents_app.models import Agent, AgentSession, Deployment, FoundationModel, Invocation
from agents_app.runtime.clients import bedrock_client, retries_recorded
from agents_app.runtime.config import AgentConfig
from agents_app.runtime.errors import is_retryable
from agents_app.runtime.run import RunResult, run_agent
from agents_app.services.errors import RetryLater
from agents_app.services.leases import session_lease_kept
from agents_app.sessions import session_totals_failed, session_totals_succeeded
from agents_app.telemetry import invocation_bind, traceparent_current
from agents_app.validators import invocation_input_check
from pricing.costs import TokenUsage, invocation_costs
from pricing.selectors import model_prices

logger = logging.getLogger(__name__)

UNFINISHED = (Invocation.Status.QUEUED, Invocation.Status.RUNNING)

# botocore retries a throttled call a little (recorded in `retries`); the task retries with longer backoff
# after that. The shared client keeps a connection for each thread of the worker, and no read waits longer
# than a turn may last.
BEDROCK_CLIENT_CONFIG = BotocoreConfig(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=10,
    read_timeout=min(settings.INVOCATION_TIME_LIMIT, 120),
    max_pool_connections=max(settings.CELERY_WORKER_CONCURRENCY or 0, 10),
)
ERROR_CHARS = 500  # of an error kept in `retries`


def invocation_client_prepare() -> None:
    """Build the shared Bedrock client (and import Strands) before the first turn: a worker calls this at start."""
    bedrock_client(BEDROCK_CLIENT_CONFIG)


def invocation_create(*, agent: Agent, prompt: str, session_id: str | None = None, actor=None) -> Invocation:
    """Queue a turn of the session (a new session when `session_id` is None); the worker picks it up on commit.

    Every door (API, admin, command) comes through here, so this is where the input is checked.
    """
    invocation_input_check(prompt=prompt, session_id=session_id)
    # A spent hard budget refuses the invocation before anything is stored or queued.
    budgets.budget_check(agent=agent)

    with transaction.atomic():
        # By id: the agent's tenant row is not needed here, and loading it costs a query per request.
        session, _ = AgentSession.objects.get_or_create(
            agent=agent, session_id=session_id or uuid.uuid4().hex, defaults={"tenant_id": agent.tenant_id}
        )
        invocation = Invocation.objects.create(
            tenant_id=agent.tenant_id,
            agent=agent,
            session=session,
            prompt=prompt,
            model_id=agent.model.model_id,
            enqueued_at=timezone.now(),
            trace_parent=traceparent_current(),
            **requester_fields(actor),
        )
        transaction.on_commit(lambda: invocation_enqueue(invocation.pk))
    return invocation


def invocation_enqueue(invocation_id: int) -> None:
    """Send the task. A broker outage is logged, not raised: the row is safe and the sweeper sends it again."""
    from agents_app import tasks  # imported here: the tasks module imports this one

    try:
        tasks.invocation_run.delay(invocation_id)
    except Exception:
        logger.warning("could not enqueue invocation %s; it will be requeued", invocation_id, exc_info=True)


def invocations_requeue_stale() -> int:
    """Send a task again for invocations whose message may be lost (a broker restart, a dead worker's).

    A queued one waits `INVOCATION_REQUEUE_AFTER` first. A running one whose session lease lapsed was left by
    a dead worker (a live one renews its lease), so it is sent at once, and not again before another lease
    could have lapsed. Sending one too many is harmless: a finished invocation is a no-op and a session runs
    one turn at a time.
    """
    now = timezone.now()
    lost_message = Q(
        status=Invocation.Status.QUEUED, enqueued_at__lt=now - timedelta(seconds=settings.INVOCATION_REQUEUE_AFTER)
    )
    dead_worker = Q(
        status=Invocation.Status.RUNNING,
        enqueued_at__lt=now - timedelta(seconds=settings.INVOCATION_LEASE_SECONDS),
    ) & (Q(session__lease_until__isnull=True) | Q(session__lease_until__lt=now))
    stale = Invocation.objects.filter(lost_message | dead_worker)
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:1000])
    Invocation.objects.filter(pk__in=ids).update(enqueued_at=now)
    for invocation_id in ids:
        invocation_enqueue(invocation_id)
    if ids:
        logger.warning("requeued %s stale invocations", len(ids))
    return len(ids)


def invocation_run(*, invocation_id: int) -> None:
    """Run one queued invocation to the end, or raise `RetryLater`.

    Everything that decides whether and how the turn runs is read after the
    session's lease is taken: a copy of the task that waited for the lease then
    sees the turn finished, and a turn always starts from the conversation the
    previous turn stored.
    """
    session_pk = Invocation.objects.filter(pk=invocation_id).values_list("session_id", flat=True).first()
    if session_pk is None:
        _log_gone(invocation_id)
        return
    token = _session_lease_take(session_pk)
    if token is None:
        if Invocation.objects.filter(pk=invocation_id, status__in=UNFINISHED).exists():
            _retry_later(invocation_id, countdown=2, reason="another worker holds the session")
        return
    invocation = (
        Invocation.objects.select_related("agent__model__family", "tenant", "session").filter(pk=invocation_id).first()
    )
    if invocation is None:  # deleted while the lease was taken (with its session, so there is none to release)
        _log_gone(invocation_id)
        return
    invocation_bind(invocation)  # its ids on logs, Bedrock's requestMetadata and spans
    if invocation.status not in UNFINISHED:
        _session_lease_release(session_pk, token)
        logger.info("invocation %s is already %s; nothing to do", invocation_id, invocation.status)
        return
    if Invocation.objects.filter(session_id=session_pk, pk__lt=invocation.pk, status__in=UNFINISHED).exists():
        _session_lease_release(session_pk, token)
        _retry_later(invocation.pk, countdown=1, reason="an earlier turn of the session has not finished")

    started_at = timezone.now()
    claim = {"status": Invocation.Status.RUNNING, "started_at": started_at, "attempts": F("attempts") + 1}
    if invocation.queue_wait_ms is None:  # the first attempt
        claim["queue_wait_ms"] = max(0, round((started_at - invocation.queued_at).total_seconds() * 1000))
    lost = _lost_attempt(invocation, started_at)
    if lost and _service_runs(invocation) >= settings.INVOCATION_MAX_ATTEMPTS:
        # A turn that keeps killing its worker (or outliving it) is not run, and billed, forever.
        error = f"WorkerLost: lost with its worker at the last of {settings.INVOCATION_MAX_ATTEMPTS} attempts"
        with transaction.atomic():
            failed = Invocation.objects.filter(pk=invocation.pk, status=invocation.status).update(
                status=Invocation.Status.FAILED,
                finished_at=started_at,
                error=error,
                lost_attempts=F("lost_attempts") + 1,
            )
            _session_lease_release(session_pk, token, **(session_totals_failed() if failed else {}))
        logger.error("invocation %s failed: %s", invocation.pk, error)
        return
    if lost:
        claim |= {"lost_attempts": F("lost_attempts") + 1, "retries": [*invocation.retries, lost]}
    claimed = Invocation.objects.filter(pk=invocation.pk, status=invocation.status).update(**claim)
    if not claimed:
        _session_lease_release(session_pk, token)
        return
    # Read under the lease, so no one else changed it: the row now holds these values.
    invocation.status, invocation.started_at, invocation.attempts = (
        Invocation.Status.RUNNING,
        started_at,
        invocation.attempts + 1,
    )
    if lost:
        invocation.retries, invocation.lost_attempts = [*invocation.retries, lost], invocation.lost_attempts + 1
    # The agent's current deployment (its settings as they stand before the first one).
    deployment, config = selectors.deployment_config_for_run(invocation.agent)
    _database_connection_return()
    with retries_recorded() as sdk_retries:
        try:
            with session_lease_kept(session_pk, token):
                if deployers.runs_in_agentcore(deployment):
                    result = deployers.run_in_agentcore(
                        deployment,
                        invocation.prompt,
                        messages=invocation.session.messages,
                        session_key=invocation.session.session_id,
                    )
                else:
                    result = run_agent(
                        AgentConfig.from_json(config),
                        invocation.prompt,
                        messages=invocation.session.messages,
                        boto_client_config=BEDROCK_CLIENT_CONFIG,
                        timeout=settings.INVOCATION_TIME_LIMIT,
                    )
        except Exception as exc:
            _handle_failure(invocation, token, exc, _botocore_retries(invocation, sdk_retries))
            return
    _store_success(invocation, token, config, result, deployment, _botocore_retries(invocation, sdk_retries))


def _lost_attempt(invocation: Invocation, now) -> dict | None:
    """The `retries` entry for the attempt a dead worker left, when the turn is found running under a free lease.

    A live worker renews its lease, so a running turn whose lease could be taken lost its worker (killed, or
    cut off from the database for longer than a lease): its model call may have reached Bedrock, and been
    billed, before it died, and the turn now runs again.
    """
    if invocation.status != Invocation.Status.RUNNING:
        return None
    logger.warning(
        "invocation %s attempt %s was lost with its worker; running the turn again (the model call may be billed "
        "twice)",
        invocation.pk,
        invocation.attempts,
    )
    return {
        "attempt": invocation.attempts,
        "error": "WorkerLost: the worker running this attempt stopped renewing its session lease (killed or cut "
        "off); its model call may have reached Bedrock and been billed, and the turn ran again",
        "status": None,
        "retried_by": "service",
        "lost_with_worker": True,
        "at": now.isoformat(),
    }


def _log_gone(invocation_id: int) -> None:
    # Deleting an agent deletes its queued turns; their tasks are still on the queue. Nothing went wrong.
    logger.info("invocation %s no longer exists (deleted with its agent or session); nothing to do", invocation_id)


def _database_connection_return() -> None:
    """Give this thread's pooled connection back for the length of the model call; the next query borrows one.

    Only with a pool: closing a plain connection would cost a reconnect per turn, and SQLite needs no pool.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()


def _botocore_retries(invocation: Invocation, sdk_retries: list[dict]) -> list[dict]:
    """The retries botocore made during this run, numbered after the run's first attempt, and logged."""
    entries = [
        {"attempt": invocation.attempts + n, **retry, "retried_by": "botocore"} for n, retry in enumerate(sdk_retries)
    ]
    for entry in entries:
        logger.warning(
            "invocation %s attempt %s failed (%s, HTTP %s); botocore retried it",
            invocation.pk,
            entry["attempt"],
            entry["error"],
            entry["status"],
        )
    return entries


def _service_runs(invocation: Invocation) -> int:
    """How many times the service has run the invocation: its attempts less the retries botocore made inside them."""
    return invocation.attempts - sum(1 for retry in invocation.retries if retry.get("retried_by") == "botocore")


def _retry_later(invocation_id: int, *, countdown: float, reason: str):
    # The task is about to be sent again: the sweeper need not.
    Invocation.objects.filter(pk=invocation_id).update(enqueued_at=timezone.now() + timedelta(seconds=countdown))
    raise RetryLater(countdown=countdown, reason=reason)


def _session_lease_take(session_pk: int) -> str | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        AgentSession.objects.filter(pk=session_pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + timedelta(seconds=settings.INVOCATION_LEASE_SECONDS))
    )
    return token if taken else None


def _session_lease_release(session_pk: int, token: str, **changes) -> bool:
    """Release the lease (storing `changes` on the session); False when it was no longer ours."""
    released = AgentSession.objects.filter(pk=session_pk, lease_token=token).update(
        lease_token="", lease_until=None, **changes
    )
    return bool(released)


def _handle_failure(invocation: Invocation, token: str, exc: Exception, botocore_retries: list[dict]) -> None:
    error = f"{type(exc).__name__}: {exc}"
    runs = _service_runs(invocation)
    retry = is_retryable(exc) and runs < settings.INVOCATION_MAX_ATTEMPTS
    attempt = invocation.attempts + len(botocore_retries)  # the attempt that failed last
    countdown = settings.INVOCATION_RETRY_BACKOFF * 2 ** (runs - 1)
    retries = invocation.retries + botocore_retries
    if retry:
        retries.append(
            {
                "attempt": attempt,
                "error": error[:ERROR_CHARS],
                "status": None,
                "retried_by": "service",
                "at": timezone.now().isoformat(),
            }
        )
    with transaction.atomic():
        if not _session_lease_release(invocation.session_id, token):
            return  # the lease expired and another worker owns the turn now
        running = Invocation.objects.filter(pk=invocation.pk, status=Invocation.Status.RUNNING)
        counted = {"attempts": F("attempts") + len(botocore_retries), "retries": retries, "error": error}
        if retry:
            running.update(status=Invocation.Status.QUEUED, **counted)
        elif running.update(status=Invocation.Status.FAILED, finished_at=timezone.now(), **counted):
            AgentSession.objects.filter(pk=invocation.session_id).update(**session_totals_failed())
    if retry:
        logger.warning(
            "invocation %s attempt %s failed, retrying in %s s: %s", invocation.pk, attempt, countdown, error
        )
        _retry_later(invocation.pk, countdown=countdown, reason=error)
    logger.error("invocation %s failed at attempt %s: %s", invocation.pk, attempt, error)


def _store_success(
    invocation: Invocation,
    token: str,
    config: dict,
    result: RunResult,
    deployment: Deployment | None,
    botocore_retries: list[dict],
) -> None:
    # The model that ran is the deployed config's, which lags the agent's settings while a deploy is under way.
    model = invocation.agent.model
    if model.model_id != config["model_id"]:
        model = FoundationModel.objects.filter(model_id=config["model_id"]).first() or model
    prices = model_prices(tenant=invocation.tenant, model=model)
    usage = TokenUsage(**result.usage)
    costs = invocation_costs(usage, prices)
    now = timezone.now()
    miss = invocation_miss_reason(invocation=invocation, config=config, result=result, finished_at=now)
    # The session's running totals move in the same update that stores its conversation; rolled back with the
    # rest when the invocation was not ours to finish.
    totals = session_totals_succeeded(
        usage=usage, costs=costs, caching_enabled=result.caching_enabled, cache_hit=result.cache_hit
    )
    with transaction.atomic():
        if not _session_lease_release(
            invocation.session_id, token, messages=result.messages, last_invoked_at=now, **totals
        ):
            transaction.set_rollback(True)
            return
        stored = Invocation.objects.filter(pk=invocation.pk, status=Invocation.Status.RUNNING).update(
            status=Invocation.Status.SUCCEEDED,
            response=result.response,
            error="",
            warnings=result.warnings,
            finished_at=now,
            time_to_first_token_ms=result.time_to_first_token_ms,
            latency_ms=result.latency_ms,
            caching_enabled=result.caching_enabled,
            cache_hit=result.cache_hit,
            model_calls=result.model_calls,
            attempts=F("attempts") + len(botocore_retries),
            retries=invocation.retries + botocore_retries,
            prices=prices.as_dict(),
            model_id=config["model_id"],
            deployment=deployment,
            deployment_version=config.get("version"),
            cache_miss_reason=miss.reason if miss else "",
            cache_miss_detail=miss.as_dict() if miss else {},
            **usage.__dict__,
            **costs.as_dict(),
        )
        if stored != 1:  # not ours to finish: keep the conversation as it was
            transaction.set_rollback(True)
            return
        # The month's running spend moves with the stored costs, in the same transaction (hard budgets read it).
        budgets.monthly_spend_add(
            tenant_id=invocation.tenant_id, agent_id=invocation.agent_id, queued_at=invocation.queued_at, costs=costs
        )
