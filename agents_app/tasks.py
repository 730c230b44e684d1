"""Celery tasks: thin, they take an id and call a service."""

from celery import shared_task
from django.conf import settings

from agents_app import services
from agents_app.services.invocations import RetryLater


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the service counts attempts on the invocation row and gives up by itself
    soft_time_limit=settings.INVOCATION_TIME_LIMIT,
    time_limit=settings.INVOCATION_TIME_LIMIT + 10,
)
def invoke_agent(self, invocation_id: int) -> None:
    try:
        services.invocation_run(invocation_id=invocation_id)
    except RetryLater as later:
        raise self.retry(countdown=later.countdown) from None


@shared_task
def requeue_stale_invocations() -> int:
    return services.invocations_requeue_stale()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the service counts attempts on the deployment row and gives up by itself
    soft_time_limit=settings.DEPLOY_TIME_LIMIT,
    time_limit=settings.DEPLOY_TIME_LIMIT + 30,
)
def redeploy(self, deployment_id: int) -> None:
    """Deploy one requested version of an agent's AGENT_CONFIG_JSON (a no-op once a newer one exists)."""
    try:
        services.deployment_run(deployment_id=deployment_id)
    except RetryLater as later:
        raise self.retry(countdown=later.countdown) from None
