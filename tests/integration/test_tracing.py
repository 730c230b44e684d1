"""Across processes: the API request in gunicorn, the task through Redis, the turn in a Celery worker: one trace.

Both processes export over OTLP/HTTP to an endpoint this test runs (`tests.otlp_receiver`); the trace context
travels in the task's headers (Celery's instrumentation) and on the invocation's row.
"""

import pytest

from agent_platform.devstack import wait_until
from agents_app.demo import support_system_prompt
from tests import otlp_receiver
from tests.integration.conftest import make_stack

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP's SpanKind numbers


@pytest.fixture(scope="module")
def receiver():
    endpoint = otlp_receiver.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory, redis_server, emulator, receiver):
    stack = make_stack(
        tmp_path_factory,
        redis_server,
        emulator,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{receiver.url}/v1/traces",
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_SERVICE_NAME="agent-platform-test",
    )
    try:
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def test_api_request_queue_worker_and_model_calls_are_one_trace(traced_stack, receiver):
    key = traced_stack.tenant_key("traced")
    agent = traced_stack.create_agent(
        key,
        name="Calc",
        system_prompt=support_system_prompt(),
        model_id="us.anthropic.claude-sonnet-4-6",
        prompt_caching_enabled=True,
        integrations=[{"name": "calculator"}],
    )
    receiver.clear()
    created = traced_stack.invoke(key, agent["id"], "Please use the calculator on 12 * 7")
    finished = traced_stack.wait_finished(key, created["id"])
    assert finished["status"] == "succeeded", finished

    def run_span():
        runs = [s for s in receiver.spans if s.name == "invocation_run"]
        return runs[0] if runs else None

    run = wait_until(run_span, timeout=30, what="the worker's invocation_run span")
    trace_id = run.trace_id
    wait_until(
        lambda: len([s for s in receiver.spans if s.name == "chat" and s.trace_id == trace_id]) >= 2,
        timeout=30,
        what="Strands' chat spans",
    )
    spans = [s for s in receiver.spans if s.trace_id == trace_id]
    kinds = {(s.kind, s.name.split(" ")[0]) for s in spans}
    assert (SERVER, "POST") in kinds  # gunicorn's request
    assert (PRODUCER, "apply_async/agents_app.tasks.invocation_run") in kinds  # sent to Redis
    assert (CONSUMER, "run/agents_app.tasks.invocation_run") in kinds  # taken by the worker
    consumer = next(s for s in spans if s.kind == CONSUMER and s.name == "run/agents_app.tasks.invocation_run")
    assert run.parent_span_id == consumer.span_id
    assert {s.resource["service.name"] for s in spans} == {"agent-platform-test"}
    chats = [s for s in spans if s.name == "chat"]
    assert len(chats) == len(finished["model_calls"])
    assert run.attributes["gen_ai.usage.cache_read.input_tokens"] == finished["cache_read_tokens"]
    assert run.attributes["agent_platform.invocation.id"] == str(created["id"])
