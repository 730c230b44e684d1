"""A worker killed in the middle of an invocation: another worker finishes it, and it counts once."""

import pytest

from agent_platform.devstack import wait_until
from agents_app.demo import support_system_prompt
from tests.integration.conftest import make_stack


@pytest.fixture
def crash_stack(tmp_path_factory, redis_server, emulator):
    # Redis hands an unacknowledged task to another worker after the visibility timeout;
    # the session lease of the dead worker runs out a little later.
    stack = make_stack(
        tmp_path_factory,
        redis_server,
        emulator,
        CELERY_VISIBILITY_TIMEOUT=5,
        INVOCATION_LEASE_SECONDS=8,
        INVOCATION_LEASE_HEARTBEAT=2,
        INVOCATION_TIME_LIMIT=6,
    )
    try:
        stack.start_web()
        yield stack
    finally:
        stack.stop()
        emulator.latency = "off"


def test_sigkilled_worker_loses_nothing_and_counts_nothing_twice(crash_stack, emulator):
    stack = crash_stack
    key = stack.tenant_key("acme")
    agent = stack.create_agent(
        key,
        name="slow",
        system_prompt=support_system_prompt(),
        model_id="us.anthropic.claude-sonnet-4-6",
        prompt_caching_enabled=True,
    )
    emulator.latency = "base_ms=3000"
    stack.start_worker("doomed")
    invocation = stack.invoke(key, agent["id"], "A question that takes a while")
    wait_until(lambda: stack.invocation(key, invocation["id"])["status"] == "running", timeout=60, what="running")
    requests_before_kill = len(emulator.requests)

    stack.kill("doomed")
    emulator.latency = "off"
    stack.start_worker("rescuer")
    done = stack.wait_finished(key, invocation["id"], timeout=120)

    assert done["status"] == "succeeded", done["error"] + stack.log("rescuer")
    assert (done["attempts"], done["lost_attempts"]) == (2, 1)
    sessions = stack.call(key, "GET", f"/api/agents/{agent['id']}/sessions/").json()["results"]
    assert [s["invocations"] for s in sessions] == [1]
    # The dead worker's call never reached the database: the stored usage is the rescuer's one call.
    rescued = emulator.requests[requests_before_kill:]
    assert len(rescued) == 1
    assert done["cache_write_tokens"] == rescued[0]["usage"]["cacheWriteInputTokens"]
    listed = stack.call(key, "GET", f"/api/agents/{agent['id']}/invocations/").json()
    assert listed["count"] == 1
