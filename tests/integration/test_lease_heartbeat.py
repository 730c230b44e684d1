"""A worker SIGKILLed in the middle of a slow model call: its session lease lapses within a lease's length
(the heartbeat kept it alive only while the worker lived), the beat sweeper sends the turn again, another
worker runs it, and the invocation records the attempt lost with the dead worker.

Redis's visibility timeout is left at its default (an hour), so nothing but the lease and the sweeper can
explain the takeover; the time limit is a minute, so the old lease (time limit + 30 s) would have held the
session for 90 s.
"""

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from agent_platform.devstack import wait_until
from agents_app.demo import support_system_prompt
from tests.integration.conftest import make_stack

LEASE, HEARTBEAT, TIME_LIMIT = 6, 1, 60
SWEEP_EVERY = 10  # the shipped schedule of the sweeper


@pytest.fixture
def heartbeat_stack(tmp_path_factory, redis_server, emulator):
    stack = make_stack(
        tmp_path_factory,
        redis_server,
        emulator,
        INVOCATION_LEASE_SECONDS=LEASE,
        INVOCATION_LEASE_HEARTBEAT=HEARTBEAT,
        INVOCATION_TIME_LIMIT=TIME_LIMIT,
    )
    try:
        stack.start_web()
        stack.start_beat()
        yield stack
    finally:
        stack.stop()
        emulator.latency = "off"


def session_lease(stack, session_id: str) -> tuple[str, datetime | None]:
    with contextlib.closing(sqlite3.connect(stack.tmp / "db.sqlite3", timeout=30)) as db:
        token, until = db.execute(
            "SELECT lease_token, lease_until FROM agents_app_agentsession WHERE session_id = ?", (session_id,)
        ).fetchone()
    return token, datetime.fromisoformat(until).replace(tzinfo=UTC) if until else None


def test_a_dead_workers_turn_is_taken_over_once_its_short_lease_lapses(heartbeat_stack, emulator):
    stack = heartbeat_stack
    key = stack.tenant_key("acme")
    agent = stack.create_agent(
        key,
        name="slow",
        system_prompt=support_system_prompt(),
        model_id="us.anthropic.claude-sonnet-4-6",
        prompt_caching_enabled=True,
    )
    emulator.latency = "base_ms=30000"  # far longer than a lease
    stack.start_worker("doomed")
    invocation = stack.invoke(key, agent["id"], "A question that takes a while")
    wait_until(lambda: stack.invocation(key, invocation["id"])["status"] == "running", timeout=60, what="running")
    session_id = stack.invocation(key, invocation["id"])["session_id"]

    # The live worker renews its lease: it moves on past the end of the lease it first took.
    token, first_until = session_lease(stack, session_id)
    wait_until(lambda: session_lease(stack, session_id)[1] > first_until, timeout=3 * HEARTBEAT + 5, what="renewal")
    assert session_lease(stack, session_id)[0] == token
    requests_before_kill = len(emulator.requests)

    stack.start_worker("rescuer")
    stack.wait_ready("rescuer")
    _, lease_at_kill = session_lease(stack, session_id)
    stack.kill("doomed")
    killed_at = datetime.now(UTC)
    emulator.latency = "off"
    done = stack.wait_finished(key, invocation["id"], timeout=TIME_LIMIT + 30)

    assert done["status"] == "succeeded", done["error"] + stack.log("rescuer")
    assert (done["attempts"], done["lost_attempts"]) == (2, 1)
    (lost,) = done["retries"]
    assert (lost["attempt"], lost["lost_with_worker"]) == (1, True) and lost["error"].startswith("WorkerLost")
    # Taken over once the dead worker's lease had lapsed, and by the next sweeps: not after the old lease.
    taken_over_at = datetime.fromisoformat(lost["at"])
    assert lease_at_kill < taken_over_at < lease_at_kill + timedelta(seconds=2 * SWEEP_EVERY + 10)
    assert taken_over_at < killed_at + timedelta(seconds=TIME_LIMIT + 30)
    assert f"invocation {invocation['id']} attempt 1 was lost with its worker" in stack.log("rescuer")
    # One turn, counted once; the rescuer's call is the one stored.
    sessions = stack.call(key, "GET", f"/api/agents/{agent['id']}/sessions/").json()["results"]
    assert [s["invocations"] for s in sessions] == [1]
    rescued = emulator.requests[requests_before_kill:]
    assert len(rescued) == 1
    assert done["cache_write_tokens"] == rescued[0]["usage"]["cacheWriteInputTokens"]
    assert session_lease(stack, session_id) == ("", None)
