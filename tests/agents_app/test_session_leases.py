"""The session lease heartbeat: a live worker keeps its lease however long the model answers, never renews a
lease it no longer holds, and stops renewing when the turn ends; a turn found running under a free lease
records the attempt its dead worker lost.

The turn runs in a thread of this process (as a worker's pool thread runs it) with the process's heartbeat
thread beside it, so commits are real: SQLite through a file copy of the test database, PostgreSQL through
its test database. The emulator answers slowly, so the turn outlives several leases.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agent_platform.devstack import wait_until
from agent_platform.models import Tenant
from agents_app.demo import support_system_prompt
from agents_app.models import AgentSession, Invocation
from agents_app.services import invocations as invocation_services
from agents_app.services import leases
from tests.conftest import CLAUDE, make_agent

pytestmark = pytest.mark.postgres

DATABASES = [
    pytest.param("sqlite", marks=[pytest.mark.django_db, pytest.mark.database("sqlite")]),
    pytest.param("postgresql", marks=[pytest.mark.django_db(transaction=True), pytest.mark.database("postgresql")]),
]
LEASE, HEARTBEAT, SLOW = 3, 0.3, 6  # the model's answer starts after two leases


@pytest.fixture
def vendor(request, monkeypatch, settings, bedrock_emulator_env):
    request.getfixturevalue("sqlite_file_database" if request.param == "sqlite" else "catalog_seeded")
    monkeypatch.setattr(invocation_services, "invocation_enqueue", lambda invocation_id: None)
    settings.INVOCATION_LEASE_SECONDS, settings.INVOCATION_LEASE_HEARTBEAT = LEASE, HEARTBEAT
    bedrock_emulator_env.faults.configure(slow_rate=1.0, slow_seconds=SLOW)
    yield request.param
    bedrock_emulator_env.faults.configure(slow_rate=0)


def queued_turn() -> Invocation:
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    agent = make_agent(tenant, CLAUDE, name="slow", system_prompt=support_system_prompt(), prompt_caching_enabled=True)
    return invocation_services.invocation_create(agent=agent, prompt="A question that takes a while")


def run_in_a_worker_thread(invocation_id: int) -> threading.Thread:
    def run():
        try:
            invocation_services.invocation_run(invocation_id=invocation_id)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def lease_of(invocation: Invocation) -> tuple[str, object]:
    return tuple(AgentSession.objects.filter(pk=invocation.session_id).values_list("lease_token", "lease_until")[0])


def running(invocation: Invocation) -> bool:
    return Invocation.objects.filter(pk=invocation.pk, status="running").exists()


@pytest.mark.parametrize("vendor", DATABASES, indirect=True)
def test_a_live_worker_keeps_its_lease_through_a_long_call_and_releases_it_after(vendor):
    invocation = queued_turn()

    worker = run_in_a_worker_thread(invocation.pk)
    wait_until(lambda: running(invocation), timeout=30, what="the turn to start")
    token, first_until = lease_of(invocation)
    # Past the first lease's end: without the heartbeat it would have lapsed, and another worker could take it.
    wait_until(lambda: timezone.now() > first_until + timedelta(seconds=HEARTBEAT), timeout=30, what="a lease")
    assert running(invocation)
    still_token, later_until = lease_of(invocation)
    assert still_token == token and later_until > timezone.now() and later_until > first_until
    assert invocation_services._session_lease_take(invocation.session_id) is None

    worker.join(60)
    invocation.refresh_from_db()
    assert invocation.status == "succeeded", invocation.error
    assert (invocation.attempts, invocation.lost_attempts, invocation.retries) == (1, 0, [])
    assert lease_of(invocation) == ("", None)
    assert leases.session_leases_renew() == 0  # the turn ended: nothing left to renew


@pytest.mark.parametrize("vendor", DATABASES, indirect=True)
def test_a_lease_another_worker_took_is_never_renewed_and_the_turn_stores_nothing(vendor, caplog):
    invocation = queued_turn()

    worker = run_in_a_worker_thread(invocation.pk)
    wait_until(lambda: running(invocation), timeout=30, what="the turn to start")
    # The lease lapsed (a stalled worker) and another worker took it.
    theirs = timezone.now() + timedelta(seconds=60)
    AgentSession.objects.filter(pk=invocation.session_id).update(lease_token="another-worker", lease_until=theirs)
    worker.join(60)

    assert lease_of(invocation) == ("another-worker", theirs)  # untouched by this worker's heartbeat
    invocation.refresh_from_db()
    assert invocation.status == "running" and invocation.response == ""  # the other worker's to finish
    assert any("lapsed while its turn ran" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("vendor", DATABASES, indirect=True)
def test_a_lapsed_lease_is_not_revived(vendor):
    invocation = queued_turn()

    worker = run_in_a_worker_thread(invocation.pk)
    wait_until(lambda: running(invocation), timeout=30, what="the turn to start")
    token, _ = lease_of(invocation)
    lapsed = timezone.now() - timedelta(seconds=1)
    AgentSession.objects.filter(pk=invocation.session_id).update(lease_until=lapsed)
    wait_until(lambda: not leases._held, timeout=30, what="the heartbeat to let the lease go")

    assert lease_of(invocation) == (token, lapsed)  # free for another worker to take
    worker.join(60)
