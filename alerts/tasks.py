"""Celery tasks: thin, named after the services they call. `alert_rules_evaluate` is scheduled by
django-celery-beat (shipped in migration 0001, edited in admin under Periodic tasks)."""

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from alerts import services


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def alert_rules_evaluate() -> dict[str, int]:
    """Every few minutes: check each enabled rule; fire and resolve incidents, queue their messages."""
    result = services.alert_rules_evaluate()
    return {"checked": result.checked, "fired": len(result.fired), "resolved": len(result.resolved)}


@shared_task(bind=True, max_retries=None)
def alert_delivery_send(self, delivery_id: int) -> str:
    """Send one alert message; retried with backoff (ALERT_DELIVERY_RETRY_BACKOFF, doubled) until it is sent or
    ALERT_DELIVERY_MAX_ATTEMPTS attempts failed, when it is left failed with its error (visible in admin)."""
    try:
        return services.alert_delivery_send(delivery_id=delivery_id)
    except services.DeliveryFailed as exc:
        if exc.final:
            return "failed"
        countdown = settings.ALERT_DELIVERY_RETRY_BACKOFF * 2 ** (exc.attempts - 1)
        raise self.retry(countdown=countdown) from None
