"""The default worker (a pool of threads) with many turns in flight, and a model call past the time limit.

A thread pool ignores Celery's task time limits, so the limit is the service's own: the model call is
cancelled at `INVOCATION_TIME_LIMIT`, the invocation fails (or is retried) with a clear error, and the
session is free for its next turn at once.
"""

import threading
import time
from datetime import datetime

import pytest

from agent_platform.devstack import wait_until
from agents_app.demo import support_system_prompt
from tests.integration.conftest import make_stack

TIME_LIMIT = 4


@pytest.fixture(scope="module")
def threads_stack(tmp_path_factory, redis_server, emulator):
    stack = make_stack(
        tmp_path_factory, redis_server, emulator, INVOCATION_TIME_LIMIT=TIME_LIMIT, INVOCATION_MAX_ATTEMPTS=1
    )
    try:
        stack.start_web()
        stack.start_worker("threads")  # the settings' pool: threads, WORKER_CONCURRENCY of them
        stack.wait_ready("threads")
        yield stack
    finally:
        stack.stop()
        emulator.latency = "off"
        emulator.faults.configure(slow_rate=0)


@pytest.fixture(scope="module")
def key(threads_stack):
    return threads_stack.tenant_key("acme")


@pytest.fixture(scope="module")
def agent(threads_stack, key):
    return threads_stack.create_agent(
        key,
        name="busy",
        system_prompt=support_system_prompt(),
        model_id="us.anthropic.claude-sonnet-4-6",
        prompt_caching_enabled=True,
    )


def post_at_once(stack, key: str, agent_id: int, count: int) -> list[dict]:
    """`count` one-turn sessions, posted by 8 client threads at once."""
    posted: list[dict] = []
    lock = threading.Lock()
    numbers = iter(range(count))

    def client():
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            body = stack.invoke(key, agent_id, f"Question {n}: is order #{n} refundable?")
            with lock:
                posted.append(body)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return posted


def most_at_once(rows: list[dict]) -> int:
    edges = sorted(
        [(datetime.fromisoformat(r["started_at"]), 1) for r in rows]
        + [(datetime.fromisoformat(r["finished_at"]), -1) for r in rows]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_a_hundred_turns_in_flight_on_one_worker_complete_without_a_lock_error(threads_stack, key, agent, emulator):
    stack = threads_stack
    emulator.latency = "base_ms=3000"

    posted = post_at_once(stack, key, agent["id"], 100)

    assert len(posted) == 100
    rows = [stack.wait_finished(key, p["id"], timeout=120) for p in posted]
    assert [(r["status"], r["attempts"]) for r in rows] == [("succeeded", 1)] * 100, {r["error"] for r in rows}
    assert most_at_once(rows) >= 40  # one worker process ran them side by side (prefork -c 2 runs 2)
    assert "database is locked" not in stack.log("threads") + stack.log("web")


def test_a_call_past_the_time_limit_is_cancelled_and_the_session_freed(threads_stack, key, agent, emulator):
    stack = threads_stack
    emulator.latency = "off"
    emulator.faults.configure(slow_rate=1.0, slow_seconds=4 * TIME_LIMIT)

    started = time.monotonic()
    slow = stack.invoke(key, agent["id"], "A question the model takes far too long over")
    done = stack.wait_finished(key, slow["id"], timeout=60)
    elapsed = time.monotonic() - started

    assert done["status"] == "failed", done
    assert f"time limit of {TIME_LIMIT} s" in done["error"]
    assert elapsed < 3 * TIME_LIMIT, elapsed  # cancelled at the limit, not when the slow answer came

    # The session's lease was released with the failure: its next turn runs at once.
    emulator.faults.configure(slow_rate=0)
    nxt = stack.invoke(key, agent["id"], "And now a quick one", slow["session_id"])
    after = wait_until(
        lambda: (r := stack.invocation(key, nxt["id"]))["status"] in ("succeeded", "failed") and r,
        timeout=30,
        what="the next turn",
    )
    assert after["status"] == "succeeded" and after["attempts"] == 1
    assert "Traceback" not in stack.log("threads")
