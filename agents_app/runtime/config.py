"""AGENT_CONFIG_JSON: the one document that describes a deployed agent to the runtime.

`agents_app.selectors.agent_config` builds it from the database (agent +
catalog entry) through `AgentConfig.to_dict`, and a deployment pushes it to a
worker or an AgentCore container; this module defines, parses and validates
it, so the container needs no database. It holds no secrets: AWS
credentials and endpoints come from the environment, never from here.

Shape (every key listed; unknown keys are rejected so typos fail loudly)::

    {
      "agent_id": "42",                     # optional metadata
      "version": 3,                         # optional deployment version
      "system_prompt": "You are ...",       # non-empty
      "model_id": "us.anthropic.claude-sonnet-4-6",
      "inference_profile_arn": null,        # optional: the tenant's application inference profile of
                                            # model_id; model calls then use it as their modelId
      "max_tokens": 4096,                   # > 0
      "integrations": [{"type": "builtin", "name": "calculator"}],
      "prompt_caching_enabled": true,       # the agent's effective setting
      "cache_strategy": "combined",         # explicit | automatic | combined
      "model_capabilities": {               # the catalog entry's policy data
        "supports_prompt_caching": true,
        "cache_min_tokens": 2048,
        "cache_max_checkpoints": 4,
        "cache_fields": ["tools", "system", "messages"],
        "supports_tool_use": true
      }
    }
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bedrock import facts
from bedrock.facts import CACHE_FIELD_ORDER, MAX_CHECKPOINTS

APPLICATION_PROFILE_ARN = re.compile(facts.APPLICATION_PROFILE_ARN)

EXPLICIT = "explicit"
AUTOMATIC = "automatic"
COMBINED = "combined"
CACHE_STRATEGIES = (EXPLICIT, AUTOMATIC, COMBINED)

BUILTIN = "builtin"
INTEGRATION_TYPES = (BUILTIN,)


class ConfigError(ValueError):
    """AGENT_CONFIG_JSON is malformed: `field` names the offending key (dotted for nested keys)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class ModelCapabilities:
    """What the catalog allows for the agent's model (policy, seeded from `bedrock.facts`)."""

    supports_prompt_caching: bool = False
    cache_min_tokens: int | None = None
    cache_max_checkpoints: int = MAX_CHECKPOINTS
    # Always in Bedrock's prefix order (CACHE_FIELD_ORDER), without duplicates.
    cache_fields: tuple[str, ...] = ()
    supports_tool_use: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "supports_prompt_caching": self.supports_prompt_caching,
            "cache_min_tokens": self.cache_min_tokens,
            "cache_max_checkpoints": self.cache_max_checkpoints,
            "cache_fields": list(self.cache_fields),
            "supports_tool_use": self.supports_tool_use,
        }


@dataclass(frozen=True)
class Integration:
    """One tool the agent may call. Only `builtin` integrations exist (see `agents_app.runtime.tools`)."""

    name: str
    type: str = BUILTIN

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name}


@dataclass(frozen=True)
class AgentConfig:
    system_prompt: str
    model_id: str
    max_tokens: int
    model_capabilities: ModelCapabilities
    integrations: tuple[Integration, ...] = ()
    prompt_caching_enabled: bool = False
    cache_strategy: str = COMBINED
    agent_id: str | None = None
    version: int | None = None
    inference_profile_arn: str | None = None

    @property
    def bedrock_model_id(self) -> str:
        """What model calls send as `modelId`: the tenant's inference profile when it has one, else `model_id`."""
        return self.inference_profile_arn or self.model_id

    @classmethod
    def from_json(cls, data: str | bytes | dict[str, Any]) -> AgentConfig:
        """Parse and validate AGENT_CONFIG_JSON (a JSON string or an already-decoded dict)."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise ConfigError("AGENT_CONFIG_JSON", f"is not valid JSON ({exc})") from None
        return _parse_config(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "version": self.version,
            "system_prompt": self.system_prompt,
            "model_id": self.model_id,
            "max_tokens": self.max_tokens,
            "integrations": [integration.to_dict() for integration in self.integrations],
            "prompt_caching_enabled": self.prompt_caching_enabled,
            "cache_strategy": self.cache_strategy,
            "model_capabilities": self.model_capabilities.to_dict(),
            **({"inference_profile_arn": self.inference_profile_arn} if self.inference_profile_arn else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


# --- Validation ----------------------------------------------------------------------------------

_CONFIG_KEYS = {
    "agent_id",
    "version",
    "system_prompt",
    "model_id",
    "max_tokens",
    "integrations",
    "prompt_caching_enabled",
    "cache_strategy",
    "model_capabilities",
    "inference_profile_arn",
}
_CAPABILITY_KEYS = {
    "supports_prompt_caching",
    "cache_min_tokens",
    "cache_max_checkpoints",
    "cache_fields",
    "supports_tool_use",
}
_INTEGRATION_KEYS = {"type", "name"}


def _require_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(name, f"must be an object, not {type(value).__name__}")
    return value


def _reject_unknown(data: dict[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}", f"is not a known key (allowed: {', '.join(sorted(allowed))})")


def _string(value: Any, name: str, *, non_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigError(name, f"must be a string, not {type(value).__name__}")
    if non_empty and not value.strip():
        raise ConfigError(name, "must not be empty")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be true or false, not {value!r}")
    return value


def _int(value: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    # bool is an int subclass; `true` is never a token count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(name, f"must be an integer, not {value!r}")
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(name, f"must be at most {maximum}, got {value}")
    return value


def _parse_capabilities(value: Any) -> ModelCapabilities:
    name = "model_capabilities"
    data = _require_object(value, name)
    _reject_unknown(data, _CAPABILITY_KEYS, f"{name}.")
    if "supports_prompt_caching" not in data:
        raise ConfigError(f"{name}.supports_prompt_caching", "is required")
    supports = _bool(data["supports_prompt_caching"], f"{name}.supports_prompt_caching")

    min_tokens = data.get("cache_min_tokens")
    if min_tokens is not None:
        min_tokens = _int(min_tokens, f"{name}.cache_min_tokens", minimum=1)

    max_checkpoints = _int(
        data.get("cache_max_checkpoints", MAX_CHECKPOINTS),
        f"{name}.cache_max_checkpoints",
        minimum=0,
        maximum=MAX_CHECKPOINTS,
    )

    fields = data.get("cache_fields", [])
    if not isinstance(fields, list | tuple):
        raise ConfigError(f"{name}.cache_fields", f"must be a list, not {type(fields).__name__}")
    for item in fields:
        if item not in CACHE_FIELD_ORDER:
            raise ConfigError(f"{name}.cache_fields", f"{item!r} is not one of {', '.join(CACHE_FIELD_ORDER)}")
    if len(set(fields)) != len(fields):
        raise ConfigError(f"{name}.cache_fields", "lists a field twice")

    return ModelCapabilities(
        supports_prompt_caching=supports,
        cache_min_tokens=min_tokens,
        cache_max_checkpoints=max_checkpoints,
        cache_fields=tuple(f for f in CACHE_FIELD_ORDER if f in fields),
        supports_tool_use=_bool(data.get("supports_tool_use", True), f"{name}.supports_tool_use"),
    )


def parse_integrations(value: Any) -> tuple[Integration, ...]:
    # Imported here: tools.py imports strands, and the known names live with the tools.
    from .tools import BUILTIN_TOOLS

    if not isinstance(value, list | tuple):
        raise ConfigError("integrations", f"must be a list, not {type(value).__name__}")
    integrations: list[Integration] = []
    for index, item in enumerate(value):
        prefix = f"integrations[{index}]"
        data = _require_object(item, prefix)
        _reject_unknown(data, _INTEGRATION_KEYS, f"{prefix}.")
        kind = _string(data.get("type", BUILTIN), f"{prefix}.type")
        if kind not in INTEGRATION_TYPES:
            supported = ", ".join(INTEGRATION_TYPES)
            raise ConfigError(f"{prefix}.type", f"{kind!r} is not supported (supported: {supported})")
        if "name" not in data:
            raise ConfigError(f"{prefix}.name", "is required")
        tool_name = _string(data["name"], f"{prefix}.name")
        if tool_name not in BUILTIN_TOOLS:
            raise ConfigError(
                f"{prefix}.name", f"unknown integration {tool_name!r} (known: {', '.join(sorted(BUILTIN_TOOLS))})"
            )
        if any(existing.name == tool_name for existing in integrations):
            raise ConfigError(f"{prefix}.name", f"{tool_name!r} is listed twice")
        integrations.append(Integration(name=tool_name, type=kind))
    return tuple(integrations)


def _parse_config(value: Any) -> AgentConfig:
    data = _require_object(value, "AGENT_CONFIG_JSON")
    _reject_unknown(data, _CONFIG_KEYS, "")
    for required in ("system_prompt", "model_id", "max_tokens", "model_capabilities"):
        if required not in data:
            raise ConfigError(required, "is required")

    strategy = data.get("cache_strategy", COMBINED)
    if strategy not in CACHE_STRATEGIES:
        raise ConfigError("cache_strategy", f"{strategy!r} is not one of {', '.join(CACHE_STRATEGIES)}")

    agent_id = data.get("agent_id")
    if agent_id is not None:
        # Database primary keys arrive as numbers; keep the metadata a string either way.
        if isinstance(agent_id, int) and not isinstance(agent_id, bool):
            agent_id = str(agent_id)
        agent_id = _string(agent_id, "agent_id")
    version = data.get("version")
    if version is not None:
        version = _int(version, "version", minimum=0)
    profile_arn = data.get("inference_profile_arn")
    if profile_arn is not None:
        profile_arn = _string(profile_arn, "inference_profile_arn").strip()
        if not APPLICATION_PROFILE_ARN.fullmatch(profile_arn):
            raise ConfigError("inference_profile_arn", "must be an application inference profile ARN")

    return AgentConfig(
        system_prompt=_string(data["system_prompt"], "system_prompt"),
        model_id=_string(data["model_id"], "model_id").strip(),
        max_tokens=_int(data["max_tokens"], "max_tokens", minimum=1),
        model_capabilities=_parse_capabilities(data["model_capabilities"]),
        integrations=parse_integrations(data.get("integrations", [])),
        prompt_caching_enabled=_bool(data.get("prompt_caching_enabled", False), "prompt_caching_enabled"),
        cache_strategy=strategy,
        agent_id=agent_id,
        version=version,
        inference_profile_arn=profile_arn,
    )
