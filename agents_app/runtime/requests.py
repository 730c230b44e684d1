"""The Converse requests a stored conversation made, rebuilt as Strands 1.62 formats them, without checkpoints.

A what-if replay of an agent's history needs every model call's request: the
head (tool definitions, then the system prompt, as `build_agent` hands them to
Strands) and the conversation up to the call. Strands' own formatting is used
(`BedrockModel.format_request`, the registry's normalised tool specs), so the
rebuilt requests hold the bytes Bedrock was sent, minus the checkpoints, which
the replay places itself. Which checkpoints each strategy gets comes from
`checkpoint_plan`, as for a live turn.

A stored turn (an invocation) starts at a user message holding text and runs
to the next one; each assistant message in it is the reply of one model call,
whose request was the conversation up to that message.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from typing import Any

import boto3
from strands.models import BedrockModel
from strands.tools.registry import ToolRegistry

from bedrock.facts import MESSAGES, SYSTEM, TOOLS
from bedrock.replay import prefix_identity

from .checkpoints import checkpoint_plan
from .config import CACHE_STRATEGIES, AgentConfig
from .tools import tools_for

# Formatting needs a model object, never a call: any region does.
_FORMAT_REGION = "us-east-1"
_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _formatter(model_id: str) -> BedrockModel:
    with _lock:
        return BedrockModel(model_id=model_id, boto_session=boto3.Session(region_name=_FORMAT_REGION))


def has_tools(config: AgentConfig) -> bool:
    """Whether the agent's requests carry tool definitions (as `build_agent` decides)."""
    return bool(config.integrations) and config.model_capabilities.supports_tool_use


def tool_specs(config: AgentConfig) -> list[dict[str, Any]]:
    """The tool specs Strands sends for the config's integrations, normalised by its registry, in config order."""
    if not has_tools(config):
        return []
    registry = ToolRegistry()
    registry.process_tools(tools_for(config.integrations))
    return registry.get_all_tool_specs()


def conversation_request(config: AgentConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The request Strands sends with the whole of `messages`, without checkpoints: `system`, `toolConfig`
    (when there are tools) and `messages`, formatted as Bedrock receives them."""
    model = _formatter(config.model_id)
    request = model.format_request(
        messages, tool_specs=tool_specs(config) or None, system_prompt_content=[{"text": config.system_prompt}]
    )
    kept = {"system": request.get("system") or [], "messages": request.get("messages") or []}
    if request.get("toolConfig"):
        kept["toolConfig"] = {"tools": request["toolConfig"]["tools"]}
    return kept


def request_head(config: AgentConfig) -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """The system blocks and tool entries every request of the config starts with (no checkpoints)."""
    request = conversation_request(config, [])
    return tuple(request["system"]), tuple((request.get("toolConfig") or {}).get("tools") or ())


@functools.lru_cache(maxsize=256)
def _identity(config_json: str) -> str:
    config = AgentConfig.from_json(config_json)
    system, tools = request_head(config)
    return prefix_identity(config.model_id, system, tools)


def config_identity(config: AgentConfig) -> str:
    """What the cache keys a config's shared prefix by (model, tools, system prompt): a change means a new prefix."""
    return _identity(config.to_json())


def strategy_fields(config: AgentConfig) -> dict[str, tuple[str, ...]]:
    """For each strategy, the checkpoint fields the runtime would send with caching on (the catalog's policy)."""
    tools = has_tools(config)
    fields = {}
    for strategy in CACHE_STRATEGIES:
        plan = checkpoint_plan(dataclasses.replace(config, prompt_caching_enabled=True, cache_strategy=strategy), tools)
        fields[strategy] = tuple(f for f in (TOOLS, SYSTEM, MESSAGES) if plan[f])
    return fields


def actual_strategy(config: AgentConfig) -> str | None:
    """The strategy a turn with this config ran with, or None when it sent no checkpoint."""
    plan = checkpoint_plan(config, has_tools(config))
    return config.cache_strategy if plan["caching_enabled"] else None


def oracle_fields(config: AgentConfig) -> tuple[str, ...]:
    """Where the catalog lets any placement put a checkpoint for this config's model."""
    caps = config.model_capabilities
    if not caps.supports_prompt_caching:
        return ()
    return tuple(f for f in caps.cache_fields if f != TOOLS or has_tools(config))


def turn_calls(messages: list[dict[str, Any]]) -> list[list[int]]:
    """Each stored turn of a formatted conversation, as the message counts of its model calls' requests."""
    turns: list[list[int]] = []
    for index, message in enumerate(messages):
        content = message.get("content") or []
        if message.get("role") == "user" and any("text" in block for block in content):
            turns.append([])
        elif message.get("role") == "assistant" and turns:
            turns[-1].append(index)
    return turns


def turn_prompt(messages: list[dict[str, Any]], calls: list[int]) -> str:
    """The text of the user message that opened a turn (the invocation's prompt)."""
    opening = messages[calls[0] - 1] if calls else {}
    return "".join(block["text"] for block in opening.get("content") or [] if "text" in block)
