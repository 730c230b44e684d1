"""Rate limits hold across processes: gunicorn with three worker processes lets exactly the configured number of
writes through per window, whichever worker takes each request, with the embedded default's database cache and
with Redis."""

import threading
import time

import pytest

from tests.integration.conftest import make_stack

INVOCATIONS, IMPORTS = 10, 3  # per hour, so that one burst falls in one window


@pytest.fixture(scope="module", params=["database", "redis"])
def three_worker_stack(request, tmp_path_factory, redis_server, emulator):
    cache = {"REDIS_URL": redis_server.url} if request.param == "redis" else {}
    stack = make_stack(
        tmp_path_factory,
        redis_server,
        emulator,
        THROTTLE_INVOCATIONS=f"{INVOCATIONS}/hour",
        THROTTLE_IMPORTS=f"{IMPORTS}/hour",
        **cache,
    )
    try:
        stack.start_web(workers=3)
        yield stack
    finally:
        stack.stop()


def burst(count: int, send) -> list[int]:
    """`count` requests at once, each from its own thread, released together; their status codes."""
    barrier = threading.Barrier(count)
    statuses: list = [None] * count

    def one(n):
        barrier.wait(timeout=60)
        try:
            statuses[n] = send(n).status_code
        except Exception as exc:  # reported by the assertion below
            statuses[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def clear_of_the_hour():
    """Windows are whole hours: a burst that began in the last seconds of one could count in two."""
    left = 3600 - time.time() % 3600
    if left < 60:
        time.sleep(left + 1)


def test_invocations_and_imports_get_exactly_their_rate_across_three_processes(three_worker_stack):
    stack = three_worker_stack
    key = stack.tenant_key("acme")
    agent = stack.create_agent(
        key, name="limited", system_prompt="You help.", model_id="us.anthropic.claude-sonnet-4-6"
    )
    clear_of_the_hour()

    invocations = burst(
        40, lambda n: stack.call(key, "POST", f"/api/agents/{agent['id']}/invocations/", json={"prompt": f"Hi {n}"})
    )
    imports = burst(
        12,
        lambda n: stack.call(
            key,
            "POST",
            "/api/agents/import/",
            json={"agents": [{"name": f"imported {n}", "system_prompt": "You help.", "model_id": agent["model_id"]}]},
        ),
    )

    assert sorted(invocations) == [202] * INVOCATIONS + [429] * (40 - INVOCATIONS), invocations
    assert sorted(imports) == [201] * IMPORTS + [429] * (12 - IMPORTS), imports
    # Another tenant has a window of its own.
    other = stack.tenant_key("globex")
    assert stack.call(other, "POST", "/api/agents/import/", json={"agents": []}).status_code == 400
