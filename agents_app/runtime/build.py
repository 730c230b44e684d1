"""Build a caching-aware Strands agent from an `AgentConfig`.

How each planned checkpoint maps onto Strands 1.62 options (read in
`strands/models/bedrock.py`; nothing here rewrites requests by hand):

- system: the system prompt is passed as `[{"text": ...}, {"cachePoint": {"type": "default"}}]`.
  This is the only system option that works without a `CacheConfig`
  (`format_request` sends system blocks as written), and explicit caching must
  not have one: every `CacheConfig` whose strategy resolves to "anthropic" also
  injects a messages checkpoint (`_format_bedrock_messages` has no switch to
  turn that off). When a `CacheConfig` is present, `system_prompt_ttl=False`
  keeps Strands from adding a second system checkpoint of its own.
- messages: `CacheConfig(strategy="anthropic", system_prompt_ttl=False, tools_ttl=<plan>)`.
  "anthropic" rather than "auto": "auto" resolves to no caching for any id
  without "claude"/"anthropic" in it (a catalog-enabled Nova would silently
  lose its checkpoint), and the decision whether the model can cache was
  already made from the catalog. Strands puts the checkpoint at the end of the
  newest user message of a copy of the request, and strips any other message
  checkpoint from that copy; `agent.messages` is never touched.
- tools: with a `CacheConfig`, `tools_ttl=True` (the non-deprecated option).
  Without one (explicit strategy), the only 1.62 option is the deprecated
  model-level `cache_tools="default"`; it emits a DeprecationWarning, which
  Python hides outside `__main__`.

Through a tenant's application inference profile (`config.inference_profile_arn`)
the ARN is the `modelId`. Strands reads the model's vendor from the id, which
an ARN does not name: "anthropic" (never "auto") keeps the messages
checkpoint, and `include_tool_result_status` is set from the catalog's model
id, so the request is the one the plain id would send.

Every span Strands makes for the turn carries the invocation's ids
(`context.trace_attributes`, Strands' own `trace_attributes` option).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config as BotocoreConfig
from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.event_loop._retry import ModelRetryStrategy
from strands.models import BedrockModel
from strands.models.model import CacheConfig

from bedrock.facts import MESSAGES, SYSTEM, TOOLS

from .checkpoints import checkpoint_plan, strip_cache_points
from .clients import SharedClientSession, bedrock_client
from .config import AgentConfig
from .context import trace_attributes
from .tools import tools_for

logger = logging.getLogger("agents_app.runtime")

# The whole session is the agent's memory, up to this many messages: Strands' default window (40)
# would drop the oldest turns from the stored conversation after 20 turns and move the cached
# prefix every turn. A conversation that outgrows the model's context is still trimmed by Strands.
HISTORY_WINDOW_MESSAGES = 1000
# Models kept for reuse (one per distinct model settings and client); the oldest is dropped beyond this.
MAX_MODELS = 256


@dataclass
class BuiltAgent:
    agent: Agent
    warnings: list[str]
    # What `checkpoint_plan` decided; `plan["caching_enabled"]` is the effective setting.
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def caching_enabled(self) -> bool:
        return bool(self.plan.get("caching_enabled"))


def model_options(plan: dict[str, Any]) -> dict[str, Any]:
    """The caching keyword arguments for `BedrockModel`, from a checkpoint plan."""
    if plan[MESSAGES]:
        return {"cache_config": CacheConfig(strategy="anthropic", system_prompt_ttl=False, tools_ttl=plan[TOOLS])}
    if plan[TOOLS]:
        return {"cache_tools": "default"}
    return {}


_models_lock = threading.Lock()
_models: OrderedDict[tuple, BedrockModel] = OrderedDict()


def bedrock_model(config: AgentConfig, plan: dict[str, Any], boto_client_config: BotocoreConfig | None) -> BedrockModel:
    """The `BedrockModel` for these settings on the process's shared client, built once and reused.

    A model holds settings and the client, never conversation state, so concurrent turns may share it.
    """
    client = bedrock_client(boto_client_config)
    options = model_options(plan)
    if config.inference_profile_arn:
        options["include_tool_result_status"] = "anthropic.claude" in config.model_id
    key = (config.bedrock_model_id, config.max_tokens, repr(sorted(options.items())), id(client))
    model = _models.get(key)
    if model is not None and model.client is client:
        return model
    # No endpoint_url: the shared client took AWS_ENDPOINT_URL_BEDROCK_RUNTIME from the environment.
    model = BedrockModel(
        model_id=config.bedrock_model_id,
        max_tokens=config.max_tokens,
        streaming=True,
        boto_session=SharedClientSession(client),
        **options,
    )
    with _models_lock:
        _models[key] = model
        while len(_models) > MAX_MODELS:
            _models.popitem(last=False)
    return model


def system_prompt_blocks(config: AgentConfig, plan: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"text": config.system_prompt}]
    if plan[SYSTEM]:
        blocks.append({"cachePoint": {"type": "default"}})
    return blocks


def build_agent(
    config: AgentConfig,
    *,
    messages: list[dict[str, Any]] | None = None,
    tools: list[Any] | None = None,
    callback_handler: Any = None,
    boto_client_config: BotocoreConfig | None = None,
    retry_strategy: ModelRetryStrategy | None = None,
) -> BuiltAgent:
    """A Strands agent for `config`, holding the given conversation (stripped of checkpoints).

    `tools` are extra Strands tools added after the config's integrations.
    `boto_client_config` sets botocore's retries and timeouts. `retry_strategy`
    is Strands' own retry of throttled calls; None (the default) turns it off,
    so the caller (a Celery task, using `is_retryable`) owns retries instead of
    sleeping through Strands' 4 s .. 64 s backoff inside a worker.
    """
    caps = config.model_capabilities
    all_tools = tools_for(config.integrations) + list(tools or [])
    warnings: list[str] = []
    if all_tools and not caps.supports_tool_use:
        names = ", ".join(getattr(t, "tool_name", None) or getattr(t, "__name__", "?") for t in all_tools)
        warnings.append(f"{config.model_id} does not support tool use; running without tools ({names}).")
        all_tools = []

    plan = checkpoint_plan(config, has_tools=bool(all_tools))
    warnings.extend(plan["warnings"])
    for message in warnings:
        logger.warning("agent_id=<%s>, model_id=<%s> | %s", config.agent_id, config.model_id, message)

    agent = Agent(
        model=bedrock_model(config, plan, boto_client_config),
        system_prompt=system_prompt_blocks(config, plan),
        tools=all_tools,
        messages=strip_cache_points(messages),
        callback_handler=callback_handler,
        retry_strategy=retry_strategy,
        conversation_manager=SlidingWindowConversationManager(window_size=HISTORY_WINDOW_MESSAGES),
        trace_attributes=trace_attributes(),
    )
    return BuiltAgent(agent=agent, warnings=warnings, plan=plan)
