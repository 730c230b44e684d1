"""Fifty turns of one session posted at once: they run one at a time, in the order they were created, each once.

Two workers take tasks at the same time, so the session lease is what keeps the turns apart. What each turn
sent the model comes from the emulator's request log; the stored conversation is read from the SQLite file
the processes share (the API has no route for it).
"""

import json
import sqlite3
import threading
from datetime import datetime

import pytest

from agent_platform.devstack import wait_until
from agents_app.demo import support_system_prompt
from tests.integration.conftest import make_stack

TURNS = 50
SESSION = "fifty-at-once"


@pytest.fixture(scope="module")
def two_worker_stack(tmp_path_factory, redis_server, emulator):
    stack = make_stack(tmp_path_factory, redis_server, emulator)
    try:
        stack.start_web()
        for name in ("w1", "w2"):
            stack.start_worker(name)
        for name in ("w1", "w2"):
            stack.wait_ready(name)
        yield stack
    finally:
        stack.stop()


def post_all_at_once(stack, key: str, agent_id: int) -> list[dict]:
    """Every POST from its own thread, released together by a barrier."""
    barrier = threading.Barrier(TURNS)
    results: list[dict | Exception] = [None] * TURNS  # type: ignore[list-item]

    def post(n: int):
        barrier.wait(timeout=60)
        try:
            results[n] = stack.invoke(key, agent_id, f"Concurrent turn {n}: is order #{n} refundable?", SESSION)
        except Exception as exc:  # reported below, not swallowed
            results[n] = exc

    threads = [threading.Thread(target=post, args=(n,)) for n in range(TURNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    errors = [r for r in results if not isinstance(r, dict)]
    assert not errors, errors
    return results  # type: ignore[return-value]


def session_invocations(stack, key: str, agent_id: int) -> list[dict]:
    rows, page = [], 1
    while True:
        data = stack.call(
            key, "GET", f"/api/agents/{agent_id}/invocations/", params={"session_id": SESSION, "page": page}
        ).json()
        rows += data["results"]
        if not data["next"]:
            return rows
        page += 1


def stored_conversation(stack) -> list[dict]:
    with sqlite3.connect(stack.tmp / "db.sqlite3", timeout=20) as db:
        (messages,) = db.execute(
            "SELECT messages FROM agents_app_agentsession WHERE session_id = ?", (SESSION,)
        ).fetchone()
    return json.loads(messages)


def text_of(message: dict) -> str:
    return "".join(block.get("text", "") for block in message["content"])


@pytest.fixture(scope="module")
def fifty(two_worker_stack, emulator):
    """The scenario, run once: 50 POSTs at once to one new session, then wait (bounded) until all finished."""
    stack = two_worker_stack
    key = stack.tenant_key("acme")
    agent = stack.create_agent(
        key,
        name="concurrent",
        system_prompt=support_system_prompt(),
        model_id="us.anthropic.claude-sonnet-4-6",
        prompt_caching_enabled=True,
    )
    seen = len(emulator.requests)

    posted = post_all_at_once(stack, key, agent["id"])

    def all_finished():
        rows = session_invocations(stack, key, agent["id"])
        return rows if all(r["status"] in ("succeeded", "failed") for r in rows) else None

    rows = sorted(wait_until(all_finished, timeout=100, interval=1, what="50 turns"), key=lambda r: r["id"])
    return {
        "stack": stack,
        "key": key,
        "agent": agent,
        "posted": posted,
        "rows": rows,
        "model_requests": emulator.requests[seen:],
        "messages": stored_conversation(stack),
    }


def test_fifty_concurrent_turns_of_one_session_run_once_each_one_at_a_time_in_order(fifty):
    stack, key, agent, posted, rows = (fifty[k] for k in ("stack", "key", "agent", "posted", "rows"))
    assert len({p["id"] for p in posted}) == TURNS
    assert {p["session_id"] for p in posted} == {SESSION}

    # None lost, none added, all succeeded (no faults are injected), each in one attempt.
    assert [r["id"] for r in rows] == sorted(p["id"] for p in posted)
    failed = [(r["id"], r["error"]) for r in rows if r["status"] != "succeeded"]
    assert not failed, failed
    assert all(r["attempts"] == 1 for r in rows), [(r["id"], r["attempts"]) for r in rows if r["attempts"] != 1]

    # One at a time, in the order of creation: each turn starts after the one before it finished.
    started = [datetime.fromisoformat(r["started_at"]) for r in rows]
    finished = [datetime.fromisoformat(r["finished_at"]) for r in rows]
    overlaps = [(rows[n]["id"], rows[n + 1]["id"]) for n in range(TURNS - 1) if started[n + 1] < finished[n]]
    assert not overlaps, overlaps
    assert all(s <= f for s, f in zip(started, finished, strict=True))

    # The session counts each turn once.
    sessions = stack.call(key, "GET", f"/api/agents/{agent['id']}/sessions/").json()["results"]
    assert [(s["session_id"], s["invocations"]) for s in sessions] == [(SESSION, TURNS)]


def test_each_turn_saw_the_conversation_of_the_turns_before_it_once_and_in_order(fifty):
    """Read from the model requests: turn k was sent on top of turns 0..k-1, each once, in id order."""
    rows, requests, messages = fifty["rows"], fifty["model_requests"], fifty["messages"]
    prompts = [r["prompt"] for r in rows]
    replies = [r["response"] for r in rows]
    conversation = [m for pair in zip(prompts, replies, strict=True) for m in pair]

    # One successful model call per turn, and the turns reached the model in id order.
    sent = [[text_of(m) for m in request["request"]["messages"]] for request in requests]
    assert [s[-1] for s in sent] == prompts
    for k, history in enumerate(sent):
        expected = conversation[: 2 * k] + [prompts[k]]
        assert history == expected, f"turn {k} (invocation {rows[k]['id']}) was sent another history"

    # The stored conversation: every turn, user then assistant, in id order.
    assert [m["role"] for m in messages] == ["user", "assistant"] * TURNS
    assert [text_of(m) for m in messages] == conversation
