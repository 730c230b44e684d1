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
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotocoreConfig
from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.event_loop._retry import ModelRetryStrategy
from strands.models import BedrockModel
from strands.models.model import CacheConfig

from bedrock.facts import MESSAGES, SYSTEM, TOOLS

from .checkpoints import checkpoint_plan, strip_cache_points
from .config import AgentConfig
from .tools import tools_for

logger = logging.getLogger("agents_app.runtime")

DEFAULT_REGION = "us-east-1"
# The whole session is the agent's memory, up to this many messages: Strands' default window (40)
# would drop the oldest turns from the stored conversation after 20 turns and move the cached
# prefix every turn. A conversation that outgrows the model's context is still trimmed by Strands.
HISTORY_WINDOW_MESSAGES = 1000


@dataclass
class BuiltAgent:
    agent: Agent
    warnings: list[str]
    # What `checkpoint_plan` decided; `plan["caching_enabled"]` is the effective setting.
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def caching_enabled(self) -> bool:
        return bool(self.plan.get("caching_enabled"))


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


_sessions = threading.local()


def boto_session() -> boto3.Session:
    """One boto3 session per thread and region, reused turn after turn.

    A new session per turn cost about 60 ms and left garbage that cost as much
    again in collector pauses (bench/RESULTS.md). Sessions are not thread-safe,
    hence one per thread. The endpoint is still read from the environment each
    time Strands creates its client.
    """
    current = region()
    cached = getattr(_sessions, "by_region", None)
    if cached is None:
        cached = _sessions.by_region = {}
    if current not in cached:
        cached[current] = boto3.Session(region_name=current)
    return cached[current]


def model_options(plan: dict[str, Any]) -> dict[str, Any]:
    """The caching keyword arguments for `BedrockModel`, from a checkpoint plan."""
    if plan[MESSAGES]:
        return {"cache_config": CacheConfig(strategy="anthropic", system_prompt_ttl=False, tools_ttl=plan[TOOLS])}
    if plan[TOOLS]:
        return {"cache_tools": "default"}
    return {}


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

    model_kwargs: dict[str, Any] = {
        "model_id": config.model_id,
        "max_tokens": config.max_tokens,
        "streaming": True,
        "boto_session": boto_session(),
        **model_options(plan),
    }
    if boto_client_config is not None:
        model_kwargs["boto_client_config"] = boto_client_config
    # No endpoint_url: boto3 reads AWS_ENDPOINT_URL_BEDROCK_RUNTIME itself (the local emulator in dev).
    model = BedrockModel(**model_kwargs)

    agent = Agent(
        model=model,
        system_prompt=system_prompt_blocks(config, plan),
        tools=all_tools,
        messages=strip_cache_points(messages),
        callback_handler=callback_handler,
        retry_strategy=retry_strategy,
        conversation_manager=SlidingWindowConversationManager(window_size=HISTORY_WINDOW_MESSAGES),
    )
    return BuiltAgent(agent=agent, warnings=warnings, plan=plan)
