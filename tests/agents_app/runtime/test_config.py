import json

import pytest

from agents_app.runtime import AgentConfig, ConfigError, Integration, ModelCapabilities

from .factories import CLAUDE, NOVA, config_dict


def test_parses_a_full_config():
    data = config_dict(integrations=[{"type": "builtin", "name": "calculator"}, {"name": "word_count"}])
    config = AgentConfig.from_json(data)
    assert config.system_prompt == "You are helpful."
    assert config.model_id == CLAUDE
    assert config.max_tokens == 1024
    assert config.integrations == (Integration("calculator"), Integration("word_count"))
    assert config.prompt_caching_enabled is True
    assert config.cache_strategy == "combined"
    assert config.agent_id == "7"
    assert config.version == 1
    assert config.model_capabilities == ModelCapabilities(
        supports_prompt_caching=True,
        cache_min_tokens=2048,
        cache_max_checkpoints=4,
        cache_fields=("tools", "system", "messages"),
        supports_tool_use=True,
    )


def test_accepts_a_json_string_and_round_trips():
    data = config_dict(NOVA, integrations=[{"name": "current_time"}], cache_strategy="explicit")
    config = AgentConfig.from_json(json.dumps(data))
    again = AgentConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(config.to_json())["integrations"] == [{"type": "builtin", "name": "current_time"}]
    assert AgentConfig.from_json(config.to_dict()) == config


def test_defaults_for_optional_keys():
    data = config_dict()
    for key in ("agent_id", "version", "integrations", "prompt_caching_enabled", "cache_strategy"):
        del data[key]
    data["model_capabilities"] = {"supports_prompt_caching": True}
    config = AgentConfig.from_json(data)
    assert config.prompt_caching_enabled is False  # off unless asked for
    assert config.cache_strategy == "combined"
    assert config.integrations == ()
    assert config.agent_id is None and config.version is None
    assert config.model_capabilities == ModelCapabilities(supports_prompt_caching=True)


def test_cache_fields_are_normalised_to_prefix_order():
    data = config_dict()
    data["model_capabilities"]["cache_fields"] = ["messages", "system"]
    assert AgentConfig.from_json(data).model_capabilities.cache_fields == ("system", "messages")


def test_numeric_agent_id_becomes_a_string():
    assert AgentConfig.from_json(config_dict(agent_id=42)).agent_id == "42"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"system_prompt": ""}, "system_prompt"),
        ({"system_prompt": "   "}, "system_prompt"),
        ({"system_prompt": None}, "system_prompt"),
        ({"model_id": 5}, "model_id"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"prompt_caching_enabled": "yes"}, "prompt_caching_enabled"),
        ({"prompt_caching_enabled": 1}, "prompt_caching_enabled"),
        ({"cache_strategy": "sometimes"}, "cache_strategy"),
        ({"integrations": {"name": "calculator"}}, "integrations"),
        ({"integrations": ["calculator"]}, "integrations[0]"),
        ({"integrations": [{"name": "web_search"}]}, "integrations[0].name"),
        ({"integrations": [{"type": "mcp", "name": "calculator"}]}, "integrations[0].type"),
        ({"integrations": [{"type": "builtin"}]}, "integrations[0].name"),
        ({"integrations": [{"name": "calculator", "api_key": "x"}]}, "integrations[0].api_key"),
        ({"integrations": [{"name": "calculator"}, {"name": "calculator"}]}, "integrations[1].name"),
        ({"model_capabilities": None}, "model_capabilities"),
        ({"model_capabilities": {}}, "model_capabilities.supports_prompt_caching"),
        ({"aws_secret_access_key": "x"}, "aws_secret_access_key"),
        ({"version": -1}, "version"),
        ({"agent_id": ""}, "agent_id"),
    ],
)
def test_rejects_bad_values(change, field):
    data = {**config_dict(), **change}
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_json(data)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"supports_prompt_caching": "true"}, "supports_prompt_caching"),
        ({"cache_min_tokens": 0}, "cache_min_tokens"),
        ({"cache_max_checkpoints": 5}, "cache_max_checkpoints"),
        ({"cache_max_checkpoints": -1}, "cache_max_checkpoints"),
        ({"cache_fields": "system"}, "cache_fields"),
        ({"cache_fields": ["system", "prompt"]}, "cache_fields"),
        ({"cache_fields": ["system", "system"]}, "cache_fields"),
        ({"supports_tool_use": None}, "supports_tool_use"),
        ({"ttl": "1h"}, "ttl"),
    ],
)
def test_rejects_bad_capabilities(change, field):
    data = config_dict()
    data["model_capabilities"].update(change)
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_json(data)
    assert caught.value.field == f"model_capabilities.{field}"


@pytest.mark.parametrize("required", ["system_prompt", "model_id", "max_tokens", "model_capabilities"])
def test_required_keys(required):
    data = config_dict()
    del data[required]
    with pytest.raises(ConfigError, match=f"^{required}: is required"):
        AgentConfig.from_json(data)


def test_rejects_malformed_json_and_non_objects():
    with pytest.raises(ConfigError, match="not valid JSON"):
        AgentConfig.from_json("{not json")
    with pytest.raises(ConfigError, match="must be an object"):
        AgentConfig.from_json("[1, 2]")


def test_config_is_frozen():
    config = AgentConfig.from_json(config_dict())
    with pytest.raises(AttributeError):
        config.max_tokens = 5  # type: ignore[misc]
