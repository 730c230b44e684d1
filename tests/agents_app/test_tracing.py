"""One invocation through the real pipeline is one trace, received by an OTLP/HTTP endpoint the test runs.

The request goes through the API (Django's instrumentation), the task through Celery (eagerly: the worker's code in
this process), the turn through the real runtime, boto3 and Strands' BedrockModel to the emulator. The SDK's OTLP
exporter sends the spans to `tests.otlp_receiver`, which decodes them with opentelemetry-proto.

Tracing is set up once for this module, as `tracing_configure` does at start-up (the global tracer provider can
be set once per process), and taken down afterwards so the rest of the suite runs with tracing off again.
"""

import json
import os

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_platform import telemetry
from agents_app.demo import support_system_prompt
from agents_app.models import Invocation
from agents_app.services.deployments import deployment_request
from tests import otlp_receiver
from tests.conftest import CLAUDE, make_agent

pytestmark = pytest.mark.django_db

SECRET = "PLEASE-NEVER-EXPORT-7731"
SERVER, CONSUMER = 2, 5  # OTLP's SpanKind numbers


@pytest.fixture(scope="module")
def receiver():
    endpoint = otlp_receiver.start()
    before = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"{endpoint.url}/v1/traces"
    provider = telemetry.tracing_configure(["otlp"], capture_content=False)
    raw = InMemorySpanExporter()  # what Strands recorded, before the exporter's filter
    provider.add_span_processor(SimpleSpanProcessor(raw))
    endpoint.provider, endpoint.raw = provider, raw
    try:
        yield endpoint
    finally:
        tracing_reset(provider)
        if before is None:
            os.environ.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
        else:
            os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = before
        endpoint.stop()


def tracing_reset(provider) -> None:
    """Back to no tracing: the instrumentations removed, the global provider unset (as OpenTelemetry's tests do)."""
    import strands.telemetry.tracer as strands_tracer
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.util._once import Once

    provider.shutdown()
    DjangoInstrumentor().uninstrument()
    CeleryInstrumentor().uninstrument()
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    telemetry._provider = None
    strands_tracer._tracer_instance = None


def received(receiver) -> list[otlp_receiver.ReceivedSpan]:
    receiver.provider.force_flush()
    return list(receiver.spans)


@pytest.fixture
def calculator_agent(tenant, commit, bedrock_emulator_env):
    agent = make_agent(
        tenant,
        CLAUDE,
        name="Calc",
        system_prompt=support_system_prompt(),
        prompt_caching_enabled=True,
        integrations=[{"name": "calculator"}],
    )
    with commit():
        deployment_request(agent=agent)
    return agent


def invoke_through_the_api(api, commit, agent, receiver) -> Invocation:
    receiver.provider.force_flush()
    receiver.clear()
    receiver.raw.clear()
    with commit():
        response = api.post(
            f"/api/agents/{agent.pk}/invocations/",
            {"prompt": f"Please use the calculator on 12 * 7 and keep {SECRET} to yourself"},
            format="json",
        )
    assert response.status_code == 202, response.data
    invocation = Invocation.objects.get(pk=response.data["id"])
    assert invocation.status == "succeeded", invocation.error
    return invocation


def test_one_invocation_is_one_trace_carrying_the_stored_figures(receiver, api, commit, calculator_agent):
    invocation = invoke_through_the_api(api, commit, calculator_agent, receiver)
    spans = received(receiver)

    server = [s for s in spans if s.kind == SERVER and "invocations" in s.name]
    runs = [s for s in spans if s.name == "invocation_run"]
    assert len(server) == 1 and len(runs) == 1
    trace_id = server[0].trace_id
    run = runs[0]
    assert run.trace_id == trace_id and invocation.trace_parent.split("-")[1] == trace_id
    # The task's consumer span (Celery's instrumentation) is the run's parent or, sent outside the request, a link.
    task = [s for s in spans if s.kind == CONSUMER and s.name.endswith("invocation_run")]
    assert len(task) == 1 and (task[0].trace_id == trace_id or task[0].trace_id in run.links)

    # The run's span: the stored figures, GenAI conventions first (input tokens include the cached ones).
    a = run.attributes
    assert a["gen_ai.usage.input_tokens"] == (
        invocation.input_tokens + invocation.cache_read_tokens + invocation.cache_write_tokens
    )
    assert a["gen_ai.usage.cache_read.input_tokens"] == invocation.cache_read_tokens > 0
    assert a["gen_ai.usage.cache_creation.input_tokens"] == invocation.cache_write_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == invocation.output_tokens
    assert a["gen_ai.conversation.id"] == invocation.session.session_id
    assert a["gen_ai.request.model"] == CLAUDE
    assert a["agent_platform.tenant.id"] == str(invocation.tenant_id)
    assert a["agent_platform.tenant.slug"] == "acme"
    assert a["agent_platform.agent.id"] == str(calculator_agent.pk)
    assert a["agent_platform.invocation.id"] == str(invocation.pk)
    assert a["agent_platform.deployment.version"] == invocation.deployment_version == 1
    assert a["agent_platform.cost.with_cache_usd"] == float(invocation.cost_with_cache) > 0
    assert a["agent_platform.savings.net_usd"] == float(invocation.net_savings)
    assert a["agent_platform.cache.miss_reason"] == invocation.cache_miss_reason != ""
    assert a["agent_platform.invocation.status"] == "succeeded" and run.status_code == 1  # OK

    # Strands' spans: one chat span per model call of the tool loop, each with its own usage and the ids.
    chats = [s for s in spans if s.name == "chat"]
    assert len(chats) == len(invocation.model_calls) >= 2
    by_usage = sorted(
        (c.attributes["gen_ai.usage.cache_read.input_tokens"], c.attributes["gen_ai.usage.input_tokens"]) for c in chats
    )
    assert by_usage == sorted(
        (m["cache_read_tokens"], m["input_tokens"] + m["cache_read_tokens"] + m["cache_write_tokens"])
        for m in invocation.model_calls
    )
    assert sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats) == a["gen_ai.usage.input_tokens"]
    strands_spans = [s for s in spans if s.attributes.get("gen_ai.system") == "strands-agents"]
    assert {s.name for s in strands_spans} >= {"chat", "execute_event_loop_cycle", "execute_tool calculator"}
    for span in strands_spans:
        assert span.trace_id == trace_id
        assert span.attributes["agent_platform.invocation.id"] == str(invocation.pk)
        assert span.attributes["agent_platform.session.id"] == invocation.session.session_id
    assert {s.resource.get("service.name") for s in spans} == {"agent-platform"}


def test_prompts_and_responses_are_not_exported_by_default(receiver, api, commit, calculator_agent):
    invocation = invoke_through_the_api(api, commit, calculator_agent, receiver)
    spans = received(receiver)
    raw = json.dumps(
        [
            dict(s.attributes) | {"events": [dict(e.attributes) for e in s.events]}
            for s in receiver.raw.get_finished_spans()
        ]
    )
    assert SECRET in raw  # Strands did record the prompt in its span events ...

    exported = json.dumps([[s.attributes, s.events] for s in spans])
    assert spans and SECRET not in exported  # ... and none of it left the process
    assert invocation.response[:40] not in exported
    assert all(name == "exception" for s in spans for name, _ in s.events)


def test_the_sweepers_resend_joins_the_request_trace(receiver, api, commit, calculator_agent, tenant):
    from agents_app import tasks
    from agents_app.services.invocations import invocation_create

    receiver.provider.force_flush()
    receiver.clear()
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as request_span:
        invocation = invocation_create(agent=calculator_agent, prompt="Hello again")
    request_trace = format(request_span.get_span_context().trace_id, "032x")
    with tracer.start_as_current_span("sweeper"):  # a task sent from another trace, as the beat sweeper sends it
        tasks.invocation_run.apply(args=[invocation.pk])

    runs = [s for s in received(receiver) if s.name == "invocation_run"]
    assert len(runs) == 1 and runs[0].trace_id == request_trace
    assert runs[0].links and runs[0].links[0] != request_trace  # linked to the sweeper's trace it ran under
