"""Sessions' running totals: kept by the invocation service as turns finish, through the real runtime, boto3 and
Strands to the emulator, they equal what `agents_app.sessions` computes from the rows after a random history of
successes, permanent failures, retries, retries given up, turns lost with their worker, redelivered tasks and
turns still queued; `session_totals_refresh` recomputes the same figures."""

import random

import pytest
from django.db import connection

from agents_app.demo import support_system_prompt
from agents_app.models import AgentSession, Invocation
from agents_app.services import invocations as invocation_services
from agents_app.services.errors import RetryLater
from agents_app.services.session_totals import session_totals_refresh
from agents_app.sessions import SESSION_TOTAL_FIELDS, session_rows, session_summaries
from pricing.costs import money
from tests.conftest import CLAUDE, NOVA, make_agent

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

MONEY = ("cost_with_cache", "output_cost", "net_savings")
KINDS = ["succeeds"] * 4 + ["denied", "throttled", "gives_up", "lost", "lost_at_last", "left_queued"]


def computed_totals(session: AgentSession) -> dict:
    """The session's figures as `agents_app.sessions` computes them from its rows, by the totals' names."""
    rows = session_rows(Invocation.objects.filter(session=session), names=True)
    summary = next(session_summaries(rows), None)
    figures = {name: getattr(summary, name, 0) for name in SESSION_TOTAL_FIELDS if name != "succeeded_invocations"}
    figures["succeeded_invocations"] = summary.invocations if summary else 0
    figures["caching_enabled_invocations"] = session.invocations.filter(
        status=Invocation.Status.SUCCEEDED, caching_enabled=True
    ).count()
    return figures


def stored_totals(session: AgentSession) -> dict:
    return AgentSession.objects.filter(pk=session.pk).values(*SESSION_TOTAL_FIELDS).get()


def comparable(figures: dict) -> dict:
    """Money as shown (SQLite keeps decimals as doubles; PostgreSQL's sums are compared exactly below)."""
    return {name: money(value) if name in MONEY else value for name, value in figures.items()}


def run_until_done(invocation_id: int) -> None:
    """Run the task as the worker would, again after each `RetryLater`, until the turn is finished."""
    for _ in range(5):
        try:
            invocation_services.invocation_run(invocation_id=invocation_id)
            return
        except RetryLater:
            continue
    raise AssertionError(f"invocation {invocation_id} never finished")


def test_stored_totals_equal_the_rows_after_a_random_history(bedrock_emulator_env, tenant, settings):
    settings.INVOCATION_MAX_ATTEMPTS = 2
    faults = bedrock_emulator_env.faults
    rng = random.Random(16)
    agents = [
        make_agent(tenant, CLAUDE, name="claude", system_prompt=support_system_prompt(), prompt_caching_enabled=True),
        make_agent(tenant, NOVA, name="nova", system_prompt=support_system_prompt()),
    ]
    open_sessions: list[tuple] = []  # (agent, session id) that may take another turn
    seen = set()
    for step in range(30):
        if not open_sessions or rng.random() < 0.3:
            agent, session_id = rng.choice(agents), None
        else:
            agent, session_id = rng.choice(open_sessions)
        kind = rng.choice(KINDS)
        seen.add(kind)
        invocation = invocation_services.invocation_create(
            agent=agent, prompt=f"Turn {step}: {kind}?", session_id=session_id
        )
        session_key = (agent, invocation.session.session_id)
        if session_id is None:
            open_sessions.append(session_key)
        if kind == "denied":
            faults.configure(fail_next=["AccessDeniedException"])
        elif kind == "throttled":  # more than botocore absorbs: the service retries, then it succeeds
            faults.configure(fail_next=["ThrottlingException"] * 4)
        elif kind == "gives_up":  # every attempt of both runs the setting allows
            faults.configure(fail_next=["ServiceUnavailableException"] * 8)
        elif kind in ("lost", "lost_at_last"):  # its worker died mid-turn; at the last attempt it is failed
            attempts = 1 if kind == "lost" else settings.INVOCATION_MAX_ATTEMPTS
            Invocation.objects.filter(pk=invocation.pk).update(status="running", attempts=attempts)
        elif kind == "left_queued":  # still waiting: counted nowhere, and the session takes no later turn
            open_sessions.remove(session_key)
            continue
        run_until_done(invocation.pk)
        faults.configure(fail_next=[])
        if rng.random() < 0.3:  # a task delivered twice finds the turn finished
            invocation_services.invocation_run(invocation_id=invocation.pk)

    statuses = set(Invocation.objects.values_list("status", flat=True))
    assert statuses == {"succeeded", "failed", "queued"} and set(KINDS) <= seen
    sessions = list(AgentSession.objects.all())
    assert any(s.failed_invocations and s.succeeded_invocations for s in sessions)
    assert any(s.cache_hits for s in sessions) and any(s.caching_enabled_invocations == 0 for s in sessions)
    kept = {session.pk: stored_totals(session) for session in sessions}
    for session in sessions:
        assert comparable(kept[session.pk]) == comparable(computed_totals(session)), session.session_id
        if connection.vendor == "postgresql":
            assert kept[session.pk] == computed_totals(session)

    AgentSession.objects.update(**dict.fromkeys(SESSION_TOTAL_FIELDS, 0))
    assert session_totals_refresh(batch=2) == len(sessions)  # several batches
    for session in sessions:
        assert comparable(stored_totals(session)) == comparable(kept[session.pk])
