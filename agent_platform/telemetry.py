"""OpenTelemetry traces, configured by the standard `OTEL_*` variables and off unless they ask for it.

`tracing_configure()` runs once per process at start-up (`AgentPlatformConfig.ready`,
so web, worker, beat and commands alike). With no exporter asked for
(settings' `TRACING_EXPORTERS` empty: the default) it returns at once and
creates no provider, no exporter and no instrumentation; the OpenTelemetry
API's no-op tracer stays in place and Strands' spans cost nothing to drop.

Asked for (`OTEL_TRACES_EXPORTER=otlp` or `console`, or an
`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`), it sets the SDK's tracer provider as
the global one (Strands makes its spans on the global provider) and
instruments Django (a server span per request) and Celery (a producer span
when a task is sent, a consumer span when it runs, the context in the task's
headers). The SDK reads the rest of the standard variables itself: the
endpoint, headers, timeout and compression of the OTLP/HTTP exporter, the
sampler (`OTEL_TRACES_SAMPLER`), the batch processor (`OTEL_BSP_*`), the
resource (`OTEL_SERVICE_NAME`, default "agent-platform", and
`OTEL_RESOURCE_ATTRIBUTES`).

Message content: Strands records prompts, responses, system prompts and tool
input/output as span events (and, under the newest GenAI conventions, as
attributes). Unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` is
true, `ContentFreeExporter` removes them before any span leaves the process:
every span event but `exception`, and the content attributes below.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

from django.conf import settings
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "agent-platform"
# Attributes that hold message content under the GenAI conventions, new and old.
CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
CONTENT_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.")
KEPT_EVENTS = frozenset({"exception"})

_lock = threading.Lock()
_provider = None


def tracing_configure(exporters: Sequence[str] | None = None, *, capture_content: bool | None = None):
    """Set up tracing for this process once; the SDK's `TracerProvider`, or None when tracing is off."""
    global _provider
    exporters = settings.TRACING_EXPORTERS if exporters is None else tuple(exporters)
    if not exporters:
        return None
    capture = settings.TRACE_MESSAGE_CONTENT if capture_content is None else capture_content
    with _lock:
        if _provider is not None:
            return _provider
        # Imported here: a process with tracing off loads no exporter and no instrumentation.
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": DEFAULT_SERVICE_NAME}
        resource = Resource.create(named)
        if "service.name" in named and "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
            resource = Resource.create()  # the resource attributes name the service themselves
        provider = TracerProvider(resource=resource)
        for name in exporters:
            exporter = span_exporter(name)
            provider.add_span_processor(BatchSpanProcessor(exporter if capture else ContentFreeExporter(exporter)))
        trace.set_tracer_provider(provider)
        DjangoInstrumentor().instrument(tracer_provider=provider)
        CeleryInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
    logger.info("tracing on: exporters %s, message content %s", ",".join(exporters), "on" if capture else "off")
    return provider


def span_exporter(name: str):
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    raise ValueError(f"unknown trace exporter {name!r}")


def is_content(attribute: str) -> bool:
    return attribute in CONTENT_ATTRIBUTES or attribute.startswith(CONTENT_PREFIXES)


class ContentFreeExporter(SpanExporter):
    """Exports through `exporter` a copy of each span without message content (see the module's docstring)."""

    def __init__(self, exporter: SpanExporter):
        self.exporter = exporter

    def export(self, spans):
        return self.exporter.export([without_content(span) for span in spans])

    def shutdown(self):
        return self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000):
        return self.exporter.force_flush(timeout_millis)


def without_content(span: ReadableSpan) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes={key: value for key, value in (span.attributes or {}).items() if not is_content(key)},
        events=[event for event in span.events if event.name in KEPT_EVENTS],
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
