"""The AgentCore container entrypoint, served over HTTP on loopback, against the Bedrock emulator.

The app is the one the container runs (`agents_app.runtime.agentcore_app.app`),
under uvicorn as `BedrockAgentCoreApp.run` would start it; requests go to
`POST /invocations` the way AgentCore forwards them. No database.
"""

import json
import subprocess
import sys

import httpx
import pytest

from agents_app.runtime import AgentConfig, agentcore, is_retryable
from agents_app.runtime.agentcore_app import app
from agents_app.runtime.run import USAGE_FIELDS, run_agent
from tests.agents_app.agentcore_servers import serve_asgi

from .factories import CLAUDE, NOVA, config_dict

pytestmark = pytest.mark.filterwarnings("ignore:cache_tools is deprecated:DeprecationWarning")

USAGE_KEYS = {
    "type",
    "config_version",
    *USAGE_FIELDS,
    "cache_hit",
    "caching_enabled",
    "model_calls",
    "warnings",
    "time_to_first_token_ms",
    "latency_ms",
}


@pytest.fixture
def container(bedrock_emulator_env):
    with serve_asgi(app) as url:
        yield url


def deploy_env(monkeypatch, config: dict) -> None:
    """Set the container's environment as the AgentCore deployer would."""
    for name, value in agentcore.config_environment(json.dumps(config)).items():
        monkeypatch.setenv(name, value)


def invoke(url, prompt, messages=None) -> tuple[httpx.Response, list[dict]]:
    body = {"prompt": prompt} if messages is None else {"prompt": prompt, "messages": messages}
    with httpx.stream("POST", f"{url}/invocations", json=body, timeout=60) as response:
        lines = list(response.iter_lines())
    return response, list(agentcore.sse_events(lines))


def test_streams_text_then_the_message_then_usage_with_cache_fields(container, monkeypatch, big_system_prompt):
    deploy_env(monkeypatch, config_dict(CLAUDE, system_prompt=big_system_prompt, version=3))

    response, events = invoke(container, "What are your opening hours?")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["message", "usage"] and set(kinds[:-2]) == {"text"}, kinds
    usage = events[-1]
    assert set(usage) == USAGE_KEYS
    assert usage["config_version"] == 3
    assert usage["cache_write_tokens"] > 2_048 and usage["cache_read_tokens"] == 0
    assert usage["cache_hit"] is False and usage["caching_enabled"] is True
    assert usage["time_to_first_token_ms"] is not None and usage["model_calls"]
    assert "".join(e["text"] for e in events if e["type"] == "text") == events[-2]["response"]


def test_a_second_turn_with_the_conversation_reads_the_cache(container, monkeypatch, big_system_prompt):
    deploy_env(monkeypatch, config_dict(CLAUDE, system_prompt=big_system_prompt))
    _, first = invoke(container, "What are your opening hours?")

    _, second = invoke(container, "And on Sundays?", messages=first[-2]["messages"])

    usage = second[-1]
    assert usage["cache_read_tokens"] > 2_048 and usage["cache_hit"] is True
    assert len(second[-2]["messages"]) == 4
    assert "cachePoint" not in json.dumps(second[-2]["messages"])


def test_the_parsed_stream_is_the_run_result_a_local_run_gives(container, monkeypatch, big_system_prompt):
    config = config_dict(CLAUDE, system_prompt=big_system_prompt, version=5)
    deploy_env(monkeypatch, config)
    local = run_agent(AgentConfig.from_json(config), "Hello")  # writes the cache the container then reads
    _, events = invoke(container, "Hello")

    result, version = agentcore.result_from_events(events)

    assert version == 5
    assert result.response == local.response
    assert [(m["role"], m["content"]) for m in result.messages] == [(m["role"], m["content"]) for m in local.messages]
    assert result.cache_read_tokens == local.cache_write_tokens and result.cache_hit is True
    assert result.caching_enabled is local.caching_enabled is True
    assert result.plan == local.plan


def test_a_config_longer_than_one_variable_arrives_in_parts(container, monkeypatch, big_system_prompt):
    config = config_dict(CLAUDE, system_prompt=big_system_prompt * 2)
    environment = agentcore.config_environment(json.dumps(config))
    assert len(environment) > 2 and agentcore.CONFIG_ENV not in environment
    assert all(len(value) <= agentcore.ENV_VALUE_MAX_CHARS for value in environment.values())
    deploy_env(monkeypatch, config)

    _, events = invoke(container, "Hi")

    assert events[-1]["type"] == "usage" and events[-1]["cache_write_tokens"] > 0


def test_nova_runs_uncached_with_the_warning_in_the_usage_event(container, monkeypatch, big_system_prompt):
    deploy_env(monkeypatch, config_dict(NOVA, system_prompt=big_system_prompt))

    _, events = invoke(container, "Hi")

    usage = events[-1]
    assert usage["caching_enabled"] is False and usage["cache_hit"] is None
    assert usage["cache_read_tokens"] == usage["cache_write_tokens"] == 0
    assert "cannot cache" in " ".join(usage["warnings"])


def test_a_bedrock_error_ends_the_stream_with_an_error_event(container, monkeypatch, bedrock_emulator_env):
    deploy_env(monkeypatch, config_dict(CLAUDE))
    bedrock_emulator_env.faults.configure(fail_next=["AccessDeniedException"])

    _, events = invoke(container, "Hi")

    assert events[-1]["type"] == "error"
    assert events[-1]["error_type"] == "AccessDeniedException" and events[-1]["retryable"] is False
    with pytest.raises(agentcore.AgentRuntimeError) as raised:
        agentcore.result_from_events(events)
    assert not is_retryable(raised.value)


def test_a_bad_payload_is_a_400_and_a_missing_config_a_500(container, monkeypatch):
    response = httpx.post(f"{container}/invocations", json={"messages": []}, timeout=10)
    assert response.status_code == 400 and "prompt" in response.json()["error"]

    monkeypatch.delenv(agentcore.CONFIG_ENV, raising=False)
    response = httpx.post(f"{container}/invocations", json={"prompt": "Hi"}, timeout=10)
    assert response.status_code == 500 and "AGENT_CONFIG_JSON" in response.json()["error"]


def test_ping_answers_healthy(container):
    assert httpx.get(f"{container}/ping", timeout=10).json()["status"] == "Healthy"


def test_the_container_code_imports_no_django():
    code = (
        "import sys; import agents_app.runtime.agentcore_app, agents_app.runtime.agentcore; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_stream_that_ends_early_is_a_retryable_error():
    with pytest.raises(agentcore.AgentRuntimeError) as raised:
        agentcore.result_from_events([{"type": "text", "text": "partial"}])

    assert is_retryable(raised.value)
