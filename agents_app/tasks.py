"""Celery tasks: thin, each named after the service it calls; they take an id and own their retries."""

import gc

from celery import shared_task
from celery.signals import worker_init, worker_process_init
from django.conf import settings

from agents_app import partitions
from agents_app.services import deployments, invocations, retention
from agents_app.services.errors import RetryLater
from agents_app.telemetry import invocation_traced


@worker_init.connect
@worker_process_init.connect
def worker_prepare(**kwargs) -> None:
    """Build the process's shared Bedrock client when the worker starts, not in its first turns; then freeze
    the heap loaded so far (Django, Strands, botocore's service models), which the garbage collector would
    otherwise walk again in every full collection for as long as the worker runs."""
    invocations.invocation_client_prepare()
    gc.freeze()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the service counts attempts on the invocation row and gives up by itself
    # The service cancels the model calls at INVOCATION_TIME_LIMIT itself (a thread pool ignores Celery's
    # limits); these only stop a prefork child stuck elsewhere, after the service had its chance.
    soft_time_limit=settings.INVOCATION_TIME_LIMIT + 20,
    time_limit=settings.INVOCATION_TIME_LIMIT + 30,
)
def invocation_run(self, invocation_id: int) -> None:
    with invocation_traced(invocation_id):
        try:
            invocations.invocation_run(invocation_id=invocation_id)
        except RetryLater as later:
            raise self.retry(countdown=later.countdown) from None


@shared_task
def invocations_requeue_stale() -> int:
    return invocations.invocations_requeue_stale()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # the service counts attempts on the deployment row and gives up by itself
    soft_time_limit=settings.DEPLOY_TIME_LIMIT,
    time_limit=settings.DEPLOY_TIME_LIMIT + 30,
)
def deployment_run(self, deployment_id: int) -> None:
    """Deploy one requested version of an agent's AGENT_CONFIG_JSON (a no-op once a newer one exists)."""
    try:
        deployments.deployment_run(deployment_id=deployment_id)
    except RetryLater as later:
        raise self.retry(countdown=later.countdown) from None


@shared_task
def invocation_contents_purge() -> dict[str, int]:
    """Daily: blank the prompts and responses older than INVOCATION_CONTENT_RETENTION_DAYS (figures stay)."""
    return retention.invocation_contents_purge()


@shared_task
def invocation_partitions_ensure() -> list[str]:
    """Daily: the invocations table's partitions for this month and the next ones (PostgreSQL; else a no-op)."""
    return partitions.invocation_partitions_ensure()
