"""Many turns at once on threads, as a worker's thread pool runs them: no lock errors, each turn once, in order.

The service runs in threads of this process against the emulator (a little latency, so the turns overlap);
a `RetryLater` is retried by the thread at once, as the task's retry would be later. On SQLite the threads
share a file copy of the test database (WAL, busy timeout: the settings' options), as a worker's threads
and the web process share theirs; on PostgreSQL the test database through Django's connection pool.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from agent_platform.models import Tenant
from agents_app.demo import support_system_prompt
from agents_app.models import AgentSession, Invocation
from agents_app.services import invocations as invocation_services
from agents_app.services.errors import RetryLater
from tests.conftest import CLAUDE, make_agent

pytestmark = pytest.mark.postgres

DATABASES = [
    pytest.param("sqlite", marks=[pytest.mark.django_db, pytest.mark.database("sqlite")]),
    pytest.param("postgresql", marks=[pytest.mark.django_db(transaction=True), pytest.mark.database("postgresql")]),
]


@pytest.fixture
def vendor(request, monkeypatch):
    """The database the threads share: a file copy of SQLite's test database, or PostgreSQL's test database.

    Commits are real here, so nothing may be sent on commit: the threads below are the workers.
    """
    request.getfixturevalue("sqlite_file_database" if request.param == "sqlite" else "catalog_seeded")
    monkeypatch.setattr(invocation_services, "invocation_enqueue", lambda invocation_id: None)
    return request.param


def claude_agent():
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    return make_agent(tenant, CLAUDE, name="claude", system_prompt=support_system_prompt(), prompt_caching_enabled=True)


def run_all_at_once(invocation_ids: list[int]) -> list[Exception]:
    """Each invocation on a thread of its own, all started together; the errors they raised."""
    errors: list[Exception] = []

    def run(invocation_id: int) -> None:
        deadline = time.monotonic() + 90
        try:
            while True:
                try:
                    invocation_services.invocation_run(invocation_id=invocation_id)
                    return
                except RetryLater:
                    # The task ends here and Celery closes its connection (back to the pool) until the retry.
                    connection.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        except Exception as exc:  # collected and asserted on, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    with ThreadPoolExecutor(len(invocation_ids)) as pool:
        list(pool.map(run, invocation_ids))
    return errors


def most_at_once(rows) -> int:
    edges = sorted([(r.started_at, 1) for r in rows] + [(r.finished_at, -1) for r in rows])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("vendor", DATABASES, indirect=True)
def test_a_hundred_concurrent_turns_complete_without_a_lock_error(bedrock_emulator_env, vendor):
    assert connection.vendor == vendor
    agent = claude_agent()
    bedrock_emulator_env.latency = "base_ms=500"
    ids = [invocation_services.invocation_create(agent=agent, prompt=f"Question {n}").pk for n in range(100)]

    errors = run_all_at_once(ids)

    assert not errors, errors[:3]  # "database is locked" or a pool timeout would be here
    rows = list(Invocation.objects.filter(pk__in=ids))
    assert [(r.status, r.attempts) for r in rows] == [("succeeded", 1)] * 100, {r.error for r in rows}
    assert most_at_once(rows) >= 50
    assert len(bedrock_emulator_env.requests) == 100
    if vendor == "postgresql":
        # Far more turns ran at once than the pool has connections: none held one while the model answered.
        assert connection.settings_dict["OPTIONS"]["pool"]["max_size"] == settings.DB_POOL_SIZE
        assert most_at_once(rows) > 2 * settings.DB_POOL_SIZE


@pytest.mark.parametrize("vendor", DATABASES, indirect=True)
def test_turns_of_many_sessions_in_flight_keep_each_sessions_order(bedrock_emulator_env, vendor):
    assert connection.vendor == vendor
    claude = claude_agent()
    bedrock_emulator_env.latency = "base_ms=200"
    sessions, turns = 12, 5
    ids = []
    for turn in range(turns):
        for session in range(sessions):
            invocation = invocation_services.invocation_create(
                agent=claude, prompt=f"Session {session}, turn {turn}", session_id=f"s{session}"
            )
            ids.append(invocation.pk)

    errors = run_all_at_once(ids)

    assert not errors, errors[:3]
    rows = list(Invocation.objects.filter(pk__in=ids).order_by("pk"))
    assert {r.status for r in rows} == {"succeeded"}
    assert most_at_once(rows) >= sessions // 2  # the sessions did run side by side
    for session in AgentSession.objects.filter(agent=claude):
        mine = [r for r in rows if r.session_id == session.pk]
        assert len(mine) == turns
        # One at a time, oldest first: each turn started after the one before it finished.
        for earlier, later in zip(mine, mine[1:], strict=False):
            assert later.started_at >= earlier.finished_at, (session.session_id, earlier.pk, later.pk)
        texts = ["".join(b.get("text", "") for b in m["content"]) for m in session.messages]
        assert texts == [x for r in mine for x in (r.prompt, r.response)]
