"""Tracing and JSON logs are off unless the environment asks; a bad OTEL_* or LOG_FORMAT value stops start-up."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys, django, logging
django.setup()
from opentelemetry import trace
from agent_platform.logs import log_context
provider = trace.get_tracer_provider()
watched = ("opentelemetry.exporter", "opentelemetry.instrumentation.django", "opentelemetry.instrumentation.celery")
loaded = sorted(m for m in sys.modules if m.startswith(watched))
print("PROVIDER", type(provider).__name__, ",".join(loaded) or "-")
with log_context(tenant_id=3, invocation_id=9):
    logging.getLogger("probe").warning("an event")
"""


def python(code: str, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LOG_FORMAT", "DJANGO_ENV"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "agent_platform.settings"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_off_by_default_no_provider_no_exporter_plain_logs(tmp_path):
    result = python(PROBE, DATA_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "PROVIDER ProxyTracerProvider -" in result.stdout  # the API's no-op: no provider, exporter, instrumentation
    line = result.stderr.strip().splitlines()[-1]
    assert line.endswith("WARNING probe an event") and not line.startswith("{")


def test_asked_for_a_provider_exports_over_otlp_and_logs_are_json_lines(tmp_path):
    result = python(
        PROBE,
        DATA_DIR=str(tmp_path),
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_BSP_SCHEDULE_DELAY="60000",
        LOG_FORMAT="json",
    )

    assert result.returncode == 0, result.stderr
    assert "PROVIDER TracerProvider " in result.stdout
    assert "opentelemetry.exporter.otlp.proto.http.trace_exporter" in result.stdout
    assert "opentelemetry.instrumentation.django" in result.stdout
    assert "opentelemetry.instrumentation.celery" in result.stdout
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record | {"time": None} == {
        "time": None,
        "level": "WARNING",
        "logger": "probe",
        "message": "an event",
        "tenant_id": 3,
        "invocation_id": 9,
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({"OTEL_SDK_DISABLED": "perhaps"}, "OTEL_SDK_DISABLED"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"BEDROCK_INFERENCE_PROFILE_PREFIX": "bad--prefix"}, "BEDROCK_INFERENCE_PROFILE_PREFIX"),
    ],
)
def test_bad_values_fail_loudly(tmp_path, env, message):
    result = python("import django; django.setup()", DATA_DIR=str(tmp_path), **env)
    assert result.returncode != 0 and message in result.stderr


def test_none_and_disabled_turn_tracing_off(tmp_path):
    for env in ({"OTEL_TRACES_EXPORTER": "none"}, {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}):
        result = python(PROBE, DATA_DIR=str(tmp_path), **env)
        assert "PROVIDER ProxyTracerProvider -" in result.stdout, (env, result.stderr)
