"""Deployments: every AGENT_CONFIG_JSON pushed for an agent, versioned, deployed one at a time, retried.

Requesting. Services that change what goes into an agent's config call
`deployment_request_on_commit`; after the commit, `deployment_request` locks
the agent row (SELECT ... FOR UPDATE; SQLite's IMMEDIATE transactions
serialise the same way), builds the config from the committed state, and
creates version max+1 with that config (its `version` key equal to the row's).
A config equal to the newest deployment's (a name or description change, a
family toggle that changes nothing) requests nothing, unless that deployment
failed or the request is a manual redeploy. Since every request reads the
state after its own commit, the highest version always holds the last saved
state.

Deploying. The `deployment_run` task runs the service of that name, which claims the
deployment with a conditional UPDATE under the agent lock (healthchecks-style)
and calls the deployer with no lock held. Only the newest requested version
may become current:
- a task for a deployment that has a newer one does not deploy it: the row
  becomes `superseded`, with `finished_at` set and error "Superseded by vN
  ...". Superseded is not failed: nothing went wrong, a newer version made it
  moot. The API and the admin say the same five statuses, and mark the
  current version (the highest deployed one; `selectors.deployment_current`).
- one deployment of an agent deploys at a time: a task that finds another
  one deploying returns, and the one deploying hands over to the newest
  pending version when it finishes (deployed, failed or back to pending for a
  retry). A version that starts deploying supersedes every older one still
  waiting. A claim older than DEPLOY_LEASE_SECONDS is a dead worker's and is
  ignored; a redelivered task that finds its own live claim retries when the
  claim expires.
- a finished deployment is never deployed again (a redelivered task is a no-op).

Failures are retried with backoff (DEPLOY_RETRY_BACKOFF doubled per attempt)
up to DEPLOY_MAX_ATTEMPTS, the row `pending` with the last error meanwhile;
then `failed` with its error. Failures waiting cannot cure (a bad request,
missing settings) fail at once. Invocations keep running the highest
deployed version, so a failed deploy leaves the agent on its last good one.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from agents_app import deployers, selectors
from agents_app.models import Agent, Deployment
from agents_app.services.errors import RetryLater

logger = logging.getLogger(__name__)

Status = Deployment.Status


def _actor(actor) -> tuple[object | None, str]:
    """The user to link (if `actor` is one) and a label for anyone: a user, an API key, or the system."""
    if actor is None:
        return None, "system"
    if isinstance(actor, get_user_model()):
        return actor, actor.get_username()
    return None, str(actor)[:200]


def _lock_agent(agent_id: int) -> Agent | None:
    """Lock the agent row for the rest of the transaction; None when the agent is gone."""
    return (
        Agent.objects.select_for_update(of=("self",))
        .select_related("model__family", "tenant")
        .filter(pk=agent_id)
        .first()
    )


def _same_config(a: dict, b: dict) -> bool:
    return {**a, "version": None} == {**b, "version": None}


def _due(latest: Deployment | None, config: dict) -> bool:
    return latest is None or latest.status == Status.FAILED or not _same_config(latest.config, config)


def deployment_due(*, agent: Agent) -> bool:
    """Whether a deployment request for the agent as saved now would create a version (the rule
    `deployment_request` applies): so an admin message can say what a change queued before its commit runs it."""
    latest = agent.deployments.order_by("-version").first()
    return _due(latest, selectors.agent_config(agent))


def deployment_request(*, agent: Agent, actor=None, force: bool = False) -> Deployment | None:
    """Request a deployment of the agent's current config; None when nothing changed (or the agent is gone).

    `force` (a manual redeploy) requests a new version even when the config is the deployed one.
    The `deployment_run` task is sent when the new row is committed.
    """
    with transaction.atomic():
        agent = _lock_agent(agent.pk)
        if agent is None:
            return None
        config = selectors.agent_config(agent)
        latest = agent.deployments.order_by("-version").first()
        if not force and not _due(latest, config):
            return None
        config["version"] = (latest.version if latest else 0) + 1
        user, label = _actor(actor)
        deployment = Deployment.objects.create(
            tenant_id=agent.tenant_id,
            agent=agent,
            version=config["version"],
            config=config,
            backend=settings.DEPLOY_BACKEND,
            requested_by=user,
            requested_by_label=label,
        )
        transaction.on_commit(lambda: deployment_enqueue(deployment.pk))
    logger.info("agent %s: deployment v%s requested by %s", agent.pk, deployment.version, label)
    return deployment


def deployment_request_on_commit(*, agent: Agent, actor=None) -> None:
    """Request a deployment of the agent once the caller's transaction commits (a rollback requests nothing)."""
    transaction.on_commit(lambda: deployment_request(agent=agent, actor=actor), robust=True)


def deployments_request_for_family_on_commit(*, tenant, family, actor=None) -> None:
    """After commit, request deployments for the tenant's agents on `family` that follow the family default."""

    def request_all():
        agents = Agent.objects.filter(tenant=tenant, model__family=family, prompt_caching_enabled__isnull=True)
        for agent in agents.order_by("pk"):
            deployment_request(agent=agent, actor=actor)

    transaction.on_commit(request_all, robust=True)


def deployment_enqueue(deployment_id: int) -> None:
    """Send the task. A broker outage is logged, not raised: the row is kept and a redeploy sends it again."""
    from agents_app import tasks  # imported here: the tasks module imports this one

    try:
        tasks.deployment_run.delay(deployment_id)
    except Exception:
        logger.warning("could not enqueue deployment %s", deployment_id, exc_info=True)


# --- Running a deployment (the deployment_run task) ------------------------------------------------


def deployment_run(*, deployment_id: int) -> None:
    """Deploy one requested version if it is still the newest; raise `RetryLater` to be run again."""
    deployment = _claim(deployment_id)
    if deployment is None:
        return
    try:
        result = deployers.deploy(deployment)
    except Exception as exc:
        _failed(deployment, exc)
        return
    _succeeded(deployment, result)


def _lease_start(now):
    return now - timedelta(seconds=settings.DEPLOY_LEASE_SECONDS)


def _claim(deployment_id: int) -> Deployment | None:
    now = timezone.now()
    agent_id = Deployment.objects.filter(pk=deployment_id).values_list("agent_id", flat=True).first()
    if agent_id is None:
        return None  # the agent (and its deployments) was deleted
    with transaction.atomic():
        if _lock_agent(agent_id) is None:
            return None
        deployment = Deployment.objects.select_related("agent", "tenant").get(pk=deployment_id)
        if deployment.finished_at is not None:
            logger.info("deployment %s is already finished (%s); nothing to do", deployment_id, deployment.status)
            return None
        live = deployment.status == Status.DEPLOYING and deployment.started_at >= _lease_start(now)
        if live:
            # A redelivered message while the claim holder works (or died): look again when the claim expires.
            remaining = (deployment.started_at - _lease_start(now)).total_seconds()
            raise RetryLater(countdown=max(1, round(remaining)), reason="the deployment is claimed by a worker")
        newest = Deployment.objects.filter(agent_id=agent_id).aggregate(v=Max("version"))["v"]
        if newest > deployment.version:
            _supersede(deployment, newest, now)
            return None
        others = Deployment.objects.filter(
            agent_id=agent_id, status=Status.DEPLOYING, started_at__gte=_lease_start(now)
        )
        if others.exclude(pk=deployment.pk).exists():
            logger.info("deployment %s waits: another version of agent %s is deploying", deployment_id, agent_id)
            return None  # the one deploying hands over to the newest version when it finishes
        claimed = Deployment.objects.filter(
            pk=deployment.pk, status=deployment.status, attempts=deployment.attempts, finished_at__isnull=True
        ).update(status=Status.DEPLOYING, started_at=now, attempts=F("attempts") + 1)
        if claimed:
            # Older versions still waiting (their tasks returned while another one deployed) never will now.
            Deployment.objects.filter(
                agent_id=agent_id, version__lt=deployment.version, status=Status.PENDING, finished_at=None
            ).update(
                status=Status.SUPERSEDED,
                finished_at=now,
                error=f"Superseded by v{deployment.version} before it was deployed.",
            )
    if not claimed:
        return None
    deployment.status, deployment.started_at, deployment.attempts = Status.DEPLOYING, now, deployment.attempts + 1
    return deployment


def _supersede(deployment: Deployment, newest: int, now) -> None:
    Deployment.objects.filter(pk=deployment.pk).update(
        status=Status.SUPERSEDED, finished_at=now, error=f"Superseded by v{newest} before it was deployed."
    )
    logger.info("deployment %s (v%s) superseded by v%s", deployment.pk, deployment.version, newest)
    if deployment.status == Status.DEPLOYING:  # a dead worker's claim: the newest may be waiting for it
        _hand_over(deployment)


def _hand_over(deployment: Deployment) -> None:
    """Send the task of the agent's newest waiting version (newer than this one), once this transaction commits."""
    waiting = (
        Deployment.objects.filter(
            agent_id=deployment.agent_id, version__gt=deployment.version, status=Status.PENDING, finished_at=None
        )
        .order_by("-version")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        transaction.on_commit(lambda: deployment_enqueue(waiting))


def _owned(deployment: Deployment):
    """The deployment, if this worker's claim on it still stands."""
    return Deployment.objects.filter(pk=deployment.pk, status=Status.DEPLOYING, attempts=deployment.attempts)


def _succeeded(deployment: Deployment, result: deployers.DeployResult) -> None:
    with transaction.atomic():
        _lock_agent(deployment.agent_id)
        done = _owned(deployment).update(
            status=Status.DEPLOYED, error="", finished_at=timezone.now(), runtime_arn=result.runtime_arn
        )
        if done:
            _hand_over(deployment)
    if done:
        logger.info("agent %s: v%s deployed (%s)", deployment.agent_id, deployment.version, deployment.backend)
    else:
        logger.warning("deployment %s finished after its claim expired; not recorded", deployment.pk)


def _failed(deployment: Deployment, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"
    retry = deployers.is_retryable(exc) and deployment.attempts < settings.DEPLOY_MAX_ATTEMPTS
    with transaction.atomic():
        _lock_agent(deployment.agent_id)
        if retry:
            updated = _owned(deployment).update(status=Status.PENDING, error=error)
        else:
            updated = _owned(deployment).update(status=Status.FAILED, error=error, finished_at=timezone.now())
        if updated:
            _hand_over(deployment)
    if not updated:
        return
    if retry:
        countdown = settings.DEPLOY_RETRY_BACKOFF * 2 ** (deployment.attempts - 1)
        logger.warning(
            "deployment %s attempt %s failed, retrying in %s s: %s",
            deployment.pk,
            deployment.attempts,
            countdown,
            error,
        )
        raise RetryLater(countdown=countdown, reason=error)
    logger.error(
        "deployment %s (agent %s v%s) failed: %s", deployment.pk, deployment.agent_id, deployment.version, error
    )
