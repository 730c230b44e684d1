"""build_agent: the request Strands 1.62 would send, formatted by the real BedrockModel (no network)."""

import logging

import pytest
from botocore.config import Config as BotocoreConfig

from agents_app.runtime import build_agent
from agents_app.runtime.checkpoints import count_cache_points

from .factories import CLAUDE, LLAMA, NOVA, make_config

# Strands warns that cache_tools is deprecated; 1.62 has no other way to cache tools without also
# caching messages (see agents_app/runtime/build.py).
pytestmark = pytest.mark.filterwarnings("ignore:cache_tools is deprecated:DeprecationWarning")

STALE = {"cachePoint": {"type": "default"}}
HISTORY = [
    {"role": "user", "content": [{"text": "first question"}, STALE]},
    {"role": "assistant", "content": [{"text": "first answer"}, STALE]},
]
NEW_TURN = {"role": "user", "content": [{"text": "second question"}]}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def formatted_request(built) -> dict:
    """What BedrockModel.format_request makes of the agent's state plus one new user turn."""
    agent = built.agent
    specs = agent.tool_registry.get_all_tool_specs()
    return agent.model.format_request(
        [*agent.messages, NEW_TURN], specs or None, system_prompt_content=agent.system_prompt_content
    )


def checkpoints(request: dict) -> dict[str, int]:
    return {
        "system": count_cache_points(request.get("system")),
        "tools": count_cache_points((request.get("toolConfig") or {}).get("tools")),
        "messages": count_cache_points(request.get("messages")),
    }


CASES = [
    # model, catalog caching, strategy, integrations, expected checkpoints per field
    (CLAUDE, None, "explicit", True, {"system": 1, "tools": 1, "messages": 0}),
    (CLAUDE, None, "explicit", False, {"system": 1, "tools": 0, "messages": 0}),
    (CLAUDE, None, "automatic", True, {"system": 0, "tools": 0, "messages": 1}),
    (CLAUDE, None, "combined", True, {"system": 1, "tools": 1, "messages": 1}),
    (CLAUDE, None, "combined", False, {"system": 1, "tools": 0, "messages": 1}),
    (NOVA, True, "explicit", True, {"system": 1, "tools": 0, "messages": 0}),
    (NOVA, True, "automatic", True, {"system": 0, "tools": 0, "messages": 1}),
    (NOVA, True, "combined", True, {"system": 1, "tools": 0, "messages": 1}),
    (NOVA, None, "combined", True, {"system": 0, "tools": 0, "messages": 0}),
    (LLAMA, None, "combined", True, {"system": 0, "tools": 0, "messages": 0}),
    (LLAMA, None, "explicit", True, {"system": 0, "tools": 0, "messages": 0}),
]


@pytest.mark.parametrize(("model_id", "catalog", "strategy", "with_tools", "expected"), CASES)
def test_request_carries_exactly_the_planned_checkpoints(model_id, catalog, strategy, with_tools, expected):
    integrations = [{"name": "calculator"}, {"name": "word_count"}] if with_tools else []
    config = make_config(model_id, catalog_caching=catalog, cache_strategy=strategy, integrations=integrations)
    built = build_agent(config, messages=HISTORY)
    request = formatted_request(built)
    assert checkpoints(request) == expected
    assert sum(expected.values()) == built.plan["checkpoints"]
    if expected["messages"]:
        # Strands 1.62 puts the moving checkpoint at the end of the newest user message.
        assert request["messages"][-1]["content"][-1] == {"cachePoint": {"type": "default"}}
    if expected["tools"]:
        assert request["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default"}}


def test_stored_checkpoints_never_reach_the_agent():
    built = build_agent(make_config(CLAUDE, cache_strategy="explicit"), messages=HISTORY)
    assert count_cache_points(built.agent.messages) == 0
    assert count_cache_points(HISTORY) == 2  # the caller's list is not modified


def test_caching_off_sends_no_checkpoint_on_claude():
    built = build_agent(make_config(CLAUDE, prompt_caching_enabled=False, integrations=[{"name": "calculator"}]))
    assert sum(checkpoints(formatted_request(built)).values()) == 0
    assert built.warnings == [] and built.caching_enabled is False


@pytest.mark.parametrize("model_id", [NOVA, LLAMA])
def test_model_that_cannot_cache_logs_and_returns_a_warning(model_id, caplog):
    with caplog.at_level(logging.WARNING, logger="agents_app.runtime"):
        built = build_agent(make_config(model_id))
    expected = f"Prompt caching is enabled but {model_id} cannot cache; running uncached."
    assert built.warnings == [expected]
    assert built.caching_enabled is False
    assert [r.getMessage() for r in caplog.records if r.name == "agents_app.runtime"] == [
        f"agent_id=<7>, model_id=<{model_id}> | {expected}"
    ]


def test_tools_dropped_with_a_warning_when_the_model_cannot_use_them():
    config = make_config(CLAUDE, caps={"supports_tool_use": False}, integrations=[{"name": "calculator"}])
    built = build_agent(config)
    assert built.agent.tool_names == []
    assert built.warnings == [f"{CLAUDE} does not support tool use; running without tools (calculator)."]


def test_model_settings(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    retries = BotocoreConfig(retries={"total_max_attempts": 2, "mode": "standard"})
    built = build_agent(make_config(CLAUDE, max_tokens=321), boto_client_config=retries)
    model = built.agent.model
    config = model.get_config()
    assert config["model_id"] == CLAUDE
    assert config["max_tokens"] == 321
    assert config["streaming"] is True
    assert model.client.meta.region_name == "eu-west-1"
    # Strands passes no endpoint_url, so boto3's own AWS_ENDPOINT_URL_BEDROCK_RUNTIME handling wins.
    assert model.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert model.client.meta.config.retries["total_max_attempts"] == 2
    # Strands' own retry of throttled calls is off: the caller owns retries.
    assert built.agent._retry_strategy._max_attempts == 1


def test_region_defaults_to_us_east_1():
    assert build_agent(make_config()).agent.model.client.meta.region_name == "us-east-1"


def test_extra_tools_are_added_after_integrations():
    from strands import tool

    @tool
    def lookup(key: str) -> str:
        """Look a key up.

        Args:
            key: The key.
        """
        return key

    built = build_agent(make_config(integrations=[{"name": "word_count"}]), tools=[lookup])
    assert sorted(built.agent.tool_names) == ["lookup", "word_count"]
    assert built.plan["tools"] is True
