"""Concurrent toggles of one agent, each in its own thread, connection and transaction, with real commits.

Every toggle commits, requests a deployment on commit and runs the deployment_run
task (eagerly, in its thread). However they interleave, the newest version
holds the last saved state and is the one deployed; older ones are deployed
or superseded, never failed. Runs on SQLite here and on PostgreSQL in `make test`.

Where the commits go:
- SQLite: a file copy of the test database, shared by the threads as the web
  process and workers share theirs. The suite's in-memory database (shared
  cache) answers a concurrent writer with "database table is locked" at once
  instead of waiting (`timeout` does not apply to shared-cache table locks),
  so it cannot stand for production; and the suite's database is left as it
  was (no flush), so later tests still find the seeded catalog.
- PostgreSQL: the test database itself, committed for real (`transactional_db`;
  pytest-django runs it after the other database tests, and flushes it).
"""

import logging
import threading

import pytest
from django.db import connection

from agent_platform.models import Tenant
from agents_app import selectors
from agents_app.models import Agent, Deployment, FoundationModel
from agents_app.services import agents as agent_services
from tests.conftest import CLAUDE

THREADS = 20


def in_threads(count, work):
    barrier = threading.Barrier(count)
    errors = []

    def run(n):
        try:
            barrier.wait(timeout=30)
            work(n)
        except Exception as exc:  # reported below, with the thread's number
            errors.append((n, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.database("sqlite")
def test_twenty_concurrent_toggles_end_with_the_last_saved_state_deployed(sqlite_file_database, eager, caplog):
    twenty_concurrent_toggles(caplog)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.database("postgresql")
def test_twenty_concurrent_toggles_end_with_the_last_saved_state_deployed_pg(catalog_seeded, eager, caplog):
    twenty_concurrent_toggles(caplog)


def twenty_concurrent_toggles(caplog):
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    model = FoundationModel.objects.get(model_id=CLAUDE)
    agent = agent_services.agent_create(
        tenant=tenant, model=model, name="toggled", system_prompt="You are helpful."
    ).agent
    assert selectors.deployment_current(agent=agent).version == 1

    def toggle(n):
        agent_services.agent_update(agent=Agent.objects.get(pk=agent.pk), prompt_caching_enabled=n % 2 == 0)

    with caplog.at_level(logging.ERROR):
        errors = in_threads(THREADS, toggle)

    assert errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    agent.refresh_from_db()
    rows = list(Deployment.objects.filter(agent=agent).order_by("version"))
    newest = rows[-1]
    assert [d.version for d in rows] == list(range(1, len(rows) + 1))
    assert selectors.deployment_current(agent=agent) == newest and newest.status == "deployed"
    assert newest.config == selectors.agent_config(agent) | {"version": newest.version}
    assert newest.config["prompt_caching_enabled"] is agent.prompt_caching_enabled
    assert not [d for d in rows if d.status == "failed"]
    assert all(d.status == "deployed" or selectors.deployment_superseded(d) for d in rows), [
        (d.version, d.status, d.error) for d in rows
    ]
