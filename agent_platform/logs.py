"""Log records that say which tenant, agent, session and invocation they belong to; JSON lines when asked.

`LOG_FORMAT=json` (settings) writes one JSON object per record with
python-json-logger: `time`, `level`, `logger`, `message`, the ids below when
the record was logged inside a `log_context`, `trace_id`/`span_id` when a span
is being recorded, and the exception's traceback as `exc_info`. The default
`text` keeps the plain lines. A worker's task opens a context and the service
binds the ids once it has loaded the row; context variables carry them into
the threads Strands streams from, so botocore's and Strands' records have them
too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace

LOG_IDS = ("tenant_id", "agent_id", "session_id", "invocation_id")
TEXT = "text"
JSON = "json"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_fields: ContextVar[dict | None] = ContextVar("log_fields", default=None)


@contextmanager
def log_context(**fields) -> Iterator[dict]:
    """Records logged in the block carry `fields` and whatever `log_context_bind` adds later in it."""
    scope = {key: value for key, value in fields.items() if value is not None}
    token = _fields.set(scope)
    try:
        yield scope
    finally:
        _fields.reset(token)


def log_context_bind(**fields) -> None:
    scope = _fields.get()
    if scope is not None:
        scope.update({key: value for key, value in fields.items() if value is not None})


class ContextFilter(logging.Filter):
    """Puts the context's ids (and the current span's) on every record, for the JSON formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_fields.get() or {}).items():
            setattr(record, key, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


def logging_config(log_format: str, level: str) -> dict:
    """Django's LOGGING for `text` or `json` output on standard output."""
    formatters = {
        TEXT: {"format": PLAIN_FORMAT},
        JSON: {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "agent_platform.logs.ContextFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "botocore": {"level": "WARNING"},
            "strands": {"level": "WARNING"},
            # apprise's lines and urllib3's debug lines carry webhook URLs, which are secrets: alerts.notify captures
            # apprise's and logs its own without them.
            "apprise": {"level": "WARNING", "propagate": False, "handlers": []},
            "urllib3": {"level": "WARNING"},
        },
    }
