"""An invocation's trace and log context: the worker's span of each run, in the trace of the request that made it.

The trace of an invocation: the API request's server span (Django
instrumentation) → the task's producer span when it is sent, and its consumer
span when a worker takes it (Celery instrumentation, the context in the task's
headers) → `invocation_run`, this module's span of the run → Strands' spans
of the turn (`invoke_agent`, one `execute_event_loop_cycle` and one `chat`
span per model call of the tool loop, `execute_tool` per tool call), which
carry the GenAI usage of each call.

The row keeps the W3C `traceparent` of the span that created it
(`trace_parent`), so a run whose message did not come from that request (the
sweeper sent it again, a broker lost the headers) still joins the request's
trace, with a link to the consumer span it ran under.

When the run ends, `invocation_run` gets the figures as stored on the row:
the GenAI usage (input tokens including the cached ones, as the convention
counts them), the ids, the deployment version, cost with cache, net savings,
the cache-miss reason and the status. Reading them costs a query, made only
when tracing is on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, ProxyTracerProvider, Status, StatusCode

from agent_platform.logs import log_context, log_context_bind
from agents_app.models import Invocation
from agents_app.runtime.context import invocation_bind as runtime_bind
from agents_app.runtime.context import invocation_scope

SPAN_NAME = "invocation_run"
tracer = trace.get_tracer("agents_app")

# The row's fields read for the span (tenant and agent through their foreign keys).
_STORED = (
    "tenant_id",
    "tenant__slug",
    "agent_id",
    "agent__name",
    "session__session_id",
    "deployment_version",
    "model_id",
    "status",
    "error",
    "attempts",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_hit",
    "cache_miss_reason",
    "cost_with_cache",
    "cost_without_cache",
    "net_savings",
)


def tracing_on() -> bool:
    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def traceparent_current() -> str:
    """The current span's W3C traceparent, or "" when no span is being recorded."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def invocation_traced(invocation_id: int) -> Iterator[None]:
    """Around one run of an invocation's task: its log and request-metadata scope and, with tracing on, its span."""
    with log_context(invocation_id=invocation_id), invocation_scope(invocation_id=invocation_id):
        if not tracing_on():
            yield
            return
        parent, links = _parent(invocation_id)
        span = tracer.start_span(
            SPAN_NAME,
            context=parent,
            links=links,
            attributes={"gen_ai.operation.name": "invoke_agent", "agent_platform.invocation.id": str(invocation_id)},
        )
        with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
            try:
                yield
            finally:
                span_record_invocation(span, invocation_id)


def invocation_bind(invocation: Invocation) -> None:
    """Once the run has its row: its ids on log records, on Bedrock's requestMetadata and on the spans."""
    ids = {
        "tenant_id": invocation.tenant_id,
        "agent_id": invocation.agent_id,
        "session_id": invocation.session.session_id,
        "invocation_id": invocation.pk,
    }
    log_context_bind(**ids)
    runtime_bind(**ids)


def _parent(invocation_id: int):
    """The context to start the run's span in, and the links to give it (see the module's docstring)."""
    stored = Invocation.objects.filter(pk=invocation_id).values_list("trace_parent", flat=True).first()
    if not stored:
        return None, []
    context = propagate.extract({"traceparent": stored})
    created_in = trace.get_current_span(context).get_span_context()
    current = trace.get_current_span().get_span_context()
    if not created_in.is_valid or (current.is_valid and current.trace_id == created_in.trace_id):
        return None, []
    return context, [Link(current)] if current.is_valid else []


def span_record_invocation(span, invocation_id: int) -> None:
    """The invocation's figures as stored on its row, on `span` (GenAI conventions plus the service's own)."""
    row = Invocation.objects.filter(pk=invocation_id).values(*_STORED).first()
    if row is None or not span.is_recording():
        return
    attributes = {
        "gen_ai.agent.id": str(row["agent_id"]),
        "gen_ai.agent.name": row["agent__name"],
        "gen_ai.conversation.id": row["session__session_id"],
        "gen_ai.request.model": row["model_id"],
        # The convention's input tokens include the cached ones; Bedrock's inputTokens do not.
        "gen_ai.usage.input_tokens": row["input_tokens"] + row["cache_read_tokens"] + row["cache_write_tokens"],
        "gen_ai.usage.output_tokens": row["output_tokens"],
        "gen_ai.usage.cache_read.input_tokens": row["cache_read_tokens"],
        "gen_ai.usage.cache_creation.input_tokens": row["cache_write_tokens"],
        "agent_platform.tenant.id": str(row["tenant_id"]),
        "agent_platform.tenant.slug": row["tenant__slug"],
        "agent_platform.agent.id": str(row["agent_id"]),
        "agent_platform.session.id": row["session__session_id"],
        "agent_platform.invocation.status": row["status"],
        "agent_platform.invocation.attempts": row["attempts"],
        # Doubles, for backends to sum and compare; the row keeps the exact Decimal.
        "agent_platform.cost.with_cache_usd": float(row["cost_with_cache"]),
        "agent_platform.cost.without_cache_usd": float(row["cost_without_cache"]),
        "agent_platform.savings.net_usd": float(row["net_savings"]),
    }
    if row["deployment_version"] is not None:
        attributes["agent_platform.deployment.version"] = row["deployment_version"]
    if row["cache_hit"] is not None:
        attributes["agent_platform.cache.hit"] = row["cache_hit"]
    if row["cache_miss_reason"]:
        attributes["agent_platform.cache.miss_reason"] = row["cache_miss_reason"]
    span.set_attributes(attributes)
    if row["status"] == Invocation.Status.SUCCEEDED:
        span.set_status(Status(StatusCode.OK))
    elif row["status"] == Invocation.Status.FAILED:
        span.set_status(Status(StatusCode.ERROR, row["error"][:500]))
