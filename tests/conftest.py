"""Shared fixtures: two tenants with keys of every role, so every test can ask "and the other tenant?"."""

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient

from agent_platform.models import Role, Tenant
from agent_platform.services import api_key_create, member_ensure
from agents_app.models import Agent, FoundationModel
from caching.settled import settled_clear

pytest_plugins = ["tests.emulator_plugin"]

CLAUDE = "us.anthropic.claude-sonnet-4-6"
NOVA = "us.amazon.nova-pro-v1:0"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"


def pytest_collection_modifyitems(config, items):
    """A test marked `database("postgresql")` runs where that is the database: deselected elsewhere, not skipped."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    vendor = "postgresql" if "postgresql" in engine else "sqlite"
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("database")
        (drop if marker and marker.args[0] != vendor else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _nothing_settled():
    """What a process keeps from the rollups (`caching.settled`) is per tenant id and version; a rolled-back test's
    ids come again in the next one."""
    settled_clear()


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Throttle counters live in the cache, a table of the test database: each test that uses the database starts
    with none (a transactional test's counters are not rolled back)."""
    names = request.fixturenames
    if "transactional_db" in names:
        request.getfixturevalue("transactional_db")
    elif "db" in names:
        request.getfixturevalue("db")
    elif not request.node.get_closest_marker("django_db"):
        return
    cache.clear()


# Noon UTC of a fixed day: twelve hours from either midnight.
NOON = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock_at_noon(request):
    """The clock set to `NOON` and left running. A fixture that fixes "today" and the code that reads the clock
    again then agree on the day, even when the run straddles midnight. Not for tests of other processes: they
    read the real clock."""
    assert not request.node.get_closest_marker("integration"), "subprocesses do not share a travelled clock"
    with time_machine.travel(NOON, tick=True):
        yield NOON


def restore_migrated_data(connection) -> None:
    """Put back what the migrations wrote (the catalog, content types...) after transactional tests flushed it.

    Flushed first with post_migrate inhibited, as Django does for `serialized_rollback`: a post_migrate
    handler would recreate content types under other ids than the snapshot's, and loading it would collide.
    """
    from django.core.management import call_command

    contents = getattr(connection, "_test_serialized_contents", None)
    if not contents:
        return
    call_command("flush", interactive=False, inhibit_post_migrate=True, database=connection.alias, verbosity=0)
    connection.creation.deserialize_db_from_string(contents)


def admin_login(client, username: str, password: str) -> bool:
    """Log in through the admin's login form, as a person does: django-axes watches that door (and refuses the
    test client's `login()`, which carries no request)."""
    response = client.post("/admin/login/", {"username": username, "password": password})
    return response.status_code == 302


def key_client(tenant, role=Role.ADMIN) -> APIClient:
    _, key = api_key_create(tenant=tenant, name=f"test {role}", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    client.tenant = tenant
    return client


@pytest.fixture
def eager(settings):
    """Celery tasks run in the calling process, as a worker would run them."""
    from celery._state import _set_task_join_will_block, task_join_will_block

    from agent_platform.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    before = app.conf.task_always_eager, task_join_will_block()
    app.conf.task_always_eager = True
    yield
    # Eager `delay` guards against joins with a process-wide flag it saves and restores around each
    # call: threads interleaving those calls can leave it set, and a later `.get()` would then fail.
    app.conf.task_always_eager = before[0]
    _set_task_join_will_block(before[1])


@pytest.fixture
def commit(django_capture_on_commit_callbacks, eager):
    """`with commit(): ...` runs what the block scheduled on commit (a deploy, a task), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def tenant(db):
    return Tenant.objects.create(slug="acme", name="Acme")


@pytest.fixture
def other_tenant(db):
    return Tenant.objects.create(slug="globex", name="Globex")


@pytest.fixture
def api(tenant):
    """An admin-role API client of `tenant`."""
    return key_client(tenant, Role.ADMIN)


@pytest.fixture
def member_api(tenant):
    return key_client(tenant, Role.MEMBER)


@pytest.fixture
def viewer_api(tenant):
    return key_client(tenant, Role.VIEWER)


@pytest.fixture
def other_api(other_tenant):
    return key_client(other_tenant, Role.ADMIN)


@pytest.fixture
def catalog(db):
    return {m.model_id: m for m in FoundationModel.objects.all()}


def make_agent(tenant, model_id=CLAUDE, **fields) -> Agent:
    fields.setdefault("name", f"agent-{Agent.objects.count() + 1}")
    fields.setdefault("system_prompt", "You are helpful.")
    return Agent.objects.create(tenant=tenant, model=FoundationModel.objects.get(model_id=model_id), **fields)


@pytest.fixture
def agent(tenant):
    return make_agent(tenant, name="Support", prompt_caching_enabled=True)


@pytest.fixture
def other_agent(other_tenant):
    return make_agent(other_tenant, name="Globex support", prompt_caching_enabled=True)


@pytest.fixture
def staff_user(tenant):
    return member_ensure(tenant=tenant, username="alice", password="pw-alice-123", role=Role.MEMBER).user
